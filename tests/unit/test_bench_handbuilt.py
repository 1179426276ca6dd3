"""handbuilt-split's ports: picked free, then bound by Gunicorn, Daphne and nginx themselves with the docs'
commands. A port another process takes in between makes that server exit with "Address already in use"
and the stack start again on new ports (a bounded number of times); an answer on a port counts only from
the server that holds its listener. Real servers on a two-line app (no Django needed)."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tandem.bench import handbuilt
from tandem.bench.handbuilt import HandbuiltRun, PortTaken, free_ports, listens_on
from tandem.bench.server import StartFailed
from tandem.routes import RouteTable
from tests.unit.test_bench_processes import plain_project

APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"gunicorn"]


async def asgi(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"daphne"})
"""


class Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"not ours")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stack(tmp_path: Path, nginx_bin: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandbuiltRun]:
    """The stack on a two-line app; afterwards every directory any of its attempts made is gone (checked by
    name: other sessions make tandem-handbuilt-* directories of their own meanwhile)."""
    (tmp_path / "hbapp.py").write_text(APP)
    project = plain_project(tmp_path, "hbapp")
    run = HandbuiltRun(
        project, RouteTable((), ()), nginx=nginx_bin, environ={"PATH": "/usr/bin:/bin"}, cores=1
    )
    made: list[Path] = []
    real_start = run.start

    def start() -> None:
        try:
            real_start()
        finally:
            made.extend([run.workdir] if run.workdir is not None else [])

    monkeypatch.setattr(run, "start", start)
    try:
        yield run
    finally:
        run.stop(10.0)
        assert made and [d for d in made if d.exists()] == []


def taken_first(monkeypatch: pytest.MonkeyPatch, role: str, port: int, times: int = 1) -> list[list[int]]:
    """free_ports hands out ``port`` (held by the test) as ``role``'s the first ``times`` times."""
    given: list[list[int]] = []
    real = free_ports

    def ports(count: int) -> list[int]:
        picked = real(count)
        if len(given) < times:
            picked[("gunicorn", "daphne", "nginx").index(role)] = port
        given.append(picked)
        return picked

    monkeypatch.setattr(handbuilt, "free_ports", ports)
    return given


def test_a_port_taken_by_a_server_that_answers_starts_the_stack_again(
    stack: HandbuiltRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another HTTP server has Gunicorn's port: it answers 200 there, but it is not Gunicorn.
    other = http.server.HTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        taken = int(other.server_address[1])
        given = taken_first(monkeypatch, "gunicorn", taken)
        assert stack.wait_ready(60.0) > 0
    finally:
        other.shutdown()
        other.server_close()
    assert len(given) == 2 and stack.ports["gunicorn"] != taken
    for role in ("gunicorn", "daphne", "nginx"):
        assert listens_on(stack.procs[role].pid, stack.ports[role]), role
    assert httpx.get(f"http://127.0.0.1:{stack.ports['gunicorn']}/", trust_env=False).text == "gunicorn"
    assert stack.url is not None and httpx.get(stack.url, trust_env=False).text == "gunicorn"
    assert stack.stop(10.0) == []


def test_attempts_are_bounded(stack: HandbuiltRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handbuilt, "PORT_ATTEMPTS", 2)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        given = taken_first(monkeypatch, "nginx", int(held.getsockname()[1]), times=99)
        with pytest.raises(StartFailed) as failed:
            stack.wait_ready(60.0)
    assert not isinstance(failed.value, PortTaken) and len(given) == 2
    assert "Address already in use" in str(failed.value) and "(tried 2 sets of free ports)" in str(
        failed.value
    )


def test_listens_on_is_the_process_own_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        assert not listens_on(os.getpid(), port)  # bound, not listening
        sock.listen()
        assert listens_on(os.getpid(), port)
        assert not listens_on(os.getpid(), port + 1 if port < 65535 else port - 1)
