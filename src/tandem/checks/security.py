"""Security checks: origin validation on WebSocket routes, ALLOWED_HOSTS, the TLS proxy's scheme header,
CSRF trusted origins for the public origin."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import ParseResult, urlparse

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.messages import finding

_MAX_DEPTH = 32
# Channels middleware that authenticates a socket by the browser's cookies: a socket a foreign page opens
# carries the victim's session, which is what makes cross-site WebSocket hijacking possible.
_COOKIE_MIDDLEWARE = ("CookieMiddleware", "SessionMiddleware", "AuthMiddleware")


@dataclass(frozen=True)
class WebSocketStack:
    """One WebSocket route (or the whole websocket entry) with what wraps it on the way down."""

    pattern: str
    validators: tuple[Any, ...]  # OriginValidator instances in front of it
    cookie_auth: bool

    @property
    def validated(self) -> bool:
        return any("*" not in _allowed(v) for v in self.validators)


def _allowed(validator: object) -> tuple[str, ...]:
    return tuple(str(o) for o in getattr(validator, "allowed_origins", ()) or ())


def _is_origin_validator(app: object) -> bool:
    return any(cls.__name__ == "OriginValidator" for cls in type(app).__mro__) and hasattr(
        app, "valid_origin"
    )


def _is_cookie_middleware(app: object) -> bool:
    return any(
        cls.__name__ in _COOKIE_MIDDLEWARE and cls.__module__.startswith("channels.")
        for cls in type(app).__mro__
    )


def _pattern_text(route: object) -> str:
    pattern = getattr(route, "pattern", None)
    for attr in ("_route", "_regex"):
        value = getattr(pattern, attr, None)
        if isinstance(value, str):
            return value
    return str(pattern)


def websocket_stacks(application: object) -> list[WebSocketStack]:
    """Every WebSocket route with the origin validators and cookie middleware in front of it."""
    from django.core.handlers.asgi import ASGIHandler

    if isinstance(application, ASGIHandler):
        return []  # plain Django (get_asgi_application()): it refuses every WebSocket connection itself
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, Mapping):
        if "websocket" not in mapping:
            return []
        application = mapping["websocket"]
    return list(_walk(application, "", (), False, 0))


def _walk(
    app: object, prefix: str, validators: tuple[Any, ...], cookies: bool, depth: int
) -> Iterator[WebSocketStack]:
    seen: set[int] = set()
    while depth < _MAX_DEPTH and id(app) not in seen:
        seen.add(id(app))
        if _is_origin_validator(app):
            validators = (*validators, app)
        if _is_cookie_middleware(app):
            cookies = True
        routes = getattr(app, "routes", None)
        if not isinstance(app, type) and isinstance(routes, list | tuple):
            for route in routes:
                yield from _walk(
                    getattr(route, "callback", None),
                    prefix + _pattern_text(route),
                    validators,
                    cookies,
                    depth + 1,
                )
            return
        inner = getattr(app, "inner", None) or getattr(app, "application", None)
        if inner is None or isinstance(app, type) or not callable(inner):
            break
        app = inner
    yield WebSocketStack(prefix or "(every WebSocket path)", validators, cookies)


def check_origin_validation(ctx: CheckContext) -> list[CheckMessage]:
    """E006/W004: WebSocket routes no OriginValidator guards (E006 when cookies authenticate the socket)."""
    if ctx.asgi.app is None:
        return []
    stacks = [s for s in websocket_stacks(ctx.asgi.app) if not s.validated]
    found = []
    hint = (
        "wrap the websocket entry of your ProtocolTypeRouter: "
        "'websocket': AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))) "
        "(from channels.security.websocket), with ALLOWED_HOSTS not '*'"
    )
    cookie = [s.pattern for s in stacks if s.cookie_auth]
    plain = [s.pattern for s in stacks if not s.cookie_auth]
    if cookie:
        found.append(
            finding(
                "E006",
                "WebSocket routes authenticated by session cookies accept any Origin: a page on another site "
                f"can open them with the visitor's session (cross-site WebSocket hijacking): {', '.join(cookie)}",
                hint,
                ctx.asgi.path,
            )
        )
    if plain:
        found.append(
            finding(
                "W004",
                f"WebSocket routes accept handshakes from any Origin: {', '.join(plain)}",
                hint,
                ctx.asgi.path,
            )
        )
    return found


def public_origin(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_public_origin_allowed(ctx: CheckContext) -> list[CheckMessage]:
    """E012: an origin validator that refuses the public origin ("WebSocket REJECT" for every browser)."""
    public_url = ctx.config.public_url if ctx.config else None
    if not public_url or ctx.asgi.app is None:
        return []
    origin: ParseResult = urlparse(public_origin(public_url))
    refusing = []
    for stack in websocket_stacks(ctx.asgi.app):
        for validator in stack.validators:
            if not validator.valid_origin(origin):
                refusing.append(f"{stack.pattern} (allows {', '.join(_allowed(validator)) or 'nothing'})")
    if not refusing:
        return []
    return [
        finding(
            "E012",
            f"the WebSocket origin validator refuses the public origin {public_origin(public_url)}: every "
            f"browser handshake is rejected with 403 and Daphne logs only 'WebSocket REJECT': {'; '.join(refusing)}",
            f"add '{origin.hostname}' to ALLOWED_HOSTS (AllowedHostsOriginValidator) or to the OriginValidator's "
            "allowed origins",
            "settings.ALLOWED_HOSTS",
        )
    ]


def check_allowed_hosts(ctx: CheckContext) -> list[CheckMessage]:
    """E007: ALLOWED_HOSTS refuses every request (or the public host); W005: it accepts any Host."""
    from django.http.request import validate_host

    if getattr(ctx.settings, "DEBUG", False):
        return []
    hosts = [str(h) for h in getattr(ctx.settings, "ALLOWED_HOSTS", ()) or ()]
    public_url = ctx.config.public_url if ctx.config else None
    if not hosts:
        return [
            finding(
                "E007",
                "ALLOWED_HOSTS is empty with DEBUG off: Django answers every request with 400 Bad Request",
                "list the host names users reach the site by, e.g. ALLOWED_HOSTS = ['chat.example.com']",
                "settings.ALLOWED_HOSTS",
            )
        ]
    found = []
    if "*" in hosts:
        found.append(
            finding(
                "W005",
                "ALLOWED_HOSTS contains '*' with DEBUG off: any Host header is accepted (password-reset link "
                "poisoning), and AllowedHostsOriginValidator then accepts WebSockets from any site",
                "list the real host names instead of '*', e.g. ALLOWED_HOSTS = ['chat.example.com']",
                "settings.ALLOWED_HOSTS",
            )
        )
    host = urlparse(public_url).hostname if public_url else None
    if host and not validate_host(host, hosts):
        found.append(
            finding(
                "E007",
                f"ALLOWED_HOSTS does not include the public host {host!r}: Django answers its requests with 400",
                f"add '{host}' to ALLOWED_HOSTS",
                "settings.ALLOWED_HOSTS",
            )
        )
    return found


def _django_sees_scheme(ctx: CheckContext) -> bool:
    """Whether Django learns the client's scheme from the proxy in front.

    In unified mode without a proxy SECURE_PROXY_SSL_HEADER does it. Behind tandem's proxy (split mode, or
    unified with one) tandem's children take X-Forwarded-Proto from it (their SECURE_PROXY_SSL_HEADER is set
    to it, tandem.runtime.overrides), which overwrites the header with the scheme it was reached by: https
    when it terminates TLS itself (--tls), or the scheme a --trusted-proxy peer in front says; otherwise
    http, even behind someone else's TLS.
    """
    if ctx.behind_tandem_proxy:
        config = ctx.config
        return config is None or config.tls_on or bool(config.trusted_proxies)
    return bool(getattr(ctx.settings, "SECURE_PROXY_SSL_HEADER", None))


def check_proxy_ssl_header(ctx: CheckContext) -> list[CheckMessage]:
    """W006: https public URL with no SECURE_PROXY_SSL_HEADER; W007: the header is set but nothing in
    front overwrites it, so any client can claim https."""
    header = getattr(ctx.settings, "SECURE_PROXY_SSL_HEADER", None)
    public_url = ctx.config.public_url if ctx.config else None
    https = bool(public_url and public_url.startswith("https://"))
    if https and not _django_sees_scheme(ctx) and ctx.behind_tandem_proxy:
        return [
            finding(
                "W006",
                f"the public URL {public_url} is https, but tandem's proxy speaks plain http and trusts no "
                "proxy in front: it overwrites X-Forwarded-Proto with http, so Django sees http "
                "(request.is_secure() is False, CSRF origin checks fail on POST, SECURE_SSL_REDIRECT loops)",
                "give --trusted-proxy with the address of the TLS proxy in front (its X-Forwarded-Proto is "
                "then believed), or let tandem's proxy terminate TLS (--tls-cert/--tls-key)",
                "--trusted-proxy",
            )
        ]
    if https and not _django_sees_scheme(ctx):
        return [
            finding(
                "W006",
                f"the public URL {public_url} is https but SECURE_PROXY_SSL_HEADER is not set: behind a "
                "TLS-terminating proxy Django sees http (request.is_secure() is False, CSRF origin checks "
                "fail on POST, SECURE_SSL_REDIRECT loops)",
                "set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') and have the proxy set "
                "X-Forwarded-Proto on every request (nginx: proxy_set_header X-Forwarded-Proto $scheme;)",
                "settings.SECURE_PROXY_SSL_HEADER",
            )
        ]
    if not header or https:
        return []
    name = str(header[0]) if isinstance(header, list | tuple) and header else str(header)
    if ctx.behind_tandem_proxy:
        # tandem's children replace the setting with X-Forwarded-Proto, which tandem's proxy overwrites.
        return []
    where = "in unified mode clients reach Daphne directly"
    return [
        finding(
            "W007",
            f"SECURE_PROXY_SSL_HEADER trusts {name}, but nothing in front sets it ({where}): any client can "
            "send it and make Django treat plain http as https",
            "remove SECURE_PROXY_SSL_HEADER, or if a TLS proxy in front overwrites that header, declare the "
            "public address: tandem check --public-url https://... (TANDEM = {'PUBLIC_URL': ...}), or let "
            "tandem run its proxy in front (--tls self-signed, --tls-cert, or --trusted-proxy ADDRESS)",
            "settings.SECURE_PROXY_SSL_HEADER",
        )
    ]


def _trusted(origin: str, trusted: list[str]) -> bool:
    """Django's CsrfViewMiddleware rule: exact origins, or ``scheme://*.domain`` wildcards."""
    from django.utils.http import is_same_domain

    parts = urlparse(origin)
    for entry in trusted:
        if entry == origin:
            return True
        entry_parts = urlparse(entry)
        if (
            "*" in entry
            and entry_parts.scheme == parts.scheme
            and parts.netloc
            and is_same_domain(parts.netloc, entry_parts.netloc.replace("*", "", 1))
        ):
            return True
    return False


def check_csrf_origins(ctx: CheckContext) -> list[CheckMessage]:
    """W008: POSTs from the public origin fail CSRF: Django cannot match the Origin header to the request
    (it sees http behind a TLS proxy) and CSRF_TRUSTED_ORIGINS does not list it."""
    public_url = ctx.config.public_url if ctx.config else None
    if not public_url or not public_url.startswith("https://") or _django_sees_scheme(ctx):
        return []
    origin = public_origin(public_url)
    trusted = [str(o) for o in getattr(ctx.settings, "CSRF_TRUSTED_ORIGINS", ()) or ()]
    if _trusted(origin, trusted):
        return []
    return [
        finding(
            "W008",
            f"CSRF_TRUSTED_ORIGINS does not cover the public origin {origin} and Django sees http behind the "
            "TLS proxy: every form POST fails with 'CSRF verification failed. Origin checking failed'",
            f"add '{origin}' to CSRF_TRUSTED_ORIGINS (or set SECURE_PROXY_SSL_HEADER so Django sees https)",
            "settings.CSRF_TRUSTED_ORIGINS",
        )
    ]


def note_public_url(ctx: CheckContext) -> list[CheckMessage]:
    """I001: without the public URL the checks against it (TLS, CSRF, origin) are skipped."""
    if ctx.config is None or ctx.config.public_url:
        return []
    return [
        finding(
            "I001",
            "no public URL given: the https, CSRF_TRUSTED_ORIGINS and WebSocket-origin checks against the "
            "address users reach were skipped",
            "pass --public-url https://your.site (or TANDEM_PUBLIC_URL, or TANDEM = {'PUBLIC_URL': ...})",
            "settings.TANDEM",
        )
    ]
