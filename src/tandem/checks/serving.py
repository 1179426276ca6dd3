"""Serving checks: tandem's options, static files for split mode, persistent database connections under
ASGI, and the proxy read timeout against Daphne's ping interval."""

from __future__ import annotations

from pathlib import Path

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.messages import finding
from tandem.staticfiles import static_sources, uncollected

# Daphne checks whether a socket is due a ping every 2 s (Server.timeout_checker), so an idle socket's
# ping can arrive up to that much after the interval.
DAPHNE_CHECK_PERIOD = 2


def check_config(ctx: CheckContext) -> list[CheckMessage]:
    """E001: tandem's options (settings.TANDEM, TANDEM_* environment, command line) are invalid."""
    if ctx.config_error is None:
        return []
    return [
        finding(
            "E001",
            f"invalid tandem option: {ctx.config_error}",
            "fix the value where it is set: settings.TANDEM, the TANDEM_* environment variable, or the "
            "command line (tandem config shows every value and its source)",
            "settings.TANDEM",
        )
    ]


def _local(url: object) -> bool:
    return bool(url) and not str(url).startswith(("http://", "https://", "//"))


def check_static(ctx: CheckContext) -> list[CheckMessage]:
    """I002: no STATIC_ROOT (serve uses a directory of its own; a deployment needs one); W010: static files
    not collected (or outdated)."""
    static_url = getattr(ctx.settings, "STATIC_URL", None)
    static_root = getattr(ctx.settings, "STATIC_ROOT", None)
    if not _local(static_url):
        return []  # served from elsewhere (a CDN): nothing for tandem's servers to do
    if not static_root:
        if "django.contrib.staticfiles" not in (getattr(ctx.settings, "INSTALLED_APPS", ()) or ()):
            return []
        return [
            finding(
                "I002",
                "STATIC_ROOT is not set: tandem serve collects the static files into a directory of its own "
                f"and serves {static_url} from there; tandem export and any other deployment need a real one",
                "set STATIC_ROOT = BASE_DIR / 'staticfiles' and run python manage.py collectstatic on deploy",
                "settings.STATIC_ROOT",
            )
        ]
    root = Path(str(static_root))
    if "django.contrib.staticfiles" not in (getattr(ctx.settings, "INSTALLED_APPS", ()) or ()):
        return []
    if ctx.serving:
        return []  # serve collects missing or stale files itself, and says so
    missing, outdated = uncollected(root, static_sources())
    if not missing and not outdated:
        return []
    what = (
        f"{len(missing)} static file(s) not collected into {root} (e.g. {missing[0]})"
        if missing
        else f"{len(outdated)} static file(s) changed since the last collectstatic (e.g. {outdated[0]})"
    )
    return [
        finding(
            "W010",
            f"{what}: the server answers 404 (or stale content) for them",
            "run python manage.py collectstatic --noinput as part of every deploy",
            "settings.STATIC_ROOT",
        )
    ]


def _asgi_http(ctx: CheckContext) -> str | None:
    """Why Django's HTTP views run under ASGI in this mode, or None when they all run under WSGI."""
    if ctx.mode == "unified":
        return "in unified mode Daphne serves every HTTP request through Django's ASGI handler"
    prefixes = list(ctx.config.asgi_prefixes if ctx.config else ())
    if prefixes:
        return f"--asgi-prefix sends {', '.join(prefixes)} to Daphne"
    return None


def check_conn_max_age(ctx: CheckContext) -> list[CheckMessage]:
    """W009: persistent connections (CONN_MAX_AGE > 0) with views served under ASGI leak connections."""
    why = _asgi_http(ctx)
    if why is None:
        return []
    databases = getattr(ctx.settings, "DATABASES", {}) or {}
    persistent = []
    for alias, db in databases.items():
        age = db.get("CONN_MAX_AGE", 0) if isinstance(db, dict) else 0
        if age is None or (isinstance(age, int | float) and age > 0):
            persistent.append(f"{alias} ({'unlimited' if age is None else f'{age} s'})")
    if not persistent:
        return []
    return [
        finding(
            "W009",
            f"persistent database connections (CONN_MAX_AGE) on {', '.join(persistent)} while {why}: under "
            "ASGI each request may run its queries in a different thread, and every thread keeps its own "
            "connection open, so connections pile up until the database refuses new ones",
            "set CONN_MAX_AGE = 0 for these databases (use the backend's pool instead, e.g. PostgreSQL "
            "OPTIONS = {'pool': True}), or serve HTTP under WSGI: tandem serve --mode split",
            "settings.DATABASES",
        )
    ]


def check_read_timeout(ctx: CheckContext) -> list[CheckMessage]:
    """E009: the proxy's WebSocket read timeout leaves no room for Daphne's ping to arrive."""
    config = ctx.config
    if config is None:
        return []
    latest = config.ping_interval + DAPHNE_CHECK_PERIOD
    hint = (
        f"raise WS_READ_TIMEOUT above {latest} s (e.g. {max(60, config.ping_interval * 3)}), or leave it unset "
        "so tandem derives it, in settings.TANDEM, TANDEM_WS_READ_TIMEOUT or the command line"
    )
    if ctx.read_timeout_error is not None:
        return [finding("E009", ctx.read_timeout_error, hint, "settings.TANDEM")]
    if config.proxy_read_timeout > latest:
        return []
    return [
        finding(
            "E009",
            f"the proxy's WebSocket read timeout ({config.proxy_read_timeout} s) is not longer than Daphne's "
            f"ping interval ({config.ping_interval} s) plus its {DAPHNE_CHECK_PERIOD} s check period: nginx cuts "
            "idle sockets before the ping that would keep them open arrives",
            hint,
            "settings.TANDEM",
        )
    ]
