"""Unified-mode HTTP edges (issue 12, item 8): slowloris clients are cut after HEADER_TIMEOUT with 408,
HTTP/1.1 without exactly one Host gets 400 as in nginx, obs-folded headers get 400."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from tests.conftest import Tandem, TandemRunner, clean_env
from tests.hostile.attack import address
from tests.small_projects import write_served_project

HEADER_TIMEOUT = 2.0


def serve(tandem: TandemRunner, tmp_path: Path) -> Tandem:
    project = write_served_project(tmp_path / "project")
    env = clean_env(PYTHONUNBUFFERED="1", TANDEM_HEADER_TIMEOUT=str(HEADER_TIMEOUT))
    return tandem.serve(project, env=env)


def exchange(addr: tuple[str, int], raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(raw)
        answer = b""
        with contextlib.suppress(OSError):
            for _ in range(100):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        return answer


def test_slow_headers_are_cut_and_do_not_starve_others(tandem: TandemRunner, tmp_path: Path) -> None:
    run = serve(tandem, tmp_path)
    addr = address(run)
    request = b"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40 + b"\r\n\r\n"
    lorises = [socket.create_connection(addr, timeout=10) for _ in range(50)]
    idle = socket.create_connection(addr, timeout=10)  # connects and never sends a byte
    try:
        start = time.monotonic()
        cut: dict[int, float] = {}
        for i in range(len(request)):  # a byte per 0.2 s per connection: 10 s for the headers
            if len(cut) == len(lorises) or time.monotonic() - start > HEADER_TIMEOUT + 5:
                break
            for index, sock in enumerate(lorises):
                if index in cut:
                    continue
                try:
                    sock.sendall(request[i : i + 1])
                except OSError:
                    cut[index] = time.monotonic() - start
            # Meanwhile an ordinary client is served at once.
            assert exchange(addr, b"GET /status/ HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
            time.sleep(0.2)  # wait-ok: the slowloris pace, in a loop bounded by count and time
        answer = lorises[0].recv(1024)
        idle_answer = idle.recv(1024)
        idle_after = time.monotonic() - start
    finally:
        for sock in [*lorises, idle]:
            sock.close()
    slowest = max(cut.values()) if cut else float("inf")
    print(
        f"\nslowloris x50 with HEADER_TIMEOUT={HEADER_TIMEOUT}: {len(cut)} cut, the last after {slowest:.1f} s; "
        f"answer {answer[:30]!r}; a silent connection closed after {idle_after:.1f} s"
    )
    assert answer.startswith(b"HTTP/1.1 408")
    assert idle_answer == b""
    assert len(cut) == len(lorises) and slowest < HEADER_TIMEOUT + 3


def test_host_and_obs_fold(tandem: TandemRunner, tmp_path: Path) -> None:
    addr = address(serve(tandem, tmp_path))
    cases = {
        "HTTP/1.1 without Host": (b"GET /status/ HTTP/1.1\r\nConnection: close\r\n\r\n", b"HTTP/1.1 400"),
        "two Host headers": (
            b"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\n\r\n",
            b"HTTP/1.1 400",
        ),
        "obs-fold": (
            b"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n folded\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 400",
        ),
        "HTTP/1.0 without Host": (b"GET /status/ HTTP/1.0\r\n\r\n", b"HTTP/1.0 200"),
        "HTTP/1.1 with Host": (
            b"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 200",
        ),
    }
    for name, (raw, expected) in cases.items():
        answer = exchange(addr, raw)
        print(f"{name}: {answer[:30]!r}")
        assert answer.startswith(expected), (name, answer[:200])
