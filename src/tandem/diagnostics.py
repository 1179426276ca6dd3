"""The diagnostic endpoint ``tandem verify`` asks what Django sees: client address, scheme, headers.

Off unless a token is configured (``TANDEM = {"DIAGNOSTIC_TOKEN": ...}``, ``TANDEM_DIAGNOSTIC_TOKEN`` or
``tandem serve`` with either), and then it answers only ``GET /.tandem/diagnose`` carrying the header
``X-Tandem-Diagnostic: <token>``; any other request passes through untouched, so without the token the path
is whatever the project makes of it (usually a 404). Two ways in:

* under ``tandem serve`` the runtime wrappers put ``DiagnosticASGI``/``DiagnosticWSGI`` around the project;
* in a hand-built deployment, add ``path(".tandem/diagnose", tandem.diagnostics.diagnose_view)`` to urls.py.

Requests carrying the valid token also get an ``X-Tandem-Served-By`` response header from the wrappers, so
``verify`` can tell a file the app server answered from one the proxy served.
"""

from __future__ import annotations

import hmac
import io
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

DIAGNOSE_PATH = "/.tandem/diagnose"
TOKEN_HEADER = "X-Tandem-Diagnostic"
SERVED_BY_HEADER = "X-Tandem-Served-By"
# Never echoed back: credentials, and the token itself.
_SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", TOKEN_HEADER.lower()})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def token_matches(given: str | None, token: str | None) -> bool:
    if not token or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def report(request: HttpRequest, server: str, server_address: object = None) -> dict[str, Any]:
    """What Django sees for this request: the values its views and middleware would use."""
    headers = {name: value for name, value in request.headers.items() if name.lower() not in _SECRET_HEADERS}
    return {
        "server": server,
        "remote_addr": request.META.get("REMOTE_ADDR"),
        "scheme": request.scheme,
        "is_secure": request.is_secure(),
        "server_address": server_address,
        "headers": headers,
        "pid": os.getpid(),
    }


def _body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True).encode()


class DiagnosticASGI:
    """Answers the diagnostic request; marks responses to token-carrying requests; passes the rest on."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _token(self, scope: Scope) -> bool:
        wanted = TOKEN_HEADER.lower().encode()
        for name, value in scope.get("headers", ()):
            if name == wanted:
                return token_matches(value.decode("latin-1"), self.token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not self._token(scope):
            await self.app(scope, receive, send)
            return
        if scope.get("path") == DIAGNOSE_PATH and scope.get("method") == "GET":
            from django.core.handlers.asgi import ASGIRequest

            request = ASGIRequest(scope, io.BytesIO())
            server = scope.get("server")
            body = _body(report(request, "asgi", list(server) if server else None))
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                        (SERVED_BY_HEADER.lower().encode(), b"asgi"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def marked(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", ()),
                    (SERVED_BY_HEADER.lower().encode(), b"asgi"),
                ]
            await send(message)

        await self.app(scope, receive, marked)


class DiagnosticWSGI:
    """The WSGI counterpart; sits inside tandem's WSGI wrapper, so it sees the address Django sees."""

    def __init__(self, app: WSGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header_key = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")
        if not token_matches(environ.get(header_key), self.token):
            return self.app(environ, start_response)
        if environ.get("PATH_INFO") == DIAGNOSE_PATH and environ.get("REQUEST_METHOD") == "GET":
            from django.core.handlers.wsgi import WSGIRequest

            body = _body(report(WSGIRequest(environ), "wsgi"))
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                    (SERVED_BY_HEADER, "wsgi"),
                ],
            )
            return [body]

        def marked(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, (SERVED_BY_HEADER, "wsgi")], *args)

        return self.app(environ, marked)


def wrap_asgi(app: ASGIApp, token: str | None) -> ASGIApp:
    return DiagnosticASGI(app, token) if token else app


def wrap_wsgi(app: WSGIApp, token: str | None) -> WSGIApp:
    return DiagnosticWSGI(app, token) if token else app


def configured_token() -> str | None:
    """The token from settings.TANDEM / TANDEM_DIAGNOSTIC_TOKEN, or None (also when the options are invalid)."""
    from django.conf import settings

    from tandem.config import resolve_config
    from tandem.errors import TandemError

    tandem_settings = getattr(settings, "TANDEM", None) or {}
    try:
        # The view is an entry point, like the CLI: it reads the environment here and nowhere deeper.
        return resolve_config({}, os.environ, tandem_settings).diagnostic_token
    except (TandemError, TypeError, AttributeError):
        return None


def diagnose_view(request: HttpRequest) -> HttpResponse:
    """For hand-built deployments: ``path(".tandem/diagnose", diagnose_view)``. A 404 unless the token
    is configured and the request carries it."""
    from django.http import Http404, JsonResponse

    if request.method != "GET" or not token_matches(request.headers.get(TOKEN_HEADER), configured_token()):
        raise Http404("not found")
    from django.core.handlers.asgi import ASGIRequest

    server = request.scope.get("server") if isinstance(request, ASGIRequest) else None
    is_asgi = isinstance(request, ASGIRequest)
    response = JsonResponse(report(request, "asgi" if is_asgi else "wsgi", list(server) if server else None))
    response["Cache-Control"] = "no-store"
    return response
