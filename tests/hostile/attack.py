"""Tools for the hostile-client tests: a raw WebSocket client that can flood without reading, a victim that
measures echo latency, and the memory of the ASGI server's processes under attack. Loopback only; every loop is
bounded in count and time."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.conftest import Tandem
from tests.small_projects import write_served_project

MB = 1024 * 1024
# Other clients' latency during an attack. The figure the issue asks for is p99 < 100 ms, and each test
# prints it; the assertion allows 5x for a busy 2-core box (performance lives in benchmarks) and still fails
# on what these attacks did before: echo stalled 1.6 s then over 10 s, a 200 MB POST stalled Daphne 5.7 s.
STALL_MS = 500

# An echo consumer, a "push" route that sends N messages of a given size to its own client (a server
# stream), and a broadcast through the channel layer's group (the slow-reader-of-a-broadcast case).
CONSUMERS = """\
from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class FanoutConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("all", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("all", self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        count, size = (int(x) for x in text_data.split(":"))
        for _ in range(count):
            await self.channel_layer.group_send("all", {"type": "fan", "size": size})

    async def fan(self, event):
        await self.send(text_data="x" * event["size"])
"""

ASGI = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from mysite.consumers import EchoConsumer, FanoutConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_app,
        "websocket": URLRouter(
            [path("ws/echo/", EchoConsumer.as_asgi()), path("ws/fanout/", FanoutConsumer.as_asgi())]
        ),
    }
)
"""

# A larger channel-layer capacity than the default 100, so the broadcast reaches the slow reader's socket
# instead of being dropped by the layer first.
SETTINGS_EXTRA = """
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}
}
"""


def write_hostile_project(root: Path) -> Path:
    from tests.small_projects import SERVED_SETTINGS

    return write_served_project(
        root, consumers=CONSUMERS, asgi=ASGI, settings=SERVED_SETTINGS + SETTINGS_EXTRA
    )


def address(run: Tandem) -> tuple[str, int]:
    host, port = run.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


# How each ASGI server's processes show in their command lines (Gunicorn's arbiter and its forked workers
# share one): tandem's Daphne, uvicorn (--server/--ws-server uvicorn), Gunicorn's ASGI worker.
ASGI_COMMANDS = (
    "tandem.runtime.daphne",
    "tandem.runtime.uvicorn",
    "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
)


def asgi_rss(run: Tandem) -> int:
    """Resident memory of every process of the run's ASGI server (Daphne, or the --server chosen), in bytes."""
    servers: dict[int, psutil.Process] = {}
    for child in psutil.Process(run.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if any(name in child.cmdline() for name in ASGI_COMMANDS):
                # With its forks (Gunicorn's workers, whose command line may be retitled).
                servers.update({p.pid: p for p in [child, *child.children(recursive=True)]})
    total = 0
    for process in servers.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


# --- a raw WebSocket client ----------------------------------------------------------------------------


def ws_connect(
    addr: tuple[str, int], path: str, *, rcvbuf: int | None = None, timeout: float = 10.0
) -> socket.socket:
    """A handshaken WebSocket as a plain socket: the caller decides when (and whether) to read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # a small receive window: a client that does not read fills it at once
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(addr)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{addr[0]}:{addr[1]}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: frames may follow the handshake and stay for the caller
        if not chunk:
            raise ConnectionError(f"handshake refused: {head!r}")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """One masked client frame (clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _mask(payload, mask)
    return header + mask + masked


def _mask(payload: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", exactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(length)


def close_code(sock: socket.socket, timeout: float = 15.0, max_frames: int = 200_000) -> int | None:
    """Read frames until a close frame: its code; None when the connection ends without one."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ConnectionError, OSError):
        for _ in range(max_frames):
            if time.monotonic() > deadline:
                break
            opcode, payload = read_frame(sock)
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


def flood(sock: socket.socket, seconds: float, max_bytes: int = 512 * MB) -> int:
    """Sends small frames without ever reading, for ``seconds`` or ``max_bytes``: bytes the kernel took."""
    batch = b"".join(frame(b"flood%03d" % (i % 1000)) for i in range(2000))
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sent < max_bytes:
        try:
            sent += sock.send(batch)
        except BlockingIOError:
            time.sleep(0.01)  # wait-ok: pacing a bounded loop while the peer pushes back
        except OSError:
            break  # the server closed it
    sock.setblocking(True)
    return sent


# --- a victim measuring latency --------------------------------------------------------------------------


@dataclass
class Victim:
    """An ordinary client echoing a small message every ``interval`` seconds on its own thread."""

    addr: tuple[str, int]
    path: str = "/ws/echo/"
    interval: float = 0.02
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Victim:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            sock = ws_connect(self.addr, self.path, timeout=5)
        except OSError as exc:
            self.errors.append(repr(exc))
            return
        with sock:
            for i in range(100_000):
                if self._stop.is_set():
                    break
                start = time.monotonic()
                try:
                    sock.sendall(frame(b"ping %d" % i))
                    while read_frame(sock)[0] != 1:  # a server ping may come first
                        pass
                except OSError as exc:
                    self.errors.append(repr(exc))
                    break
                self.latencies.append(time.monotonic() - start)
                self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def p99_ms(self) -> float:
        assert self.latencies, f"the victim got no answer at all: {self.errors}"
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100)[98] * 1000


def server_send_queue(client: socket.socket) -> int | None:
    """Bytes the kernel holds unsent on the server's end of ``client``'s loopback connection (the Send-Q of
    the socket whose peer is ``client``, read from /proc/net/tcp); None when no such socket is found."""
    port = client.getsockname()[1]
    with contextlib.suppress(OSError), open("/proc/net/tcp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:  # rem_address: this client's port
                return int(fields[4].split(":", 1)[0], 16)  # tx_queue
    return None


def wait_server_stalled(client: socket.socket, timeout: float, steady: float = 0.5) -> float:
    """Polls until the server's end of ``client``'s connection has unsent bytes that stopped growing for
    ``steady`` seconds: the kernel buffers toward a client that does not read are full, so whatever the
    server sends next waits in its own buffer. Seconds taken; fails at ``timeout``."""
    start = time.monotonic()
    last, since = -1, start
    while time.monotonic() - start < timeout:
        queued = server_send_queue(client) or 0
        now = time.monotonic()
        if queued != last:
            last, since = queued, now
        elif queued > 0 and now - since >= steady:
            return now - start
        time.sleep(0.05)  # wait-ok: polling interval of a bounded wait
    raise AssertionError(f"the server's send queue toward the client never filled ({last} bytes)")


def wait_rss_at_most(run: Tandem, limit: int, timeout: float) -> tuple[int, float]:
    """Polls the ASGI server's RSS until it is at most ``limit``: (last RSS, seconds taken), even when it never is."""
    start = time.monotonic()
    rss = asgi_rss(run)
    while rss > limit and time.monotonic() - start < timeout:
        time.sleep(0.2)  # wait-ok: polling interval of a bounded wait
        rss = asgi_rss(run)
    return rss, time.monotonic() - start
