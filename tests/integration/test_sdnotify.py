"""systemd's Type=notify protocol as ``tandem export systemd``'s unit relies on: a real `tandem serve` started
with $NOTIFY_SOCKET naming a datagram socket this test holds (as systemd does), both the path and the
abstract ('@') form. READY=1 arrives once Ready: is printed, RELOADING=1 (with MONOTONIC_USEC) then READY=1
around a reload (SIGHUP, as ExecReload sends), STOPPING=1 on SIGTERM (systemctl stop)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TandemRunner, example_env

DEADLINE = 60.0


@contextlib.contextmanager
def notify_socket(tmp_path: Path, abstract: bool) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if abstract:
            name = f"tandem-test-{os.getpid()}-{secrets.token_hex(6)}"
            sock.bind(b"\0" + name.encode())
            yield sock, "@" + name
        else:
            path = tmp_path / "notify.sock"
            sock.bind(str(path))
            yield sock, str(path)
    finally:
        sock.close()


def next_message(sock: socket.socket, timeout: float = DEADLINE) -> dict[str, str]:
    """The next datagram as KEY=VALUE fields; fails after ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        raise AssertionError(f"no notification within {timeout} s") from None
    return dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_messages_arrive(
    abstract: bool, example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    with notify_socket(tmp_path, abstract) as (sock, address):
        env = {**example_env(example_project), "NOTIFY_SOCKET": address}
        run = tandem.serve(example_project, env=env)
        ready = next_message(sock)
        assert ready.get("READY") == "1" and ready.get("STATUS") == f"Ready: {run.url}", ready

        run.proc.send_signal(signal.SIGHUP)
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        reloading = next_message(sock)
        assert reloading.get("RELOADING") == "1", reloading
        # systemd matches the reload by this timestamp: it is CLOCK_MONOTONIC in microseconds, now.
        assert abs(int(reloading["MONOTONIC_USEC"]) - before) < 30_000_000, reloading
        reloaded = next_message(sock)
        assert reloaded.get("READY") == "1", reloaded
        run.wait_for_line(r"reload complete", timeout=DEADLINE)

        run.proc.send_signal(signal.SIGTERM)
        stopping = next_message(sock)
        assert stopping.get("STOPPING") == "1", stopping
        assert run.wait_exit(DEADLINE) == 0, run.output


def test_no_notify_socket_is_harmless(example_project: Path, tandem: TandemRunner) -> None:
    """A NOTIFY_SOCKET nobody listens on (systemd gone) does not stop serving."""
    env = {**example_env(example_project), "NOTIFY_SOCKET": "/nonexistent/notify.sock"}
    run = tandem.serve(example_project, env=env)
    assert run.stop() == 0, run.output
