"""WebSocket probes: each route upgrades and answers a protocol-level ping, a foreign Origin is refused, an
idle socket survives.

Read-only by default: a ping is a control frame that the server's WebSocket layer answers and no consumer
ever sees, so probing a route cannot create data on the site. A data frame is sent only to routes the user
names as echo routes (``--echo``) or to tandem's own. Failures say where the handshake went wrong: a plain
HTTP answer means the upgrade never reached the WebSocket server; a 1011 close means the application failed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tandem.verify.results import FAIL, PASS, SKIP, WARN, Result, Target

FOREIGN_ORIGIN = "https://tandem-verify.invalid"  # .invalid never resolves (RFC 6761)
ECHO_TEXT = "tandem-verify echo"
# Close codes a route may choose on purpose; 1011 means the server's application failed.
_CLEAN_CLOSES = {1000, 1001}
INTERNAL_ERROR = 1011
UPGRADE_HINT = (
    "pass the upgrade on in the proxy location for this path: proxy_http_version 1.1; "
    'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; and route it to Daphne'
)
W012_NOTE = (
    "; the project uses channels-redis: run tandem check, since tandem.W012 (a Redis socket_timeout at or "
    "under 5 s) makes an idle consumer's layer read time out and Daphne close the socket with 1011"
)


@dataclass(frozen=True)
class ServerFacts:
    """What earlier probes and the project say about the deployment, for the diagnoses."""

    proxy_in_front: bool = False
    uses_redis: bool = False  # the project's channel layer is channels-redis (known inside the project)


class Refused(Exception):
    """The handshake did not end in 101: ``detail`` says what answered instead, ``hint`` what to change."""

    def __init__(self, status: int | None, detail: str, hint: str | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.hint = hint


def explain_status(status: int, headers: Any, path: str, host: str) -> tuple[str, str | None]:
    """(what answered, what to change) for a handshake answered with ``status`` instead of 101.

    403 gets no hint here: who refused (the origin validator or the consumer) is decided from more
    evidence by the caller.
    """
    kind = str(headers.get("content-type", "") or "no content type").split(";")[0]
    if status == 403:
        return "refused with 403 before a consumer accepted it", None
    if status in (502, 503, 504):
        return (
            f"the proxy answered {status}: it cannot reach the WebSocket server",
            "check the proxy's upstream for this path (Daphne's address or socket) and that Daphne runs",
        )
    if status == 500:
        return (
            "HTTP 500 during the handshake: the ASGI application raised",
            f"see the server's log; does {path} match a route in the websocket URLRouter?",
        )
    return (
        f"answered as plain HTTP ({status} {kind}): the upgrade request reached the HTTP handler, "
        "not the WebSocket server; the proxy drops the Upgrade and Connection headers",
        UPGRADE_HINT,
    )


def close_text(closed: ConnectionClosed) -> tuple[int, str]:
    """(code, "code 1011, reason 'x'") of a closed connection; 1006 when no close frame came."""
    if closed.rcvd is None:
        return 1006, "code 1006: the connection dropped without a close frame"
    reason = f"reason {closed.rcvd.reason!r}" if closed.rcvd.reason else "no close reason given"
    return closed.rcvd.code, f"code {closed.rcvd.code}, {reason}"


def application_failed(path: str, closed: str, facts: ServerFacts, after: str) -> Result:
    """A 1011 close: the server's application (the consumer, or the channel layer under it) failed."""
    return Result(
        f"websocket {path}",
        FAIL,
        f"101 Switching Protocols, then the server's application failed {after}: closed with {closed}",
        "see the server's log for the consumer's traceback" + (W012_NOTE if facts.uses_redis else ""),
    )


async def open_socket(
    target: Target, path: str, origin: str, *, credentials: bool = True
) -> ClientConnection:
    """The WebSocket handshake; raises Refused when it does not end in 101."""
    try:
        return await connect(
            target.ws_url(path),
            origin=origin,  # type: ignore[arg-type]
            additional_headers=list(target.headers) if credentials else None,
            open_timeout=target.timeout,
            ping_interval=None,  # automatic pings would keep an idle socket alive and hide the proxy's timeout
            close_timeout=2,
            proxy=None,
            ssl=target.ssl_context() if target.https else None,
            user_agent_header="tandem-verify",
            compression=None,
        )
    except InvalidStatus as exc:
        response = exc.response
        detail, hint = explain_status(response.status_code, response.headers, path, _host(target))
        raise Refused(response.status_code, detail, hint) from None
    except InvalidHandshake as exc:
        raise Refused(None, f"broken handshake: {exc}", UPGRADE_HINT) from None
    except TimeoutError:
        raise Refused(
            None, f"no handshake answer within {target.timeout} s", "check that the proxy routes this path"
        ) from None
    except OSError as exc:
        text = str(exc) or type(exc).__name__
        hint = "pass --cacert FILE (or --insecure)" if "CERTIFICATE" in text else "check that the server runs"
        raise Refused(None, f"cannot connect: {text}", hint) from None


def _host(target: Target) -> str:
    return urlsplit(target.url).hostname or ""


@dataclass(frozen=True)
class RouteProbe:
    """One route's outcome: a Result, or the refusal the caller explains with evidence from every route."""

    path: str
    result: Result | None
    refused: Refused | None = None

    @property
    def accepted(self) -> bool:
        """The handshake with the right Origin ended in 101, whatever happened to frames afterwards."""
        return self.refused is None


async def _ping(ws: ClientConnection, timeout: float) -> float:
    started = time.monotonic()
    pong = await ws.ping()
    await asyncio.wait_for(pong, timeout)
    return (time.monotonic() - started) * 1000


async def probe_route(target: Target, path: str, *, echo: bool, facts: ServerFacts) -> RouteProbe:
    """Upgrade and ping; on an echo route, also send one text frame and expect it back."""
    name = f"websocket {path}"
    # The URL in full: over https the report shows the handshake went to wss://.
    sent = (
        f"WebSocket handshake to {target.ws_url(path)} (Origin {target.origin}{target.credentials}), "
        "ping control frame"
    )
    try:
        ws = await open_socket(target, path, target.origin)
    except Refused as refused:
        return RouteProbe(path, None, refused)
    payload = f"{ECHO_TEXT} {secrets.token_hex(4)}"
    if echo:
        sent += f", text frame {payload!r}"
    try:
        pong_ms = await _ping(ws, target.timeout)
        if not echo:
            return RouteProbe(
                path, Result(name, PASS, f"101 Switching Protocols; pong in {pong_ms:.0f} ms", sent=sent)
            )
        await ws.send(payload)
        reply = await asyncio.wait_for(_first_text(ws), target.timeout)
    except TimeoutError:
        what = "its echo" if echo else "a pong"
        return RouteProbe(
            path,
            Result(
                name,
                FAIL if echo else WARN,
                f"101 Switching Protocols, but no {what} within {target.timeout} s",
                "is this route an echo route?" if echo else "see the server's and the proxy's logs",
                sent=sent,
            ),
        )
    except ConnectionClosed as closed:
        code, text = close_text(closed)
        after = "after the text frame" if echo else "after the handshake"
        if code == INTERNAL_ERROR:
            return RouteProbe(path, _with_sent(application_failed(path, text, facts, after), sent))
        if code in _CLEAN_CLOSES or 4000 <= code < 5000:
            detail = f"101 Switching Protocols; the route closed the socket itself ({text})"
            hint = "pass --cookie/--header if it needs a login" if not target.headers else None
            return RouteProbe(path, Result(name, PASS, detail, hint, sent=sent))
        return RouteProbe(
            path,
            Result(name, FAIL, f"101 Switching Protocols, then closed {after} ({text})",
                   "see the proxy's and the server's logs", sent=sent),
        )  # fmt: skip
    finally:
        await ws.close()
    if reply == payload:
        return RouteProbe(
            path,
            Result(
                name,
                PASS,
                f"101 Switching Protocols; pong in {pong_ms:.0f} ms; the frame came back (echoed)",
                sent=sent,
            ),
        )
    snippet = reply if len(reply) <= 60 else reply[:57] + "..."
    return RouteProbe(
        path,
        Result(name, WARN, f"101 Switching Protocols; answered {snippet!r} instead of the echo",
               "--echo names routes that send every text frame back unchanged", sent=sent),
    )  # fmt: skip


async def _first_text(ws: ClientConnection) -> str:
    """The next frame, as text (frames a route pushes on its own are answers too)."""
    reply = await ws.recv()
    return reply if isinstance(reply, str) else reply.decode("utf-8", "replace")


def _with_sent(result: Result, sent: str) -> Result:
    return Result(result.name, result.status, result.detail, result.hint, sent=sent)


async def probe_origin(target: Target, paths: list[str]) -> Result:
    """A handshake from a foreign Origin, on every route whose handshake with the right Origin succeeded."""
    name = "websocket foreign Origin"
    if not paths:
        return Result(name, SKIP, "no WebSocket route accepted a handshake from the site's own Origin")
    sent = (
        f"WebSocket handshake (Origin {FOREIGN_ORIGIN}{target.credentials}) to {', '.join(paths)}, then close"
    )
    accepted, odd = [], []
    for path in paths:
        try:
            ws = await open_socket(target, path, FOREIGN_ORIGIN)
        except Refused as refused:
            if refused.status not in (403, None):
                odd.append(f"{path}: {refused.detail}")
            continue
        accepted.append(path)
        await ws.close()
    if accepted:
        return Result(
            name,
            FAIL,
            f"accepted a handshake from Origin {FOREIGN_ORIGIN} on {', '.join(accepted)}: any site can open "
            "these sockets with its visitors' cookies (cross-site WebSocket hijacking)",
            "wrap the websocket entry in AllowedHostsOriginValidator(...) (channels.security.websocket), "
            "with ALLOWED_HOSTS not '*'",
            sent=sent,
        )
    if odd:
        return Result(name, WARN, "; ".join(odd), sent=sent)
    return Result(name, PASS, f"refused Origin {FOREIGN_ORIGIN} (403) on {', '.join(paths)}", sent=sent)


async def probe_idle(target: Target, path: str | None, idle: float, facts: ServerFacts) -> Result | None:
    """Open a socket, stay silent ``idle`` seconds (answering only the server's pings), then ping it."""
    if idle <= 0:
        return None
    name = f"websocket idle {idle:g} s"
    if path is None:
        return Result(name, SKIP, "no WebSocket route accepted a handshake")
    sent = f"WebSocket handshake to {path}, nothing for {idle:g} s, then a ping control frame"
    try:
        ws = await open_socket(target, path, target.origin)
    except Refused as refused:
        return Result(name, FAIL, refused.detail, refused.hint, sent=sent)
    started = time.monotonic()
    deadline = started + idle
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(ws.recv(), remaining)  # frames the route pushes are read and dropped
            except TimeoutError:
                break
        await _ping(ws, target.timeout)
    except ConnectionClosed as closed:
        return idle_closed(name, path, time.monotonic() - started, closed, facts, sent)
    except TimeoutError:
        return Result(
            name,
            FAIL,
            f"{path}: no pong within {target.timeout} s after {idle:g} s idle",
            "see the proxy's error log",
            sent=sent,
        )
    finally:
        await ws.close()
    return Result(name, PASS, f"{path} stayed open {idle:g} s idle and answered a ping", sent=sent)


def idle_closed(
    name: str, path: str, after: float, closed: ConnectionClosed, facts: ServerFacts, sent: str
) -> Result:
    """Why an idle socket was closed, from its close code and whether a proxy stands in front."""
    code, text = close_text(closed)
    detail = f"{path} was closed after {after:.1f} s idle ({text})"
    if code == INTERNAL_ERROR:
        return Result(
            name,
            FAIL,
            detail + ": the server's application failed, not the network",
            "see the server's log for the consumer's traceback" + (W012_NOTE if facts.uses_redis else ""),
            sent=sent,
        )
    if facts.proxy_in_front:
        return Result(
            name,
            FAIL,
            detail + " by the proxy in front",
            "the proxy's read timeout is shorter than the time between frames: set proxy_read_timeout above "
            "Daphne's --ping-interval (20 s by default), e.g. proxy_read_timeout 60s; on the WebSocket location",
            sent=sent,
        )
    return Result(
        name,
        FAIL,
        detail + " with no proxy seen in front",
        "the server or the route closed it: check Daphne's --websocket_timeout and --ping-timeout, and the "
        "consumer's own timeouts",
        sent=sent,
    )
