"""Broadcast fan-out, run inside the worker process: K clients in one chat room, one logged-in client
posts, every client timestamps the broadcast on arrival.

Speaks the fan-out protocol documented in the README (Benchmarks), and only on the route the user names
with ``--fanout-path``: ``{"type": "message", "text", "client_id"}`` in from the poster, a frame with
``"type": "message"`` and the same ``client_id`` out to every listener. The example's chat route speaks it. All clients live in one event loop,
so send and receipt times come from one clock; the figure therefore includes the time this process needs
to read K frames, which is reported as measured at the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import secrets
import time
from collections.abc import Callable, Iterator

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tandem.bench.capacity import BOUND_MS
from tandem.bench.figures import percentile
from tandem.bench.ws_load import close_all, open_many, open_one

JOIN_CONCURRENCY = 20  # handshakes in flight: each join writes to the database before it is accepted
JOIN_ROUNDS = 3
QUIET_SECONDS = 0.5  # no frame for this long after the joins: the presence broadcasts have settled
WARMUP_MESSAGES = 2


class Room:
    """Receipts per posted message, and an event set when every listener has one."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.expected = 0
        self.receipts: dict[str, list[float]] = {}
        self.complete: dict[str, asyncio.Event] = {}
        self.refused = asyncio.Event()
        self.refusal = ""
        self.last_frame = time.monotonic()

    def expect(self, client_id: str) -> asyncio.Event:
        self.receipts[client_id] = []
        self.complete[client_id] = asyncio.Event()
        return self.complete[client_id]

    def frame(self, raw: str | bytes, *, poster: bool) -> None:
        now = time.monotonic()
        self.last_frame = now
        if isinstance(raw, bytes) or (self.prefix not in raw and not poster):
            return  # presence counts and other traffic: only our own messages are timed
        try:
            data = json.loads(raw)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if poster:
            if data.get("type") == "error":
                self.refusal = str(data.get("error"))
                self.refused.set()
            return
        client_id = data.get("client_id")
        if data.get("type") == "message" and client_id in self.receipts:
            got = self.receipts[client_id]
            got.append(now)
            if len(got) >= self.expected:
                self.complete[client_id].set()


async def _read(conn: ClientConnection, room: Room, *, poster: bool) -> None:
    with contextlib.suppress(ConnectionClosed, OSError):
        async for raw in conn:
            room.frame(raw, poster=poster)


async def _wait_quiet(room: Room, bound: float) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and time.monotonic() - room.last_frame < QUIET_SECONDS:
        await asyncio.sleep(0.05)  # wait-ok: polling interval of a bounded wait


async def _join(
    url: str, origin: str, clients: int, deadline: float, on_open: Callable[[ClientConnection], None]
) -> tuple[list[ClientConnection], int, str | None]:
    """Open ``clients`` listeners; handshakes that failed are retried (a few rounds, within ``deadline``).

    The figure is the broadcast's latency, not join capacity: a server busy with the joins before (Daphne
    drops a handshake its consumer has not accepted within 5 s) should not shrink the room. Every failure
    is still counted and reported.
    """
    listeners: list[ClientConnection] = []
    failures, first_failure = 0, None
    for _ in range(JOIN_ROUNDS):
        remaining = deadline - time.monotonic()
        if len(listeners) >= clients or remaining <= 0:
            break
        missing = clients - len(listeners)
        opened = await open_many(
            url,
            origin,
            missing,
            concurrency=JOIN_CONCURRENCY,
            time_bound=remaining,
            max_failures=max(10, missing // 5),
            on_open=on_open,
        )
        listeners.extend(opened.conns)
        failures += opened.failures
        first_failure = first_failure or opened.first_error
    return listeners, failures, first_failure


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No collection of this process's garbage while posts are timed.

    This process holds every client (K connections, their tasks and buffers), so one of Python's full
    collections here takes tens of milliseconds, and a post during it would be charged to the server.
    The posts are bounded (``messages`` x ``message_timeout``); what they leave is collected after.
    """
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


async def _post(poster: ClientConnection, room: Room, client_id: str, timeout: float) -> float | None:
    """Post one message; the send time, or None when the server refused it."""
    done = room.expect(client_id)
    started = time.monotonic()
    await poster.send(json.dumps({"type": "message", "text": f"bench {client_id}", "client_id": client_id}))
    waiters = {asyncio.ensure_future(done.wait()), asyncio.ensure_future(room.refused.wait())}
    _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return None if room.refused.is_set() else started


async def fanout_load(
    url: str,
    origin: str,
    cookie: str,
    *,
    clients: int,
    messages: int,
    time_bound: float,
    message_timeout: float,
) -> dict[str, object]:
    room = Room(f"tb{secrets.token_hex(4)}")
    readers: list[asyncio.Task[None]] = []
    conns: list[ClientConnection] = []
    started = time.monotonic()
    try:
        # The poster joins first: the room then exists before the crowd arrives.
        poster = await open_one(url, origin, {"Cookie": cookie})
        conns.append(poster)
        readers.append(asyncio.ensure_future(_read(poster, room, poster=True)))

        # Each listener reads from the moment it joins: the presence broadcasts of later joins must not
        # pile up unread (K joins send K*K/2 of them).
        def listen(conn: ClientConnection) -> None:
            readers.append(asyncio.ensure_future(_read(conn, room, poster=False)))

        listeners, failures, first_failure = await _join(url, origin, clients, started + time_bound, listen)
        conns.extend(listeners)
        connect_s = time.monotonic() - started
        if not listeners:
            raise RuntimeError(f"no listener joined {url}: {first_failure}")
        room.expected = len(listeners)
        await _wait_quiet(room, time_bound)
        send_times: dict[str, float] = {}
        with _collector_paused():
            for index in range(WARMUP_MESSAGES + messages):
                client_id = f"{room.prefix}-{index}"
                sent = await _post(poster, room, client_id, message_timeout)
                if sent is None:
                    raise RuntimeError(f"the server refused the post: {room.refusal}")
                if index == 0 and not room.receipts[client_id]:
                    # Not one client saw the first message: this route does not broadcast posts the way
                    # the chat protocol does, and waiting for the others would only take longer.
                    raise RuntimeError(
                        f"no client received the first post within {message_timeout:.0f} s "
                        "(does the --fanout-path route speak the chat protocol?)"
                    )
                if index >= WARMUP_MESSAGES:
                    send_times[client_id] = sent
    finally:
        await close_all(conns)
        for task in readers:
            task.cancel()
    last: list[float] = []
    each: list[float] = []
    missing = 0
    for client_id, sent in send_times.items():
        got = room.receipts[client_id]
        each.extend(t - sent for t in got)
        missing += room.expected - len(got)
        if len(got) >= room.expected:
            last.append(max(got) - sent)

    def ms(value: float | None) -> float | None:
        return value * 1000 if value is not None else None

    return {
        "connected": room.expected,
        "messages": len(send_times),
        "complete": len(last),
        "missing": missing,
        "last_p50_ms": ms(percentile(last, 50)),
        "last_p99_ms": ms(percentile(last, 99)),
        "each_p50_ms": ms(percentile(each, 50)),
        "each_p99_ms": ms(percentile(each, 99)),
        "connect_s": connect_s,
        "within_bound": sum(1 for seconds in last if seconds * 1000 <= BOUND_MS),
        "join_failures": failures,
        "first_failure": first_failure,
    }
