"""Every --http-server / --ws-server / --server option through the checks that matter, parametrised so the
servers cannot drift apart: HTTP through the proxy with the real client address (a spoofed one is not
believed), WebSocket echo, Ready and a stop that drains WebSockets (1001) and leaves no process behind, and
a reload under HTTP load without a failed request (open WebSockets closed with 1012).

Refused combinations are checked as clear errors through the CLI here and in tests/unit/test_servers.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import TandemRunner, wait_for
from tests.integration.test_split import SPOOF, websocket

# (mode, arguments, the server that answers /whoami when routed there, the ASGI server's name)
SERVERS = {
    "split-granian": (("--mode", "split", "--http-server", "granian"), "wsgi"),
    "split-gunicorn-asgi": (("--mode", "split", "--ws-server", "gunicorn-asgi"), "asgi"),
    "split-uvicorn": (("--mode", "split", "--ws-server", "uvicorn"), "asgi"),
    "unified-gunicorn-asgi": (("--server", "gunicorn-asgi"), "asgi"),
    "unified-uvicorn": (("--server", "uvicorn"), "asgi"),
}


@pytest.fixture(params=sorted(SERVERS))
def variant(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name.startswith("split"):
        request.getfixturevalue("nginx_bin")
    pytest.importorskip("granian" if "granian" in name else "uvicorn" if "uvicorn" in name else "gunicorn")
    return name


def serve_args(variant: str) -> tuple[str, ...]:
    args, side = SERVERS[variant]
    # /whoami on the server under test: split mode sends it to the ASGI server with --asgi-prefix.
    prefix = ("--asgi-prefix", "/whoami") if variant.startswith("split") and side == "asgi" else ()
    return (*args, *prefix, "--procs", "2")


def test_http_real_client_address_websocket_echo_and_clean_stop(
    variant: str, example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project, *serve_args(variant))
    side = SERVERS[variant][1]
    for headers in ({}, SPOOF if variant.startswith("split") else {}):
        answer = httpx.get(run.url + "whoami", headers=headers, timeout=15).json()
        assert answer["server"] == side
        assert answer["remote_addr"] == "127.0.0.1", answer  # the proxy's X-Real-IP, not the spoofed one
    with websocket(run.url, "/ws/echo/", SPOOF) as ws:
        for text in ("one", "two"):
            ws.send(text)
            assert ws.recv(timeout=15) == text
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("x")
        assert ws.recv(timeout=15) == "x"
        stopper = threading.Thread(target=run.stop)
        stopper.start()
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(100):
                ws.recv(timeout=30)
        stopper.join(60)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
    assert run.proc.returncode == 0, run.output
    assert run.alive_descendants() == []


def test_reload_under_load_fails_no_request(
    variant: str, example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project, *serve_args(variant))
    failures: list[str] = []
    done = threading.Event()
    count = 0

    def load() -> None:
        nonlocal count
        with httpx.Client(timeout=15) as client:
            deadline = time.monotonic() + 60  # bounded even if the reload never completes
            while not done.is_set() and time.monotonic() < deadline:
                try:
                    response = client.get(run.url + "whoami")
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                count += 1

    worker = threading.Thread(target=load)
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("before")
        assert ws.recv(timeout=15) == "before"
        worker.start()
        wait_for(lambda: count >= 5, timeout=30, message="the HTTP load under way")
        code, output = tandem.run("reload", "--wait", cwd=example_project)
        assert code == 0, output
        # The ASGI server under test (or Daphne, beside Granian) retires this socket with 1012.
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(100):
                ws.recv(timeout=60)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
    after = count
    wait_for(
        lambda: count >= after + 10, timeout=30, message="requests after the reload, on the new processes"
    )
    done.set()
    worker.join(30)
    assert count > 20
    assert failures == [], failures[:5]
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("after")
        assert ws.recv(timeout=15) == "after"
    assert run.stop() == 0
    assert run.alive_descendants() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "split", "--http-server", "granian", "--app-access-log"), "Granian cannot write"),
        (("--server", "uvicorn", "--bind", "0.0.0.0"), "uvicorn has no deadline for a request's headers"),
        (("--http-server", "granian"), "--http-server granian is for split mode"),
        (("--mode", "split", "--server", "uvicorn"), "--server uvicorn is for unified mode"),
    ],
)
def test_refused_combinations_are_clear_errors(
    args: tuple[str, ...], message: str, example_project: Path, tandem: TandemRunner
) -> None:
    code, output = tandem.run("serve", "--port", "0", *args, cwd=example_project)
    assert code != 0
    assert message in output, output
    assert "Traceback" not in output
