"""Application checks: ASGI/WSGI applications set and importable, daphne's place in INSTALLED_APPS,
the installed Daphne's version."""

from __future__ import annotations

import re
from importlib import metadata

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.messages import finding

# 4.2.2 bounds WebSocket message and frame sizes (CVE-2026-44545) and refuses header smuggling on the
# upgrade path (CVE-2026-44546).
DAPHNE_MINIMUM = (4, 2, 2)


def parse_version(text: str) -> tuple[int, ...]:
    """The numeric release of a version string: "4.2.2rc1" -> (4, 2, 2), "4.1" -> (4, 1, 0)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    if not match:
        return ()
    numbers = tuple(int(part) for part in match.group(1).split("."))
    return numbers + (0,) * (3 - len(numbers)) if len(numbers) < 3 else numbers


def is_prerelease(text: str) -> bool:
    return bool(re.search(r"\d(a|b|rc|dev|\.dev)\d*", text))


def _source(source: str) -> str:
    if source == "default":
        return "tandem's default: <settings package>.asgi/.wsgi, as no setting names it"
    return f"from {source}"


def _import_error(code: str, kind: str, ctx: CheckContext, why: str) -> CheckMessage:
    setting = f"{kind.upper()}_APPLICATION"
    path, source = ctx.app_path(kind)
    shown = path or "?"
    hint = (
        f"fix the error in {shown.partition(':')[0]}, or point settings.{setting} at your project's "
        f"{kind} application (e.g. {setting} = 'mysite.{kind}.application')"
    )
    if code == "W013":
        hint += "; only split mode serves it (through Gunicorn), or give the one to serve with --wsgi"
    elif kind == "asgi":
        hint += (
            "; an application that works under runserver but not here usually imports models (or code that "
            "does) before get_asgi_application(): call get_asgi_application() first, then import the routing"
        )
    return finding(
        code,
        f"the {kind.upper()} application {shown} ({_source(source)}) cannot be imported {why}: "
        f"{ctx.import_error(kind)}",
        hint,
        f"settings.{setting}",
    )


FRESH = "the way the server imports it (a fresh process, no django.setup() before)"


def check_asgi_importable(ctx: CheckContext) -> list[CheckMessage]:
    """E004: Daphne serves in both modes, so the ASGI application must import, as Daphne imports it."""
    return [_import_error("E004", "asgi", ctx, FRESH)] if ctx.import_error("asgi") else []


def check_wsgi_importable(ctx: CheckContext) -> list[CheckMessage]:
    """E005: Gunicorn serves the WSGI application in split mode, so it must import there. W013: in unified
    mode nothing serves it, so a broken one is a warning (it breaks split mode and other WSGI servers)."""
    if ctx.import_error("wsgi") is None:
        return []
    if ctx.mode == "split":
        return [_import_error("E005", "wsgi", ctx, FRESH)]
    _, source = ctx.app_path("wsgi")
    if source == "default" and ctx.app_missing("wsgi"):
        return []  # no wsgi module and nothing names one: unified mode never needs it
    return [_import_error("W013", "wsgi", ctx, "(unified mode does not serve it)")]


def check_app_settings(ctx: CheckContext) -> list[CheckMessage]:
    """W002: ASGI_APPLICATION (or, in split mode, WSGI_APPLICATION) not set: tandem has to guess."""
    found = []
    kinds = ("asgi", "wsgi") if ctx.mode == "split" else ("asgi",)
    for kind in kinds:
        setting = f"{kind.upper()}_APPLICATION"
        path, source = ctx.app_path(kind)
        if source != "default" or path is None:
            continue
        found.append(
            finding(
                "W002",
                f"settings.{setting} is not set: tandem guesses {path}, and Channels/Daphne's runserver need it",
                f"add {setting} = '{path.replace(':', '.')}' to your settings",
                f"settings.{setting}",
            )
        )
    return found


def _app_label(entry: str) -> str:
    """The dotted app module of an INSTALLED_APPS entry ('daphne', 'x.apps.XConfig' -> 'x')."""
    return entry.split(".apps.", 1)[0] if ".apps." in entry else entry


def check_daphne_first(ctx: CheckContext) -> list[CheckMessage]:
    """W001: 'daphne' installed as an app after 'django.contrib.staticfiles', so `manage.py runserver` is
    staticfiles' (WSGI) command, not Daphne's: Django takes a command from the first app that defines it."""
    apps = [_app_label(str(app)) for app in getattr(ctx.settings, "INSTALLED_APPS", ()) or ()]
    if "daphne" not in apps or "django.contrib.staticfiles" not in apps:
        return []
    daphne, staticfiles = apps.index("daphne"), apps.index("django.contrib.staticfiles")
    if daphne < staticfiles:
        return []
    return [
        finding(
            "W001",
            f"'daphne' is in INSTALLED_APPS at position {daphne + 1}, after 'django.contrib.staticfiles' "
            f"(position {staticfiles + 1}): manage.py runserver runs staticfiles' WSGI command, not "
            "Daphne's ASGI one, so WebSockets do not work under runserver",
            "move 'daphne' above 'django.contrib.staticfiles' in INSTALLED_APPS (Channels' docs put it first)",
            "settings.INSTALLED_APPS",
        )
    ]


def check_daphne_version(ctx: CheckContext) -> list[CheckMessage]:
    """E010: Daphne missing, or older than 4.2.2."""
    wanted = ".".join(map(str, DAPHNE_MINIMUM))
    try:
        installed = metadata.version("daphne")
    except metadata.PackageNotFoundError:
        return [
            finding(
                "E010",
                "Daphne is not installed: tandem serves WebSockets (and unified HTTP) with it",
                f"pip install 'daphne>={wanted}'",
                "daphne",
            )
        ]
    numbers = parse_version(installed)
    if numbers and (numbers > DAPHNE_MINIMUM or (numbers == DAPHNE_MINIMUM and not is_prerelease(installed))):
        return []
    return [
        finding(
            "E010",
            f"Daphne {installed} is older than {wanted}: unbounded WebSocket message and frame sizes "
            "(CVE-2026-44545) and header smuggling on the upgrade path (CVE-2026-44546)",
            f"pip install --upgrade 'daphne>={wanted}'",
            "daphne",
        )
    ]
