"""The ASGI application Daphne runs: the user's app, with tandem's health probe and static files.

``application`` is built on first access (module ``__getattr__``), so importing this module does nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tandem.diagnostics import token_matches, wrap_asgi
from tandem.pythonpath import honour_pythonpath
from tandem.runtime.collector import settle
from tandem.runtime.overrides import apply_overrides, import_app
from tandem.runtime.spec import (
    EDGE_PATH,
    FORWARDING_HEADERS,
    PROBE_HEADER,
    PROBE_PATH,
    PROXY_HEADER,
    RuntimeSpec,
)
from tandem.runtime.threads import PooledThreadsASGI, supported
from tandem.staticheaders import NOSNIFF, cache_control

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ProbeASGI:
    """Answers tandem's liveness probe without touching the user's code; passes everything else on.

    The HTTP answer names the process (pid) and the shared socket it adopted (the socket's inode, set by
    tandem.runtime.daphne): the supervisor's readiness proves each Daphne accepts on the shared socket."""

    shared_inode: int | None = None

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def is_probe(self, scope: Scope) -> bool:
        if scope["type"] not in ("http", "websocket") or scope.get("path") != PROBE_PATH:
            return False
        return any(k == PROBE_HEADER.encode() and v == self.token for k, v in scope.get("headers", ()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_probe(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # The liveness probe for Daphne: a completed handshake proves its event loop runs.
            await receive()
            await send({"type": "websocket.accept"})
            # The prober hangs up once it has read the 101 (tandem.probes): a close frame too late to write
            # is no error (uvicorn would log the RuntimeError with a traceback).
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1000})
            return
        shared = "null" if self.shared_inode is None else str(self.shared_inode)
        body = f'{{"status":"ok","pid":{os.getpid()},"shared":{shared}}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class TrustedProxyASGI:
    """``--internal tcp``: Daphne's port is reachable by any local process, so Daphne runs without
    ``--proxy-headers`` and this wrapper applies X-Real-IP and X-Forwarded-Proto itself, only on requests
    carrying the per-run secret tandem's nginx sends. Other requests lose their forwarding headers (so no
    Django setting acts on them); the secret header is removed from every request."""

    _FORWARDING = frozenset(name.encode() for name in FORWARDING_HEADERS)

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", ()))
        sent = next((v for k, v in headers if k == PROXY_HEADER.encode()), None)
        headers = [(k, v) for k, v in headers if k != PROXY_HEADER.encode()]
        scope = dict(scope)
        matches = sent is not None and token_matches(sent.decode("latin-1"), self.secret)
        if scope["type"] == "http" and scope.get("path") == EDGE_PATH and sent is not None:
            await edge_answer(send, matches)
            return
        if matches:
            found = dict(headers)
            real_ip = found.get(b"x-real-ip", b"").decode("latin-1").strip()
            if real_ip:
                scope["client"] = (real_ip, 0)
            proto = found.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto == "https":
                scope["scheme"] = "wss" if scope["type"] == "websocket" else "https"
        else:
            headers = [(k, v) for k, v in headers if k not in self._FORWARDING]
        scope["headers"] = headers
        await self.app(scope, receive, send)


async def edge_answer(send: Send, matches: bool) -> None:
    """The edge's probe (tandem.edge): whether the secret it sent is this app host's."""
    status, edge = (200, "ok") if matches else (403, "the edge secret differs from this app host's")
    body = f'{{"edge":"{edge}","pid":{os.getpid()}}}'.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class WebSocketSchemeASGI:
    """Behind tandem's proxy on a socket only it reaches: Daphne's ``--proxy-headers`` gives HTTP scopes
    the scheme from X-Forwarded-Proto, but WebSocket scopes none at all (ASGI's default is "ws"). A consumer
    reached over wss sees ``scope["scheme"] == "wss"`` with this."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            proto = next((v for k, v in scope.get("headers", ()) if k == b"x-forwarded-proto"), b"")
            if proto.strip().lower() == b"https":
                scope = {**scope, "scheme": "wss"}
        await self.app(scope, receive, send)


class PrefixASGI:
    """Sends HTTP requests under ``prefix`` to ``matched``, everything else to ``other``."""

    def __init__(self, prefix: str, matched: ASGIApp, other: ASGIApp) -> None:
        self.prefix = prefix
        self.matched = matched
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            await self.matched(scope, receive, send)
        else:
            await self.other(scope, receive, send)


def _nosniff(headers: Any, path: str, url: str) -> None:
    # Uploaded files are the users': a browser must not sniff an "image" into HTML or script (nginx sends
    # the same header for media in split mode).
    headers["X-Content-Type-Options"] = "nosniff"


def _static_headers(headers: Any, path: str, url: str) -> None:
    # The same caching as nginx and Caddy give static files in split mode (tandem.staticheaders): a year,
    # immutable, for hashed names, an hour otherwise; and no sniffing.
    headers["Cache-Control"] = cache_control(url)
    headers["X-Content-Type-Options"] = NOSNIFF


def _with_static(app: ASGIApp, spec: RuntimeSpec) -> ASGIApp:
    from servestatic import ServeStaticASGI

    wrapped: ASGIApp = app
    if spec.media_root and spec.media_url and not spec.media_url.startswith(("http://", "https://", "//")):
        # Uploads appear while the server runs, so media is looked up per request (autorefresh), which
        # costs a thread hop and a stat: only requests under MEDIA_URL pay it.
        os.makedirs(spec.media_root, exist_ok=True)
        media = ServeStaticASGI(
            app,
            root=spec.media_root,
            prefix=spec.media_url,
            autorefresh=True,
            max_age=0,
            add_headers_function=_nosniff,
        )
        wrapped = PrefixASGI(spec.media_url, media, app)
    if spec.static_root and spec.static_url and not spec.static_url.startswith(("http://", "https://", "//")):
        # Collected static files are fixed for the life of the process: indexed once at start, with the
        # .gz/.br siblings tandem wrote after collectstatic (sent by Accept-Encoding, with Vary).
        wrapped = ServeStaticASGI(
            wrapped,
            root=spec.static_root,
            prefix=spec.static_url,
            max_age=3600,
            add_headers_function=_static_headers,
        )
    return wrapped


def build(spec: RuntimeSpec) -> ASGIApp:
    apply_overrides(spec)
    app: ASGIApp = import_app(spec.app)
    if spec.serve_static:
        app = _with_static(app, spec)
    app = wrap_asgi(
        app, spec.diagnostic_token
    )  # outside the static files: it marks what the app server answers
    if spec.trust_proxy and spec.proxy_secret:
        app = TrustedProxyASGI(app, spec.proxy_secret)  # outside the diagnostics, as the WSGI side
    elif spec.trust_proxy:
        app = WebSocketSchemeASGI(app)
    if supported():  # outside everything that may run sync code (static files, diagnostics, the app)
        app = PooledThreadsASGI(app)
    app = ProbeASGI(app, spec.probe_token)
    settle(spec.gc_threshold)  # last: what the import left alive is frozen
    return app


_application: ASGIApp | None = None


def __getattr__(name: str) -> Any:
    global _application
    if name != "application":
        raise AttributeError(name)
    if _application is None:
        honour_pythonpath(os.environ, sys.path)  # before the settings are imported
        _application = build(RuntimeSpec.from_env(os.environ))
    return _application
