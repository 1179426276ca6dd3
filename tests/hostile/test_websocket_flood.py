"""WebSocket backpressure (issue 12, item 2), in both modes: a client flooding small frames without reading,
a slow reader of a broadcast, and an oversized message. Memory stays bounded, other clients keep their echo
latency, memory returns after the attacker leaves, and the attacker learns why it was closed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BOTH_MODES, Tandem, TandemRunner, clean_env, importorskip_server
from tests.hostile.attack import (
    MB,
    STALL_MS,
    Victim,
    address,
    asgi_rss,
    close_code,
    flood,
    frame,
    read_frame,
    wait_rss_at_most,
    wait_server_stalled,
    write_hostile_project,
    ws_connect,
)

SEND_TIMEOUT = 2.0  # TANDEM_WS_SEND_TIMEOUT in these runs: a stalled reader is closed after this


def serve(
    tandem: TandemRunner, tmp_path: Path, mode: str, server: str = "daphne"
) -> tuple[Tandem, tuple[str, int]]:
    project = write_hostile_project(tmp_path / "project")
    env = clean_env(PYTHONUNBUFFERED="1", TANDEM_WS_SEND_TIMEOUT=str(SEND_TIMEOUT))
    # The in-memory layer kept in split mode too: these attacks are on Daphne's own buffers, one process;
    # a managed Redis between the consumers would add its own queue (see the README's Security section).
    layer = ("--channel-layer", "memory", "--allow-inmemory") if mode == "split" else ()
    chosen = ("--server", server) if server != "daphne" else ()
    run = tandem.serve(project, "--mode", mode, *layer, *chosen, env=env)
    return run, address(run)


# Daphne in both modes, and the other ASGI servers that claim backpressure (reading pauses, writes are
# awaited: tandem.servers.gunicorn_asgi and .uvicorn) where each is the edge itself.
FLOODED = [("unified", "daphne"), ("split", "daphne"), ("unified", "gunicorn-asgi"), ("unified", "uvicorn")]


@pytest.mark.parametrize(
    ("mode", "server"),
    FLOODED,
    ids=[m if s == "daphne" else f"{m}-{s}" for m, s in FLOODED],
    indirect=["mode"],
)
def test_flood_without_reading_is_bounded(
    tandem: TandemRunner, tmp_path: Path, mode: str, server: str
) -> None:
    if server != "daphne":
        importorskip_server(server)  # uvicorn, or Gunicorn 27's ASGI worker
    run, addr = serve(tandem, tmp_path, mode, server)
    victim = Victim(addr).start()
    try:
        time.sleep(1.0)  # wait-ok: the victim's latency before the attack, and Daphne's settled RSS
        baseline = asgi_rss(run)
        attacker = ws_connect(addr, "/ws/echo/", rcvbuf=4096)
        peak = baseline
        result: dict[str, float] = {}

        def attack() -> None:
            result["sent"] = flood(attacker, seconds=5)

        thread = threading.Thread(target=attack, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            peak = max(peak, asgi_rss(run))
            thread.join(0.1)
        with contextlib.suppress(OSError):
            attacker.close()
        closed_at = time.monotonic()
        after, took = wait_rss_at_most(run, baseline + 10 * MB, timeout=10)
        p99 = victim.p99_ms()
    finally:
        victim.stop()
    print(
        f"\n[{mode} {server}] flood: {result.get('sent', 0) / MB:.1f} MB of 14-byte frames taken in 5 s (reading "
        f"pauses at the queue limit, TCP pushes back); server RSS {baseline / MB:.1f} MB -> "
        f"peak +{(peak - baseline) / MB:.1f} MB -> {after / MB:.1f} MB {took:.1f} s after the close "
        f"({time.monotonic() - closed_at:.1f} s); victim echo p99 {p99:.1f} ms over {len(victim.latencies)}"
    )
    assert not victim.errors, victim.errors
    assert peak - baseline < 50 * MB
    assert p99 < STALL_MS
    assert after <= baseline + 10 * MB, "memory did not return within 10 s of the attacker's close"


@BOTH_MODES
def test_slow_reader_of_a_broadcast_gets_1008(tandem: TandemRunner, tmp_path: Path, mode: str) -> None:
    run, addr = serve(tandem, tmp_path, mode)
    slow = ws_connect(addr, "/ws/fanout/", rcvbuf=4096)
    sender = ws_connect(addr, "/ws/fanout/")
    received = {"sender": 0}

    def drain_sender() -> None:  # the sender is a fast reader of the same broadcast
        with contextlib.suppress(OSError, ConnectionError):
            sender.settimeout(20)
            for _ in range(100_000):
                opcode, payload = read_frame(sender)
                received["sender"] += len(payload)
                if opcode == 8:
                    break

    reader = threading.Thread(target=drain_sender, daemon=True)
    reader.start()
    victim = Victim(addr).start()
    try:
        time.sleep(1.0)  # wait-ok: the victim's latency before the attack, and Daphne's settled RSS
        baseline = asgi_rss(run)
        started = time.monotonic()
        sender.sendall(frame(b"3000:4096"))  # 12 MB to every member of the group
        peak = baseline
        # The slow reader stalls past the send timeout, counted from when the kernel buffers toward it are
        # full (how long the server takes to fill them varies with the box's load: a fixed stall let the
        # reader start reading before the server had waited the timeout), then reads up to the close frame.
        filled = wait_server_stalled(slow, timeout=30)
        stall_until = time.monotonic() + SEND_TIMEOUT + 2.0
        while time.monotonic() < stall_until:
            peak = max(peak, asgi_rss(run))
            time.sleep(0.1)  # wait-ok: sampling memory while the slow reader stalls
        code = close_code(slow, timeout=15)
        cut_after = time.monotonic() - started
        peak = max(peak, asgi_rss(run))
        slow.close()
        after, took = wait_rss_at_most(run, baseline + 10 * MB, timeout=10)
        p99 = victim.p99_ms()
    finally:
        victim.stop()
        with contextlib.suppress(OSError):
            sender.close()
    print(
        f"\n[{mode}] slow reader of a 12 MB broadcast: buffers toward it full after {filled:.1f} s, closed with "
        f"{code} after {cut_after:.1f} s; Daphne RSS "
        f"{baseline / MB:.1f} MB -> peak +{(peak - baseline) / MB:.1f} MB -> {after / MB:.1f} MB {took:.1f} s "
        f"after the close; fast reader got {received['sender'] / MB:.1f} MB; victim echo p99 {p99:.1f} ms"
    )
    assert code == 1008
    assert peak - baseline < 50 * MB
    assert p99 < STALL_MS
    assert after <= baseline + 10 * MB


@BOTH_MODES
def test_oversized_message_gets_1009(tandem: TandemRunner, tmp_path: Path, mode: str) -> None:
    _run, addr = serve(tandem, tmp_path, mode)
    sock = ws_connect(addr, "/ws/echo/")
    payload = frame(b"y" * (2 * MB))  # the default WS_MAX_MESSAGE_SIZE is 1m
    with contextlib.suppress(OSError):
        sock.settimeout(5)
        sock.sendall(payload)
    code = close_code(sock, timeout=10)
    sock.close()
    print(f"\n[{mode}] a 2 MB message: close code {code}")
    assert code == 1009
    # The server is fine afterwards.
    again = ws_connect(addr, "/ws/echo/")
    again.sendall(frame(b"still here"))
    assert read_frame(again) == (1, b"still here")
    again.shutdown(socket.SHUT_RDWR)
    again.close()
