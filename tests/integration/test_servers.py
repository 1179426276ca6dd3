"""Every --http-server / --ws-server / --server option through the checks that matter, parametrised so the
servers cannot drift apart: HTTP through the proxy with the real client address (a spoofed one is not
believed), static files where the server serves them (unified), the body limit (413, declared or chunked)
and the WebSocket message limit (1009), WebSocket echo, Ready and a stop that drains WebSockets (1001) and
leaves no process behind, and a reload under HTTP load without a failed request (open WebSockets closed
with 1012). What a server gives up is said at start.

Refused combinations are checked as clear errors through the CLI here.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH
from tests.conftest import Redis, Tandem, TandemRunner, clean_env, free_port, importorskip_server, wait_for
from tests.hostile.attack import address, close_code, frame, ws_connect
from tests.integration.test_split import SPOOF, websocket

# (mode, arguments, the server that answers /whoami when routed there, the ASGI server's name)
SERVERS = {
    "split-granian": (("--mode", "split", "--http-server", "granian"), "wsgi"),
    "split-gunicorn-asgi": (("--mode", "split", "--ws-server", "gunicorn-asgi"), "asgi"),
    "split-uvicorn": (("--mode", "split", "--ws-server", "uvicorn"), "asgi"),
    "unified-gunicorn-asgi": (("--server", "gunicorn-asgi"), "asgi"),
    "unified-uvicorn": (("--server", "uvicorn"), "asgi"),
    # Unified mode behind tandem's proxy: the server on the internal socket, the address from the proxy.
    "unified-nginx-uvicorn": (("--server", "uvicorn", "--proxy", "nginx"), "asgi"),
}


def proxied(variant: str) -> bool:
    """Whether tandem's nginx stands in front (split mode, or unified with --proxy)."""
    return variant.startswith("split") or "--proxy" in SERVERS[variant][0]


@pytest.fixture(params=sorted(SERVERS))
def variant(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if proxied(name):
        request.getfixturevalue("nginx_bin")
    importorskip_server(next(s for s in ("granian", "gunicorn-asgi", "uvicorn") if s in name))
    return name


def serve_args(variant: str) -> tuple[str, ...]:
    args, side = SERVERS[variant]
    # /whoami on the server under test: split mode sends it to the ASGI server with --asgi-prefix.
    prefix = ("--asgi-prefix", "/whoami") if variant.startswith("split") and side == "asgi" else ()
    return (*args, *prefix, "--procs", "2")


BODY_LIMIT = 64 * 1024  # TANDEM_MAX_BODY_SIZE in the first test: the proxy's limit and the server's own


def post_status(addr: tuple[str, int], head: bytes, body: bytes = b"") -> str:
    """POSTs ``head`` (and ``body``, sent while the answer is read: a server may answer before reading it
    all) to /whoami and returns the answer's status code ("" without one)."""
    request = b"POST /whoami HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n" % (
        addr[0].encode(),
        addr[1],
    )
    with socket.create_connection(addr, timeout=15) as conn:
        conn.sendall(request + head)

        def send() -> None:
            with contextlib.suppress(OSError):  # refused before the end: the server may close on us
                conn.sendall(body)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in answer and len(answer) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        sender.join(15)
    status = answer.split(b"\r\n", 1)[0].split()
    return status[1].decode() if len(status) > 1 else ""


def chunked(size: int, piece: int = 16 * 1024) -> bytes:
    data = b"-" * piece
    return b"".join(b"%x\r\n%s\r\n" % (piece, data) for _ in range(size // piece)) + b"0\r\n\r\n"


def wsgi_workers(pid: int) -> list[psutil.Process]:
    """The WSGI server's workers under tandem ``pid``: the processes running tandem's WSGI wrapper whose
    parent runs it too (Gunicorn's and Granian's workers are forked from their arbiter)."""
    app = "tandem.runtime.wsgi:application"
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = proc.parent()
            if app in proc.cmdline() and parent is not None and app in parent.cmdline():
                found.append(proc)
    return found


def test_http_client_address_limits_websocket_echo_and_clean_stop(
    variant: str, example_project: Path, tandem: TandemRunner
) -> None:
    env = clean_env(TANDEM_MAX_BODY_SIZE=str(BODY_LIMIT), TANDEM_WS_MAX_MESSAGE_SIZE="64k")
    run = tandem.serve(example_project, *serve_args(variant), env=env)
    side = SERVERS[variant][1]
    if variant.startswith("split"):  # --workers auto: Granian one per core, Gunicorn's sync workers two
        per_core = 1 if "granian" in variant else 2
        assert len(wsgi_workers(run.proc.pid)) == per_core * (os.cpu_count() or 1)
    # What the server gives up is said at start (and only for the server that runs).
    for name, gives_up in (("gunicorn-asgi", "no WebSocket pings"), ("uvicorn", "no WS_WRITE_BUFFER")):
        assert (f"{name}: {gives_up}" in run.output) == variant.endswith(name), run.output
    for headers in ({}, SPOOF if proxied(variant) else {}):
        answer = httpx.get(run.url + "whoami", headers=headers, timeout=15).json()
        assert answer["server"] == side
        assert answer["remote_addr"] == "127.0.0.1", answer  # the proxy's X-Real-IP, not the spoofed one
    if not proxied(variant):  # the server itself serves static files (behind the proxy: nginx does)
        css = httpx.get(run.url + "static/chat/chat.css", timeout=15)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert css.content == (example_project / "staticfiles" / "chat" / "chat.css").read_bytes()
        assert httpx.get(run.url + "static/chat/no-such-file.css", timeout=15).status_code == 404
    # The body limit, on /whoami, which the server under test answers (behind the proxy: nginx refuses first;
    # alone: tandem.runtime.served in the server). A declared length is refused before the body is read; a
    # chunked body once it passes the limit.
    addr = address(run)
    assert post_status(addr, b"Content-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)) == "413"
    streamed = b"Transfer-Encoding: chunked\r\n\r\n"
    assert post_status(addr, streamed, chunked(2 * BODY_LIMIT)) == "413"
    assert post_status(addr, streamed, chunked(BODY_LIMIT // 2)) == "403"  # under the limit: CSRF's answer
    # A WebSocket message over TANDEM_WS_MAX_MESSAGE_SIZE is closed with 1009 from its frame's header alone
    # (only the header is sent: a server closing with unsent payload in its buffer would reset the
    # connection, the close frame lost on the way); the server serves on.
    with ws_connect(addr, "/ws/echo/") as sock:  # closed even when the assertion fails
        sock.sendall(frame(b"y" * (128 * 1024))[:14])  # 2 bytes, the 8-byte length, the mask
        assert close_code(sock, timeout=10) == 1009
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
    # Nothing above is an error: no server logged a traceback (uvicorn did for tandem's WebSocket probe).
    assert "Traceback" not in run.output, run.output
    no_warning_printed(run.output)


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
    no_warning_printed(run.output)  # the processes the reload started too


def no_warning_printed(output: str) -> None:
    """No server process printed a Python warning into the user's terminal: every uvicorn process printed
    uvicorn's UvicornDeprecationWarning about its legacy websockets implementation, and its `warnings.warn(`
    line, at every start (tandem keeps that implementation for its read queue limit: tandem.runtime.uvicorn)."""
    warned = [
        line for line in output.splitlines() if "DeprecationWarning" in line or "warnings.warn(" in line
    ]
    assert warned == [], output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "split", "--http-server", "granian", "--app-access-log"), "Granian cannot write"),
        (("--server", "uvicorn", "--bind", "0.0.0.0"), "uvicorn has no deadline for a request's headers"),
        (("--server", "gunicorn-asgi", "--bind", "0.0.0.0"), "ASGI worker has no deadline for a request's"),
        (("--mode", "split", "--http-server", "granian", "--proxy", "caddy"), "Granian cannot write"),
        (("--ws-server", "uvicorn"), "--ws-server uvicorn is for split mode"),
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


# --- an app host (--role app) runs the servers chosen, as a single host does ---------------------------------

APP_HOSTS = {
    "split-granian-uvicorn": ("--mode", "split", "--http-server", "granian", "--ws-server", "uvicorn"),
    "unified-gunicorn-asgi": ("--mode", "unified", "--server", "gunicorn-asgi"),
}


@pytest.mark.parametrize("host", sorted(APP_HOSTS))
def test_an_app_host_runs_the_servers_chosen(
    host: str, example_project: Path, tandem: TandemRunner, redis_server: Redis
) -> None:
    """`--role app` used to start Gunicorn and Daphne whatever --http-server, --ws-server or --server said."""
    for name in ("granian", "uvicorn", "gunicorn-asgi"):
        if name in host:
            importorskip_server(name)
    http_port, ws_port = free_port(), free_port()
    run = tandem.serve(
        example_project, *APP_HOSTS[host], "--role", "app", "--bind", "127.0.0.1",
        "--http-port", str(http_port), "--ws-port", str(ws_port), "--edge-secret", "e" * 24,
        "--channel-layer", redis_server.url,
    )  # fmt: skip
    code, output = tandem.run("status", "--pid", str(run.proc.pid), "--json", cwd=example_project)
    assert code == 0, output
    names = {p["name"].split(".")[0] for p in json.loads(output)["processes"]}
    expected = {"granian", "uvicorn"} if host.startswith("split") else {"gunicorn-asgi"}
    assert names == expected, (names, run.output)
    http = f"http://127.0.0.1:{http_port if host.startswith('split') else ws_port}/"
    answer = httpx.get(http + "whoami", timeout=15).json()
    assert answer["server"] == ("wsgi" if host.startswith("split") else "asgi"), answer
    with websocket(f"http://127.0.0.1:{ws_port}/", "/ws/echo/") as ws:
        ws.send("through the app host")
        assert ws.recv(timeout=15) == "through the app host"
    assert run.stop() == 0
    assert run.alive_descendants() == []


def granian_master(run: Tandem) -> psutil.Process:
    """Granian's arbiter under tandem: the process running tandem.runtime.granian whose parent does not."""
    for proc in psutil.Process(run.proc.pid).children(recursive=True):
        parent = proc.parent()
        runs = "tandem.runtime.granian" in proc.cmdline()
        if runs and parent is not None and "tandem.runtime.granian" not in parent.cmdline():
            return proc
    raise AssertionError("no Granian arbiter under tandem")


def answering_pids(port: int, token: str, connections: int = 24) -> list[int]:
    """The pids of the workers that answer ``connections`` connections opened together on ``port``, each
    asking tandem's probe (which answers with the worker's pid)."""
    request = f"GET {PROBE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{PROBE_HEADER}: {token}\r\n\r\n".encode()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(connections)]
    try:
        for sock in socks:
            sock.sendall(request)
        pids = []
        for sock in socks:
            data = b""
            while b'"pid"' not in data or not data.endswith(b"}"):
                chunk = sock.recv(4096)
                assert chunk, data
                data += chunk
            pids.append(int(json.loads(data.split(b"\r\n\r\n", 1)[1])["pid"]))
        return pids
    finally:
        for sock in socks:
            sock.close()


def test_granian_over_tcp_gives_each_worker_its_own_socket(
    example_project: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    """On one shared socket the first Granian worker to wake accepted every waiting connection and kept it
    (keep-alive): with wrk reaching Granian directly, one of 2 workers sat idle in 2 of 4 runs. Over TCP
    each worker has a socket of its own on the same port (SO_REUSEPORT), so connections opened together
    reach every worker, and still do after a reload replaced the workers."""
    importorskip_server("granian")
    run = tandem.serve(example_project, "--mode", "split", "--http-server", "granian", "--internal", "tcp",
                       "--workers", "2")  # fmt: skip
    master = granian_master(run)
    assert master.cmdline().count("--fd") == 2, master.cmdline()
    listening = [c for c in master.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert len(listening) == 2 and len({c.laddr for c in listening}) == 1, listening
    port = listening[0].laddr.port
    token = json.loads(master.environ()["TANDEM_RUNTIME"])["probe_token"]
    before = set(answering_pids(port, token))
    assert before == {w.pid for w in master.children()}, before
    code, output = tandem.run("reload", "--wait", cwd=example_project)
    assert code == 0, output
    after = wait_for(
        lambda: (pids := set(answering_pids(port, token))).isdisjoint(before) and len(pids) == 2 and pids,
        timeout=60,
        message="both new workers answering on their sockets",
    )
    assert after == {w.pid for w in master.children()}, after
