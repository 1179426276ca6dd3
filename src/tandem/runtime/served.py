"""The ASGI application servers other than tandem's Daphne run (uvicorn, Gunicorn's ASGI worker).

It is tandem.runtime.asgi's application (probes, static files, diagnostics, the --internal tcp secret)
with what tandem's Daphne does in its own server class and these servers do not:

- the real client address behind tandem's proxy: X-Real-IP, which tandem's nginx and Caddy overwrite on
  every request, becomes the scope's client (the socket is private to the proxy). Daphne gets this from
  ``--proxy-headers``; uvicorn's equivalent trusts a list of peer IPs, which a unix socket does not have.
- the request body limit (413 above ``TANDEM_MAX_BODY_SIZE`` bytes; 0 = none): the proxy enforces it
  first in split mode, and this keeps it in unified mode, where nothing stands in front.
- tandem's access log (uvicorn): one line per request, as tandem's Daphne writes it
  (tandem.runtime.accesslog), with the real client address and the body limit's 413; a WebSocket is one
  WSCONNECT or WSREJECT line at its handshake, with the status uvicorn answered; tandem's probes are left
  out.
- draining: every accepted WebSocket is tracked, so the server's stop (1001, going away) or retirement
  during a reload (1012, service restart) closes each one with a close frame before the server exits.
  Gunicorn's ASGI worker would otherwise drop them without one (clients see 1006).

``application`` is built on first access, so importing this module does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import MutableMapping
from typing import Any

from tandem.runtime.accesslog import DaphneAccessLog, request_target
from tandem.runtime.asgi import ASGIApp, Receive, Scope, Send
from tandem.runtime.spec import PROBE_HEADER

BODY_LIMIT_ENV = "TANDEM_MAX_BODY_SIZE"
REAL_IP_ENV = "TANDEM_REAL_IP"  # "1": behind tandem's proxy on a socket only it reaches
GOING_AWAY = 1001
SERVICE_RESTART = 1012


class RealClientASGI:
    """X-Real-IP from tandem's proxy becomes the client address (split mode on unix sockets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            real = next((v for k, v in scope.get("headers", ()) if k == b"x-real-ip"), b"").strip()
            if real:
                scope = dict(scope)
                scope["client"] = (real.decode("latin-1"), 0)
        await self.app(scope, receive, send)


_LOGGED_HEADERS = {b"referer": "referer", b"user-agent": "user-agent", PROBE_HEADER.encode(): PROBE_HEADER}


class AccessLogASGI:
    """Writes each request's access line through ``log`` once its response is done: status, body bytes
    sent, seconds taken; a WebSocket's line at its handshake (accepted: WSCONNECT 101, refused: WSREJECT with
    the status the client got). Paths are the request target as sent, the rule Daphne's lines follow
    (``request_target``): the same request reads the same under either server."""

    def __init__(self, app: ASGIApp, log: DaphneAccessLog) -> None:
        self.app = app
        self.log = log

    @staticmethod
    def _target(scope: Scope) -> str:
        # uvicorn's raw_path is the path as the client sent it; "path" is decoded (%C3%A9 read as é).
        raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
        return request_target(raw)

    @staticmethod
    def _details(scope: Scope, path: str) -> dict[str, Any]:
        client = scope.get("client")
        return {
            "method": scope.get("method", "GET"),
            "path": path,
            # As Daphne gives it ("ip:port"), or None on a unix socket (tandem's probes' socket).
            "client": f"{client[0]}:{client[1]}" if client else None,
        }

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        found = {"protocol": "HTTP/" + str(scope.get("http_version", "1.1"))}
        for name, value in scope.get("headers", ()):
            key = _LOGGED_HEADERS.get(name)
            if key is not None:
                found[key] = value.decode("latin-1")
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        status: int | None = None
        sent = 0

        async def logging_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            # The request line as the client sent it: the raw path with its query string.
            path = self._target(scope)
            if scope.get("query_string"):
                path += "?" + request_target(scope["query_string"])
            # No response started: the server answers 500 itself (the application failed).
            self.log.entry(
                self._details(scope, path),
                "",
                status if status is not None else 500,
                sent,
                time.monotonic() - started,
                self._headers(scope),
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        logged = False

        def handshake(status: int) -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            verb = "WSCONNECT" if status == 101 else "WSREJECT"
            path = self._target(scope)  # as Daphne logs a WebSocket: the path, without the query
            self.log.entry(
                self._details(scope, path), f"{verb} {path}", status, None, None, self._headers(scope)
            )

        async def logging_send(message: MutableMapping[str, Any]) -> None:
            # What uvicorn answers the handshake with (the first of these the application sends wins).
            if message["type"] == "websocket.accept":
                handshake(101)
            elif message["type"] == "websocket.close":
                handshake(403)  # closed before an accept: uvicorn refuses with 403
            elif message["type"] == "websocket.http.response.start":
                handshake(int(message["status"]))  # the application's own denial response
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            # Raised or returned without answering the handshake: uvicorn answers 500 itself.
            handshake(500)


class BodyLimitASGI:
    """413 for a request whose declared or streamed body exceeds ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send: Send) -> None:
        body = b"Request body too large\n"
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit:
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> MutableMapping[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)


class _TooLarge(Exception):
    pass


class DrainASGI:
    """Tracks accepted WebSockets so a stopping server closes each with a close frame (``drain``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.open: dict[int, Send] = {}
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        key = id(scope)
        turned_away = False

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            nonlocal turned_away
            if turned_away:  # closed by the drain below: the application's later messages go nowhere
                return
            if message["type"] == "websocket.accept":
                if self.draining:
                    # Accepted while draining: the handshake completes, then 1012 tells the client to
                    # reconnect (to the new process), as the open sockets were told. A close before the
                    # accept would be an HTTP 403 refusal, which clients take as final (and the access
                    # log, written inside, would read 101 for a 403).
                    turned_away = True
                    await send(message)
                    await send({"type": "websocket.close", "code": SERVICE_RESTART})
                    return
                self.open[key] = send
            elif message["type"] == "websocket.close":
                self.open.pop(key, None)
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            self.open.pop(key, None)

    async def drain(self, code: int, timeout: float = 5.0) -> int:
        """Close every open WebSocket with ``code``; returns how many were closed."""
        self.draining = True
        sends = list(self.open.values())
        self.open.clear()

        async def close(send: Send) -> None:
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code})

        if sends:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(close(s) for s in sends)), timeout)
        return len(sends)


def build(
    environ: MutableMapping[str, str] | os._Environ[str], access_log: DaphneAccessLog | None = None
) -> DrainASGI:
    from tandem.runtime import asgi

    app: ASGIApp = asgi.__getattr__("application")
    limit = int(environ.get(BODY_LIMIT_ENV, "0") or 0)
    if limit:
        app = BodyLimitASGI(app, limit)
    if access_log is not None:  # outside the body limit (its 413 is logged), inside the real client address
        app = AccessLogASGI(app, access_log)
    if environ.get(REAL_IP_ENV) == "1":
        app = RealClientASGI(app)
    return DrainASGI(app)


_application: DrainASGI | None = None
access_log: DaphneAccessLog | None = None  # set by the server's entry point before it loads the application


def drainer() -> DrainASGI | None:
    """The application's drainer, once the server has loaded it (None before)."""
    return _application


def __getattr__(name: str) -> Any:
    global _application
    if name != "application":
        raise AttributeError(name)
    if _application is None:
        _application = build(os.environ, access_log)
    return _application
