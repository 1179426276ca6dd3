"""WebSocket probes: each route upgrades and answers a frame, a foreign Origin is refused, an idle socket
survives. Failures say where the handshake went wrong: a plain HTTP answer means the upgrade never
reached the WebSocket server."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tandem.verify.results import FAIL, PASS, SKIP, WARN, Result, Target

FOREIGN_ORIGIN = "https://tandem-verify.invalid"  # .invalid never resolves (RFC 6761)
# Close codes a route may choose on purpose; anything else after accept means it failed.
_CLEAN_CLOSES = {1000, 1001}
UPGRADE_HINT = (
    "pass the upgrade on in the proxy location for this path: proxy_http_version 1.1; "
    'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; and route it to Daphne'
)


class Refused(Exception):
    """The handshake did not end in 101: ``detail`` says what answered instead, ``hint`` what to change."""

    def __init__(self, status: int | None, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.hint = hint


def explain_status(status: int, headers: Any, path: str, host: str) -> tuple[str, str]:
    """(what answered, what to change) for a handshake answered with ``status`` instead of 101."""
    kind = str(headers.get("content-type", "") or "no content type").split(";")[0]
    if status == 403:
        return (
            "refused with 403 (origin validation, or the consumer closed before accepting)",
            f"if browsers on this site must connect, add '{host}' to ALLOWED_HOSTS (AllowedHostsOriginValidator "
            "refuses Origins not listed there); if the consumer rejects this path, pass --ws with one it accepts",
        )
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


async def open_socket(target: Target, path: str, origin: str) -> ClientConnection:
    """The WebSocket handshake; raises Refused when it does not end in 101."""
    try:
        return await connect(
            target.ws_url(path),
            origin=origin,  # type: ignore[arg-type]
            open_timeout=target.timeout,
            ping_interval=None,  # our own pings would keep an idle socket alive and hide the proxy's timeout
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
    from urllib.parse import urlsplit

    return urlsplit(target.url).hostname or ""


async def probe_route(target: Target, path: str) -> Result:
    """Upgrade, send a JSON ping frame, wait for any frame back or the route's own clean close."""
    name = f"websocket {path}"
    try:
        ws = await open_socket(target, path, target.origin)
    except Refused as refused:
        return Result(name, FAIL, refused.detail, refused.hint)
    payload = json.dumps({"type": "ping", "tandem_verify": secrets.token_hex(4)})
    try:
        await ws.send(payload)
        reply = await asyncio.wait_for(ws.recv(), target.timeout)
    except TimeoutError:
        await ws.close()
        return Result(
            name,
            WARN,
            f"101 Switching Protocols, but no frame back within {target.timeout} s",
            "fine if this route only pushes",
        )
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else 1006
        if code in _CLEAN_CLOSES or 4000 <= code < 5000:
            return Result(
                name, PASS, f"101 Switching Protocols; the route closed with code {code} after a frame"
            )
        return Result(
            name,
            FAIL,
            f"101 Switching Protocols, then closed abnormally (code {code})",
            "see the server's log: the consumer raised",
        )
    await ws.close()
    text = reply if isinstance(reply, str) else reply.decode("utf-8", "replace")
    if text == payload:
        return Result(name, PASS, "101 Switching Protocols; a frame round-tripped (echoed)")
    snippet = text if len(text) <= 60 else text[:57] + "..."
    return Result(name, PASS, f"101 Switching Protocols; answered {snippet}")


async def probe_origin(target: Target, paths: list[str]) -> Result:
    name = "websocket foreign Origin"
    if not paths:
        return Result(name, SKIP, "no WebSocket route accepted a handshake")
    accepted = []
    for path in paths:
        try:
            ws = await open_socket(target, path, FOREIGN_ORIGIN)
        except Refused as refused:
            if refused.status not in (403, None):
                return Result(name, WARN, f"{path}: {refused.detail}")
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
        )
    return Result(name, PASS, f"refused Origin {FOREIGN_ORIGIN} (403)")


async def probe_idle(target: Target, path: str | None, idle: float) -> Result | None:
    """Open a socket, stay silent ``idle`` seconds (answering only the server's pings), then ping it."""
    if idle <= 0:
        return None
    name = f"websocket idle {idle:g} s"
    if path is None:
        return Result(name, SKIP, "no WebSocket route accepted a handshake")
    try:
        ws = await open_socket(target, path, target.origin)
    except Refused as refused:
        return Result(name, FAIL, refused.detail, refused.hint)
    started = time.monotonic()
    deadline = started + idle
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(ws.recv(), remaining)  # frames the route pushes are read and dropped
            except TimeoutError:
                break
        pong = await ws.ping()
        await asyncio.wait_for(pong, target.timeout)
    except ConnectionClosed as closed:
        after = time.monotonic() - started
        code = closed.rcvd.code if closed.rcvd else 1006
        return Result(
            name,
            FAIL,
            f"{path} was closed after {after:.1f} s idle (code {code})",
            "the proxy's read timeout is shorter than the time between frames: set proxy_read_timeout above "
            "Daphne's --ping-interval (20 s by default), e.g. proxy_read_timeout 60s; on the WebSocket location",
        )
    except TimeoutError:
        return Result(
            name,
            FAIL,
            f"{path}: no pong within {target.timeout} s after {idle:g} s idle",
            "see the proxy's error log",
        )
    finally:
        await ws.close()
    return Result(name, PASS, f"{path} stayed open {idle:g} s idle and answered a ping")
