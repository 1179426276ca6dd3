"""Application checks: ASGI/WSGI applications set and importable, daphne's place in INSTALLED_APPS,
the installed Daphne's version."""

from __future__ import annotations

import re
from importlib import metadata

from django.core.checks import CheckMessage

from tandem.checks.context import AppImport, CheckContext
from tandem.checks.messages import error, warning

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


def _import_error(number: int, kind: str, imported: AppImport) -> CheckMessage:
    setting = f"{kind.upper()}_APPLICATION"
    return error(
        number,
        f"the {kind.upper()} application {imported.path} ({_source(imported.source)}) cannot be imported: "
        f"{imported.error}",
        f"fix the error in {imported.path.partition(':')[0]}, or point settings.{setting} at your project's "
        f"{kind} application (e.g. {setting} = 'mysite.{kind}.application')",
        f"settings.{setting}",
    )


def check_asgi_importable(ctx: CheckContext) -> list[CheckMessage]:
    """E004: Daphne serves in both modes, so the ASGI application must import."""
    return [_import_error(4, "asgi", ctx.asgi)] if ctx.asgi.error else []


def check_wsgi_importable(ctx: CheckContext) -> list[CheckMessage]:
    """E005: Gunicorn needs the WSGI application in split mode; a set WSGI_APPLICATION must import anyway."""
    _, source = ctx.app_path("wsgi")
    if ctx.mode != "split" and source == "default":
        return []  # unified mode never runs WSGI, and nothing names a WSGI application
    return [_import_error(5, "wsgi", ctx.wsgi)] if ctx.wsgi.error else []


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
            warning(
                2,
                f"settings.{setting} is not set: tandem guesses {path}, and Channels/Daphne's runserver need it",
                f"add {setting} = '{path.replace(':', '.')}' to your settings",
                f"settings.{setting}",
            )
        )
    return found


def check_daphne_first(ctx: CheckContext) -> list[CheckMessage]:
    """W001: 'daphne' installed as an app but not first, so staticfiles' runserver wins over Daphne's."""
    apps = [str(app) for app in getattr(ctx.settings, "INSTALLED_APPS", ()) or ()]
    positions = [i for i, app in enumerate(apps) if app == "daphne" or app.startswith("daphne.")]
    if not positions or positions[0] == 0:
        return []
    return [
        warning(
            1,
            f"'daphne' is in INSTALLED_APPS at position {positions[0] + 1}, after '{apps[0]}': its runserver "
            "command is shadowed (django.contrib.staticfiles' wins), so manage.py runserver is not ASGI",
            "move 'daphne' to the top of INSTALLED_APPS",
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
            error(
                10,
                "Daphne is not installed: tandem serves WebSockets (and unified HTTP) with it",
                f"pip install 'daphne>={wanted}'",
                "daphne",
            )
        ]
    numbers = parse_version(installed)
    if numbers and (numbers > DAPHNE_MINIMUM or (numbers == DAPHNE_MINIMUM and not is_prerelease(installed))):
        return []
    return [
        error(
            10,
            f"Daphne {installed} is older than {wanted}: unbounded WebSocket message and frame sizes "
            "(CVE-2026-44545) and header smuggling on the upgrade path (CVE-2026-44546)",
            f"pip install --upgrade 'daphne>={wanted}'",
            "daphne",
        )
    ]
