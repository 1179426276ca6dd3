"""WebSocket load, run inside the worker process: echo round trips and idle connections held open.

Clients never compress (permessage-deflate would measure zlib, not the servers) and never ping (Daphne
pings them; they answer automatically), so the bytes on the wire are the application's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State
from websockets.typing import Origin

from tandem.bench.echo_client import Clients, EchoClient, HandshakeFailed, open_client
from tandem.bench.figures import percentile
from tandem.bench.tlsclient import client_context

ECHO_PAYLOAD = "tandem-bench-echo " + "x" * 46  # 64 bytes: a small chat-sized frame
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 15.0


def describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"handshake answered HTTP {exc.response.status_code}"
    if isinstance(exc, HandshakeFailed):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def open_one(
    url: str, origin: str, headers: Mapping[str, str] | None = None, *, cafile: str | None = None
) -> ClientConnection:
    """``cafile``: for wss, the certificate to trust (tandem.bench.tlsclient.client_context)."""
    tls: dict[str, Any] = {"ssl": context} if (context := client_context(url, cafile)) else {}
    return await connect(
        url,
        **tls,
        origin=Origin(origin),
        additional_headers=dict(headers or {}),
        compression=None,
        proxy=None,
        open_timeout=OPEN_TIMEOUT,
        ping_interval=None,
        close_timeout=2,
        max_queue=None,  # readers drain continuously; no backpressure on the server from our side
        user_agent_header="tandem-bench",
    )


@dataclass
class Opened:
    conns: list[ClientConnection] = field(default_factory=list)
    failures: int = 0
    first_error: str | None = None
    stopped_because: str = ""
    seconds: float = 0.0


async def open_many(
    url: str,
    origin: str,
    count: int,
    *,
    concurrency: int,
    time_bound: float,
    max_failures: int,
    headers: Mapping[str, str] | None = None,
    on_open: Callable[[ClientConnection], None] | None = None,
    cafile: str | None = None,
) -> Opened:
    """Open up to ``count`` connections, ``concurrency`` handshakes at a time, until ``count`` are open,
    ``time_bound`` seconds pass, or ``max_failures`` handshakes failed."""
    opened = Opened()
    started = time.monotonic()
    deadline = started + time_bound
    gate = asyncio.Semaphore(concurrency)
    stop = asyncio.Event()

    async def one() -> None:
        async with gate:
            if stop.is_set():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                opened.stopped_because = opened.stopped_because or f"time bound ({time_bound:.0f} s)"
                stop.set()
                return
            try:
                conn = await asyncio.wait_for(
                    open_one(url, origin, headers, cafile=cafile), min(OPEN_TIMEOUT, remaining)
                )
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                opened.failures += 1
                opened.first_error = opened.first_error or describe(exc)
                if opened.failures >= max_failures:
                    opened.stopped_because = (
                        f"{opened.failures} failed handshakes (first: {opened.first_error})"
                    )
                    stop.set()
                return
            opened.conns.append(conn)
            if on_open is not None:
                on_open(conn)

    await asyncio.gather(*(one() for _ in range(count)))
    opened.seconds = time.monotonic() - started
    if not opened.stopped_because:
        opened.stopped_because = (
            "reached the number asked for"
            if len(opened.conns) >= count
            else (f"{opened.failures} failed handshakes (first: {opened.first_error})")
        )
    return opened


async def close_all(conns: list[ClientConnection]) -> None:
    """Close handshakes in parallel, bounded; whatever does not close in time is aborted."""
    if not conns:
        return
    with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(c.close() for c in conns), return_exceptions=True), CLOSE_TIMEOUT
        )
    for conn in conns:
        if conn.state is not State.CLOSED:
            conn.transport.abort()


def open_count(conns: list[ClientConnection]) -> int:
    return sum(1 for c in conns if c.state is State.OPEN)


# --- echo (tandem.bench.echo_client: raw frames, so the client takes little CPU from the servers) --------


async def _echo_phase(group: Clients, seconds: float, latencies: list[float] | None) -> None:
    group.phase.until = time.monotonic() + seconds
    group.phase.latencies = latencies
    running = [client.start() for client in group.opened if not client.closing]
    # A server that stops answering would leave clients waiting: the phase is bounded all the same.
    try:
        await asyncio.wait_for(asyncio.gather(*running), seconds + OPEN_TIMEOUT)
    except TimeoutError:
        group.failures.add(f"echoes stopped coming back within {OPEN_TIMEOUT:.0f} s")
        # A client still waiting has a frame in flight: the next phase would time its next frame from the
        # wrong send. It takes no further part.
        for client in group.opened:
            if client.idle is not None and not client.idle.done():
                client.abort()


async def echo_load(
    url: str, origin: str, *, clients: int, duration: float, warmup: float, cafile: str | None = None
) -> dict[str, object]:
    """``clients`` connections each sending a frame and awaiting its echo, back to back."""
    group = Clients()
    payload = ECHO_PAYLOAD.encode()
    opening = await asyncio.gather(
        *(
            open_client(url, origin, payload, group, timeout=OPEN_TIMEOUT, cafile=cafile)
            for _ in range(clients)
        ),
        return_exceptions=True,
    )
    for outcome in opening:
        if isinstance(outcome, EchoClient):
            group.opened.append(outcome)
        elif isinstance(outcome, Exception):
            group.failures.add(describe(outcome))
        else:
            raise outcome
    try:
        if not group.opened:
            raise RuntimeError(f"no WebSocket connection to {url} opened: {group.failures.first}")
        if warmup > 0:
            await _echo_phase(group, warmup, None)
        latencies: list[float] = []
        started = time.monotonic()
        await _echo_phase(group, duration, latencies)
        elapsed = time.monotonic() - started
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(client.close(2) for client in group.opened)), CLOSE_TIMEOUT
            )
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "connected": len(group.opened),
        "messages_per_s": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "messages": len(latencies),
        "errors": group.failures.count,
        "duration_s": elapsed,
        "first_failure": group.failures.first,
    }
