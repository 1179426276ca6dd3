"""The echo load's clients: WebSocket frames written and read by an asyncio Protocol, not a library.

Why not the websockets library the other loads use: the bench's clients share a 2-core machine with the
servers they measure, and a websockets connection spent about 75 µs of client CPU per echo round trip
(44% of a core at 5,900 echoes/s). Every microsecond the client spends is taken from the server measured,
and more from a fast one than a slow one, so the ratio between servers shrank. Here a round trip is one
``write`` from ``data_received``, no task switch: the next frame leaves as the echo is checked.

What is kept of the protocol: the opening handshake checked (101 and Sec-WebSocket-Accept), masked client
frames (a few random masks made up front and reused in turn: a server cannot tell, and masking guards
proxies against cache poisoning by scripts, which a load generator is not), pings answered with pongs,
fragmented and oversized frames and a close from the server reported as failures, and a close handshake
at the end. No extensions are offered (no compression: the figure is the servers', not zlib's).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tandem.bench.tlsclient import client_context

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MASKS = 16
MAX_FRAME = 1 << 20  # a reply larger than this is no echo of a 64-byte frame
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeFailed(Exception):
    pass


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = (
        int.from_bytes(payload, "big") ^ int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    ).to_bytes(size, "big")
    return head + mask + masked


def unmask(payload: bytes, mask: bytes) -> bytes:
    size = len(payload)
    return (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (size // 4 + 1))[:size], "big")).to_bytes(
        size, "big"
    )


@dataclass
class Phase:
    """What every client does now: send until ``until``, recording latencies when ``latencies`` is set."""

    until: float = 0.0
    latencies: list[float] | None = None


@dataclass
class Failures:
    count: int = 0
    first: str | None = None

    def add(self, what: str) -> None:
        self.count += 1
        self.first = self.first or what


@dataclass
class Frame:
    opcode: int
    payload: bytes
    final: bool


def parse_frames(buffer: bytearray) -> tuple[list[Frame], str | None]:
    """Complete server frames at the head of ``buffer`` (consumed from it), and a protocol error if one
    was found (a masked server frame, an oversized one)."""
    frames: list[Frame] = []
    while len(buffer) >= 2:
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            return frames, "the server sent a masked frame"
        size, offset = second & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                break
            size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
        elif size == 127:
            if len(buffer) < 10:
                break
            size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
        if size > MAX_FRAME:
            return frames, f"the server sent a {size}-byte frame"
        if len(buffer) < offset + size:
            break
        frames.append(Frame(first & 0x0F, bytes(buffer[offset : offset + size]), bool(first & 0x80)))
        del buffer[: offset + size]
    return frames, None


class EchoClient(asyncio.Protocol):
    """One connection: handshake, then a frame sent and its echo awaited, back to back, while the phase
    lasts."""

    def __init__(self, request: bytes, key: bytes, payload: bytes, phase: Phase, failures: Failures) -> None:
        self.request, self.key, self.payload = request, key, payload
        self.expected = payload
        self.reply = bytes([0x80 | TEXT, len(payload)]) + payload if len(payload) < 126 else b""
        self.frames = [client_frame(TEXT, payload, os.urandom(4)) for _ in range(MASKS)]
        self.turn = 0
        self.phase, self.failures = phase, failures
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved even when the opener gave up waiting (its timeout), so asyncio logs no stray exception.
        self.opened.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.idle: asyncio.Future[None] | None = None  # set while a phase runs; done when this client stops
        self.sent_at = 0.0
        self.closing = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if data == self.reply and not self.buffer and self.opened.done():
            self._echoed()  # the common case, one whole echo in one read: no parsing
            return
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            error = self._check_handshake(head)
            if error:
                self.opened.set_exception(HandshakeFailed(error))
                self.abort()
                return
            self.opened.set_result(None)
        frames, error = parse_frames(self.buffer)
        for frame in frames:
            if self.closing and frame.opcode != CLOSE:  # failed (aborted) or closing: nothing more to count
                continue
            self._on_frame(frame)
        if error:
            self._fail(error)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("the server closed the connection"))
        elif not self.closing:
            self._fail(f"connection lost ({exc})" if exc else "the server closed the connection")
        if not self.lost.done():
            self.lost.set_result(None)

    # --- the echo loop ---

    def start(self) -> asyncio.Future[None]:
        """Begin sending for the current phase; the future is done when this client stops."""
        self.idle = asyncio.get_running_loop().create_future()
        self._send()
        return self.idle

    def _send(self) -> None:
        assert self.transport is not None
        self.turn = (self.turn + 1) % MASKS
        self.sent_at = time.monotonic()
        self.transport.write(self.frames[self.turn])

    def _stop(self) -> None:
        if self.idle is not None and not self.idle.done():
            self.idle.set_result(None)

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode == PING:
            assert self.transport is not None
            self.transport.write(client_frame(PONG, frame.payload, os.urandom(4)))
        elif frame.opcode == PONG:
            pass
        elif frame.opcode == CLOSE:
            code = struct.unpack_from("!H", frame.payload)[0] if len(frame.payload) >= 2 else 1005
            if self.closing:
                self._finish_close()
            else:
                self._fail(f"the server closed a connection (code {code})")
        elif not frame.final or frame.opcode not in (TEXT, BINARY) or frame.payload != self.expected:
            text = frame.payload.decode("utf-8", "replace")
            self._fail(f"the route answered {text[:60]!r} instead of the frame sent (not an echo route?)")
        else:
            self._echoed()

    def _echoed(self) -> None:
        now = time.monotonic()
        if self.phase.latencies is not None:
            self.phase.latencies.append(now - self.sent_at)
        if now < self.phase.until:
            self._send()
        else:
            self._stop()

    def _fail(self, what: str) -> None:
        if self.idle is not None and not self.idle.done():
            self.failures.add(what)
        self._stop()
        self.abort()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # --- closing ---

    async def close(self, timeout: float) -> None:
        """The close handshake (1000), bounded: whatever does not answer in time is aborted."""
        if self.transport is None or self.transport.is_closing():
            return
        self.closing = True
        self.transport.write(client_frame(CLOSE, struct.pack("!H", 1000), os.urandom(4)))
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            self.abort()

    def _finish_close(self) -> None:
        assert self.transport is not None
        self.transport.close()

    def _check_handshake(self, head: str) -> str | None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return f"the server answered {lines[0][:60]!r}, not HTTP"
        if parts[1] != "101":
            return f"handshake answered HTTP {parts[1]}"
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("sec-websocket-accept", "").encode() != accept_key(self.key):
            return "the server's Sec-WebSocket-Accept does not match the key sent"
        return None


def handshake_request(url: str, origin: str, key: bytes, headers: Mapping[str, str] | None) -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {origin}",
        "User-Agent: tandem-bench",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Clients:
    opened: list[EchoClient] = field(default_factory=list)
    failures: Failures = field(default_factory=Failures)
    phase: Phase = field(default_factory=Phase)


async def open_client(
    url: str, origin: str, payload: bytes, clients: Clients, *, timeout: float, cafile: str | None = None
) -> EchoClient:
    parts = urlsplit(url)
    tls = client_context(url, cafile)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)
    key = base64.b64encode(os.urandom(16))
    request = handshake_request(url, origin, key, None)
    loop = asyncio.get_running_loop()

    made: list[EchoClient] = []

    def build() -> EchoClient:
        made.append(EchoClient(request, key, payload, clients.phase, clients.failures))
        return made[0]

    async def connect() -> EchoClient:
        _, protocol = await loop.create_connection(
            build, host, port, ssl=tls, server_hostname=host if tls else None
        )
        await protocol.opened
        return protocol

    try:
        return await asyncio.wait_for(connect(), timeout)
    except BaseException:
        for protocol in made:  # connected but never opened: no socket left behind
            protocol.abort()
        raise
