"""Request bodies (issue 12, item 1, P1): a 200 MB POST is refused with 413 before it is read
(Content-Length) or once it passes MAX_BODY_SIZE (chunked), by tandem's Daphne in unified mode and by nginx in
split mode; in unified mode a 200 MB multipart body under a raised limit is streamed to the application, never
parsed by Twisted. The serving processes' RSS moves by < 20 MB and an ordinary view's p99 during the upload
stays < 100 ms."""

from __future__ import annotations

import contextlib
import http.client
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import BOTH_MODES, Tandem, TandemRunner, clean_env
from tests.hostile.attack import MB, STALL_MS, address, asgi_rss
from tests.small_projects import write_served_project

BODY = 200 * MB
PIECE = b"-" * MB


class Prober:
    """GET /status/ every 20 ms on a kept-alive connection, timing each answer."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection(*self.addr, timeout=5)
        for _ in range(10_000):
            if self._stop.is_set():
                break
            start = time.monotonic()
            try:
                conn.request("GET", "/status/")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
            except (OSError, AssertionError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(*self.addr, timeout=5)
                continue
            self.latencies.append(time.monotonic() - start)
            self._stop.wait(0.02)
        conn.close()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=10)
        assert self.latencies, self.errors
        return statistics.quantiles(self.latencies, n=100)[98] * 1000 if len(self.latencies) > 1 else 0.0


def upload(addr: tuple[str, int], head: bytes, pieces: int, *, chunked: bool) -> tuple[bytes, int, float]:
    """Sends ``head`` then ``pieces`` MB of body while reading the answer: (answer, bytes sent, seconds)."""
    sock = socket.create_connection(addr, timeout=30)
    sent = [0]

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(head)
            for _ in range(pieces):
                data = b"%x\r\n%s\r\n" % (len(PIECE), PIECE) if chunked else PIECE
                sock.sendall(data)
                sent[0] += len(PIECE)
            if chunked:
                sock.sendall(b"0\r\n\r\n")

    start = time.monotonic()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    took = time.monotonic() - start
    sock.close()
    sender.join(timeout=30)
    return answer, sent[0], took


def tree_rss(run: Tandem) -> int:
    """Resident memory of every process of the run (nginx, Gunicorn, Daphne, tandem itself), in bytes."""
    root = psutil.Process(run.proc.pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def measured_upload(
    run: Tandem, head: bytes, *, chunked: bool = False, rss: Callable[[Tandem], int] = asgi_rss
) -> tuple[bytes, int, float, int, float]:
    addr = address(run)
    baseline = rss(run)
    peak = [baseline]
    prober = Prober(addr)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss(run))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        answer, sent, took = upload(addr, head, BODY // MB, chunked=chunked)
        time.sleep(0.5)  # wait-ok: the prober keeps measuring just after the upload too
    finally:
        done.set()
        sampler.join(timeout=5)
        p99 = prober.stop()
    return answer, sent, took, peak[0] - baseline, p99


def status_line(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode("latin-1") or "(no answer)"


def serve(tandem: TandemRunner, tmp_path: Path, *args: str, **env: str) -> Tandem:
    project = write_served_project(tmp_path / "project")
    return tandem.serve(project, *args, env=clean_env(PYTHONUNBUFFERED="1", **env))


@BOTH_MODES
def test_bodies_over_the_limit_get_413_before_they_are_read(
    tandem: TandemRunner, tmp_path: Path, mode: str
) -> None:
    run = serve(tandem, tmp_path, "--mode", mode)  # MAX_BODY_SIZE 10m, the default
    # Split: nginx answers, and the body would land in nginx or Gunicorn: every process of the run counts.
    rss = asgi_rss if mode == "unified" else tree_rss
    who = "Daphne RSS" if mode == "unified" else "RSS of all the run's processes"
    host = b"Host: 127.0.0.1\r\n"
    head = b"POST /status/ HTTP/1.1\r\n" + host + b"Content-Type: multipart/form-data; boundary=x\r\n"
    answer, sent, took, grew, p99 = measured_upload(run, head + b"Content-Length: %d\r\n\r\n" % BODY, rss=rss)
    print(
        f"\n[{mode}] 200 MB POST with Content-Length: {status_line(answer)} after {took * 1000:.0f} ms, "
        f"{sent / MB:.0f} MB sent by then; {who} +{grew / MB:.1f} MB; /status/ p99 {p99:.1f} ms"
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert grew < 20 * MB and p99 < STALL_MS

    answer, sent, took, grew, p99 = measured_upload(
        run, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked=True, rss=rss
    )
    print(
        f"[{mode}] 200 MB chunked POST: {status_line(answer)} after {took * 1000:.0f} ms, "
        f"{sent / MB:.0f} MB sent by then; {who} +{grew / MB:.1f} MB; /status/ p99 {p99:.1f} ms"
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert grew < 20 * MB and p99 < STALL_MS


def test_a_large_body_under_the_limit_is_streamed_not_parsed(tandem: TandemRunner, tmp_path: Path) -> None:
    run = serve(tandem, tmp_path, TANDEM_MAX_BODY_SIZE="300m")
    head = (
        b"POST /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        b"Content-Length: %d\r\n\r\n" % BODY
    )
    answer, _sent, took, grew, p99 = measured_upload(run, head)
    print(
        f"\n200 MB multipart POST under MAX_BODY_SIZE=300m: {status_line(answer)} after "
        f"{took:.1f} s; Daphne RSS +{grew / MB:.1f} MB; /status/ p99 {p99:.1f} ms"
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert grew < 20 * MB and p99 < STALL_MS
