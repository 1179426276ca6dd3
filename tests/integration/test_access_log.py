"""The default access log under load, a child flooding its output, and probes kept out of every log (issue 10).

Before: every access line went through a pipe to tandem, became an event on the supervisor's queue and was
printed by its loop; under ordinary HTTP load that loop fell behind, 50 of 50 WebSocket clients died of
keepalive ping timeouts, and stopping took more than 20 s.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import Tandem, TandemRunner, clean_env, find_caddy, importorskip_server, wait_for
from tests.small_projects import ASGI_WS_PREFIX, CONSUMERS, write_served_project

ROOT_URLS = """\
from django.http import JsonResponse
from django.urls import path

from mysite import views

urlpatterns = [path("", lambda request: JsonResponse({"ok": True})), path("status/", views.status)]
"""

# Floods the Daphne child's stdout from a thread for a bounded time. Only inside a child tandem started
# (TANDEM_RUNTIME is set there): tandem also imports the ASGI module itself to read the routing.
FLOOD_ASGI = (
    ASGI_WS_PREFIX
    + """
import os, threading, time  # noqa: E401, E402


def _flood(seconds=float(os.environ.get("FLOOD_SECONDS", "30"))):
    end = time.monotonic() + seconds
    line = "flood " + "x" * 120
    while time.monotonic() < end:  # bounded: the test's stop comes well before the end
        for _ in range(1000):
            print(line)


if "TANDEM_RUNTIME" in os.environ:
    threading.Thread(target=_flood, daemon=True).start()
"""
)

GRACEFUL = 10.0  # --graceful-timeout for these runs; tandem KILLs what is left 5 s after it


def served(tmp_path: Path, **files: str) -> Path:
    return write_served_project(tmp_path / "proj", urls=ROOT_URLS, **files)


def stop_within(run: Tandem, bound: float) -> float:
    """SIGTERM, and the seconds until tandem and every process it started are gone (failing past ``bound``)."""
    started = time.monotonic()
    code = run.stop(signal.SIGTERM, timeout=bound)
    took = time.monotonic() - started
    assert code == 0, run.output[-3000:]
    assert took <= bound, f"tandem took {took:.1f} s to stop"
    assert run.alive_descendants() == []
    return took


# --- 50 WebSockets with keepalive pings survive 70 s of HTTP load with the default access log ----------------

CLIENTS = 50
LOAD_SECONDS = 70


async def echo_client(url: str, index: int, until: float, failures: list[str], sent: list[int]) -> None:
    """Echo every 0.5 s until ``until``, with the library's keepalive pings (every 20 s, 20 s timeout)."""
    count = -1  # still connecting
    started = time.monotonic()
    try:
        async with connect(url, ping_interval=20, ping_timeout=20, open_timeout=20, close_timeout=2) as ws:
            count = 0
            while time.monotonic() < until:
                message = f"{index}:{count}"
                await ws.send(message)
                reply = await asyncio.wait_for(ws.recv(), timeout=10)
                if reply != message:
                    failures.append(f"client {index}: sent {message!r}, got {reply!r}")
                    return
                count += 1
                await asyncio.sleep(0.5)  # wait-ok: the pacing of a bounded echo loop
            sent[index] = count
    except (ConnectionClosed, OSError, TimeoutError) as exc:
        when = "connecting" if count < 0 else f"at echo {count}"
        now = time.monotonic()
        failures.append(
            f"client {index}: {exc!r} {when}, {now - started:.1f} s in, {now - until:+.1f} s from the load's end"
        )


async def http_load(url: str, seconds: float) -> int:
    """wrk -t1 -c4 when installed, else four bounded keep-alive clients; the number of 2xx answers."""
    if shutil.which("wrk"):
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t1", "-c4", f"-d{int(seconds)}s", url, stdout=asyncio.subprocess.PIPE
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 30)
        finally:
            if proc.returncode is None:
                proc.kill()
        total = int(re.search(rb"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        non_2xx = re.search(rb"Non-2xx or 3xx responses: (\d+)", out)
        return total - (int(non_2xx.group(1)) if non_2xx else 0)

    async def one(until: float) -> int:
        ok = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while time.monotonic() < until:
                ok += (await client.get(url)).status_code == 200
        return ok

    until = time.monotonic() + seconds
    return sum(await asyncio.gather(*(one(until) for _ in range(4))))


@pytest.mark.slow
@pytest.mark.nginx
def test_websockets_survive_http_load_with_the_default_access_log(
    tmp_path: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    """The slow one (~85 s): the issue's scenario, with every default option (access log on)."""
    project = served(tmp_path)
    run = tandem.serve(project, "--mode", "split", "--graceful-timeout", str(GRACEFUL), env=clean_env())
    ws_url = run.url.replace("http://", "ws://") + "ws/echo/"
    failures: list[str] = []
    sent = [0] * CLIENTS

    async def scenario() -> int:
        until = time.monotonic() + LOAD_SECONDS
        clients = [asyncio.create_task(echo_client(ws_url, i, until, failures, sent)) for i in range(CLIENTS)]
        answered = await http_load(run.url, LOAD_SECONDS)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=30)
        return answered

    answered = asyncio.run(scenario())
    # What the servers said besides access lines: where to look when a client fails.
    said = [line for line in run.output.splitlines() if '" 101 ' not in line and '"GET / HTTP' not in line]
    assert failures == [], f"{len(failures)} of {CLIENTS} clients failed: {failures[:5]}; " + "\n".join(
        said[-40:]
    )
    assert min(sent) >= LOAD_SECONDS, sent  # every client echoed all along (about two a second)
    assert answered > 1000, f"only {answered} HTTP answers in {LOAD_SECONDS} s"

    # One line per request, written by nginx (buffered: flushed within a second), none by Gunicorn.
    def logged() -> int:
        return sum(
            1 for line in run.output.splitlines() if re.match(r'nginx\s*\| .*"GET / HTTP/1.1" 200 ', line)
        )

    wait_for(lambda: logged() >= answered, timeout=10, message=f"{answered} access lines")
    assert logged() <= answered + 8  # wrk's last requests in flight may be answered but not counted
    assert not any(re.match(r"gunicorn\s*\| .*GET / ", line) for line in run.output.splitlines())

    stop_within(run, GRACEFUL + 5)


# --- a child flooding its output -----------------------------------------------------------------------------


class SlowTerminal(Tandem):
    """A terminal that reads tandem's output at about 50,000 lines a second, like a slow one."""

    def _reader(self) -> None:
        assert self.proc.stdout is not None
        for count, line in enumerate(self.proc.stdout):
            self._queue.put(line.rstrip("\n"))
            if count % 50 == 0:
                time.sleep(0.001)  # wait-ok: the pacing of a deliberately slow reader
        self._queue.put(None)


def control(runtime_dir: Path, command: str, timeout: float = 10) -> tuple[dict[str, Any], float]:
    """One command on tandem's control socket, and the seconds the answer took."""
    started = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(runtime_dir / "control.sock"))
        sock.sendall(json.dumps({"command": command}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data), time.monotonic() - started


RELOAD_BOUND = 30.0  # a reload here takes a few seconds (one new Daphne answering, the old one retired)


def daphne_processes(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in reply["status"]["processes"] if p["role"] == "daphne"]


def test_a_child_flooding_its_output_holds_up_nothing(tmp_path: Path, tandem: TandemRunner) -> None:
    """Daphne prints as fast as it can (unified mode) to a terminal slower than that: tandem drops the
    excess with a count, keeps serving, keeps probing, answers its control socket at once, reloads (the new
    Daphne flooding too) and stops in time."""
    project = served(tmp_path, asgi=FLOOD_ASGI)
    runtime = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem", "serve", "--port", "0", "--runtime-dir", str(runtime),
         "--graceful-timeout", str(GRACEFUL)],
        cwd=project,
        env=clean_env(FLOOD_SECONDS="60", TANDEM_PROBE_INTERVAL="0.5"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )  # fmt: skip
    slow = SlowTerminal(proc)
    tandem.runs.append(slow)  # cleaned up by the fixture, whatever happens
    slow.start_reader()
    slow.wait_ready()

    # Serving goes on, liveness probes (every 0.5 s here) keep passing, and the loop answers at once.
    for _ in range(5):
        assert httpx.get(slow.url + "status/", timeout=10).text == "status ok"
        reply, took = control(runtime, "status")
        assert reply["ok"] is True and took < 1.0, (took, reply)
    slow.wait_for_line(r"tandem\s*\| daphne: [\d,]+ lines dropped", timeout=20)
    assert "stopped answering" not in slow.output and "restarting" not in slow.output
    # Liveness kept passing: the flooding Daphne was never restarted for failing its probes.
    before = daphne_processes(control(runtime, "status")[0])
    assert before and all(p["restarts"] == 0 and p["state"] == "ready" for p in before), before

    # A reload goes through the loop too: new Daphne processes (printing as fast) replace the old ones.
    reply, took = control(runtime, "reload-wait", timeout=RELOAD_BOUND + 5)
    assert reply == {"ok": True, "message": "reload complete"}, reply
    assert took <= RELOAD_BOUND, f"the reload took {took:.1f} s under the flood"
    after = [p for p in daphne_processes(control(runtime, "status")[0]) if p["state"] == "ready"]
    assert len(after) == len(before), after  # the old ones may still be draining (retiring) beside them
    assert {p["pid"] for p in after}.isdisjoint({p["pid"] for p in before}), (before, after)
    assert httpx.get(slow.url + "status/", timeout=10).text == "status ok"
    reply, took = control(runtime, "status")
    assert reply["ok"] is True and took < 1.0, (took, reply)
    assert "stopped answering" not in slow.output and "restarting" not in slow.output
    stop_within(slow, GRACEFUL + 5)


# --- probes never show in an access log ----------------------------------------------------------------------


PROBE_RUNS = {
    "unified": ("--mode", "unified"),
    "split": ("--mode", "split", "--app-access-log"),
    "split-caddy": ("--mode", "split", "--proxy", "caddy"),  # behind Caddy the app servers log
    "unified-uvicorn": ("--mode", "unified", "--server", "uvicorn"),
    # uvicorn answers only WebSockets here: its log must hold none of the probes it answers.
    "split-uvicorn": ("--mode", "split", "--ws-server", "uvicorn", "--app-access-log"),
}


@pytest.mark.parametrize("mode", list(PROBE_RUNS))
def test_probes_are_absent_from_the_access_log(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    """10 s idle with probes every 0.5 s (about 20 per process, plus the ready and reachability checks): the
    access log holds only the two requests the test made. Split mode logs in nginx and, with
    --app-access-log, in Gunicorn and Daphne too; behind Caddy, Gunicorn and Daphne log: none of them logs
    a probe."""
    if mode.startswith("split") and mode != "split-caddy" and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    if mode == "split-caddy" and find_caddy() is None:
        pytest.skip("caddy is not installed (pip install 'django-tandem[caddy]')")
    if "uvicorn" in mode:
        importorskip_server("uvicorn")
    project = served(tmp_path)
    log = tmp_path / "access.log"
    extra = PROBE_RUNS[mode]
    run = tandem.serve(
        project,
        *extra,
        "--access-log-file", str(log),
        "--graceful-timeout", str(GRACEFUL),
        env=clean_env(TANDEM_PROBE_INTERVAL="0.5"),
    )  # fmt: skip
    assert httpx.get(run.url + "status/?m=first", timeout=10).text == "status ok"
    idle_until = time.monotonic() + 10
    wait_for(
        lambda: time.monotonic() >= idle_until and run.proc.poll() is None, timeout=15, message="10 s idle"
    )
    assert httpx.get(run.url + "status/?m=last", timeout=10).text == "status ok"
    # nginx and Gunicorn log each request in split mode here
    servers = 2 if mode in ("split", "split-uvicorn") else 1
    wait_for(
        lambda: log.exists() and log.read_text().count("m=last") == servers, timeout=10, message="the log"
    )
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * servers, lines
    assert not [line for line in lines if "/.tandem/" in line or " 499 " in line]
    # The lines go to the file only, not to the terminal.
    assert "m=first" not in run.output
    stop_within(run, GRACEFUL + 5)


@pytest.mark.nginx
def test_sigusr1_reopens_a_rotated_access_log(tmp_path: Path, tandem: TandemRunner, nginx_bin: str) -> None:
    """logrotate moves the file, then sends SIGUSR1: nginx and Gunicorn start a new file, Daphne notices the
    move itself."""
    project = served(tmp_path)
    log = tmp_path / "access.log"
    run = tandem.serve(
        project, "--mode", "split", "--app-access-log", "--access-log-file", str(log),
        "--graceful-timeout", str(GRACEFUL), env=clean_env(),
    )  # fmt: skip
    assert httpx.get(run.url + "status/?m=before", timeout=10).status_code == 200
    wait_for(lambda: log.read_text().count("m=before") == 2, timeout=10, message="the first lines")
    rotated = log.rename(tmp_path / "access.log.1")
    run.proc.send_signal(signal.SIGUSR1)
    run.wait_for_line(r"tandem\s*\| reopening log files \(gunicorn, nginx\)", timeout=10)

    def logged_after() -> bool:
        httpx.get(run.url + "status/?m=after", timeout=10)
        return log.exists() and log.read_text().count("m=after") >= 2

    wait_for(logged_after, timeout=15, interval=0.5, message="lines in the new file")
    assert "m=after" not in rotated.read_text()
    stop_within(run, GRACEFUL + 5)


@pytest.mark.nginx
def test_a_reload_reopens_a_rotated_access_log(tmp_path: Path, tandem: TandemRunner, nginx_bin: str) -> None:
    """logrotate without a postrotate signal, then `tandem reload` (a deploy): nginx and Gunicorn start the
    new file (nginx keeps writing to the moved one until told); nothing more goes to the moved one. Daphne
    notices a moved file itself (tests/unit/test_accesslog.py)."""
    project = served(tmp_path)
    log = tmp_path / "access.log"
    runtime = tmp_path / "run"
    run = tandem.serve(
        project, "--mode", "split", "--app-access-log", "--access-log-file", str(log),
        "--runtime-dir", str(runtime), "--graceful-timeout", str(GRACEFUL), env=clean_env(),
    )  # fmt: skip
    assert httpx.get(run.url + "status/?m=before", timeout=10).status_code == 200
    wait_for(lambda: log.read_text().count("m=before") == 2, timeout=10, message="the first lines")
    rotated = log.rename(tmp_path / "access.log.1")

    reply, _ = control(runtime, "reload-wait", timeout=RELOAD_BOUND + 5)
    assert reply == {"ok": True, "message": "reload complete"}, reply

    def logged_after() -> bool:
        assert httpx.get(run.url + "status/?m=after", timeout=10).status_code == 200
        return log.exists() and log.read_text().count("m=after") >= 2

    wait_for(logged_after, timeout=15, interval=0.5, message="lines in the new file")
    assert "m=after" not in rotated.read_text()
    stop_within(run, GRACEFUL + 5)


async def echo_once(url: str) -> None:
    """One message to the echo consumer at ``url`` and its echo back."""
    async with connect(url, open_timeout=10) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"


# --- one line per request on the terminal, in each mode and format -------------------------------------------

TERMINAL_LINE = re.compile(r"^(\S+)\s*\| (.*)$")


UVICORN = ("--server", "uvicorn")


@pytest.mark.parametrize(
    ("mode", "log_args"),
    [
        ("unified", ()),
        ("split", ()),
        ("unified", ("--access-log-format", "json")),
        ("split", ("--access-log-format", "json")),
        ("unified", ("--no-access-log",)),
        ("split", ("--no-access-log",)),
        ("unified", UVICORN),
        ("unified", (*UVICORN, "--access-log-format", "json")),
        ("unified", (*UVICORN, "--access-log-format", "combined")),
        ("unified", (*UVICORN, "--no-access-log")),
    ],
    ids=[
        "unified-default",
        "split-default",
        "unified-json",
        "split-json",
        "unified-off",
        "split-off",
        "unified-uvicorn",
        "unified-uvicorn-json",
        "unified-uvicorn-combined",
        "unified-uvicorn-off",
    ],
)
def test_the_terminal_shows_one_line_per_request(
    mode: str, log_args: tuple[str, ...], tmp_path: Path, tandem: TandemRunner
) -> None:
    """20 requests and one WebSocket, then a stop (which flushes every server's buffer): one access line each,
    written by the server the mode's default names (nginx in split, Daphne or uvicorn in unified), in the
    chosen format; none with --no-access-log."""
    if mode == "split" and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    if "uvicorn" in log_args:
        importorskip_server("uvicorn")
    project = served(tmp_path)
    run = tandem.serve(
        project, "--mode", mode, *log_args, "--graceful-timeout", str(GRACEFUL), env=clean_env()
    )
    requests = 20
    with httpx.Client(timeout=10) as client:
        for n in range(requests):
            assert client.get(f"{run.url}status/?n={n}").text == "status ok"

    asyncio.run(echo_once(run.url.replace("http://", "ws://") + "ws/echo/"))
    stop_within(run, GRACEFUL + 5)

    access = [
        (match.group(1), match.group(2))
        for match in map(TERMINAL_LINE.match, run.output.splitlines())
        if match and ("/status/?n=" in match.group(2) or "/ws/echo/" in match.group(2))
    ]
    if "--no-access-log" in log_args:
        assert access == []
        return
    writer = "nginx" if mode == "split" else "uvicorn" if "uvicorn" in log_args else "daphne"
    assert {name.split(".")[0] for name, _ in access} == {writer}, access
    http = [line for _, line in access if "/status/?n=" in line]
    numbers = sorted(int(n) for line in http for n in re.findall(r"\?n=(\d+)", line))
    assert numbers == list(range(requests)), http  # each request once, none missing, none twice
    websocket = [line for _, line in access if "/ws/echo/" in line]
    assert len(websocket) == 1, websocket
    if "json" in log_args:
        records = [json.loads(line) for line in http]
        assert all(r["status"] == 200 and r["request"].startswith("GET /status/?n=") for r in records), (
            records
        )
        assert all(float(r["request_time"]) >= 0 for r in records), records
        if mode == "split":
            assert {r["upstream"] for r in records} == {"gunicorn"}, records
            assert json.loads(websocket[0])["upstream"] == "daphne"
    elif mode == "split":  # common: ... status bytes upstream request_time upstream_time
        assert all(re.search(r'" 200 \d+ gunicorn \d+\.\d{3} \d+\.\d{3}$', line) for line in http), http
        assert re.search(r'" 101 \d+ daphne \d+\.\d{3} \d+\.\d{3}$', websocket[0]), websocket
    elif "combined" in log_args:  # ... status bytes "referer" "user agent" request_time
        assert all(re.search(r'" 200 \d+ "-" "python-httpx/[^"]+" \d+\.\d{3}$', line) for line in http), http
        assert '"WSCONNECT /ws/echo/" 101 - "-" "Python/' in websocket[0], websocket
    else:
        assert all(re.search(r'" 200 \d+ \d+\.\d{3}$', line) for line in http), http
        assert '"WSCONNECT /ws/echo/" 101' in websocket[0], websocket


# --- uvicorn writes the same lines (tandem.runtime.served.AccessLogASGI) ------------------------------------


async def refused_websocket(url: str) -> int:
    """A WebSocket the server refuses: the HTTP status the client got instead of 101."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=10):
            pass
    return refused.value.response.status_code


def test_uvicorn_logs_the_body_limits_413_and_a_refused_websocket(
    tmp_path: Path, tandem: TandemRunner
) -> None:
    """Unified --server uvicorn with a 1 KiB body limit: the 413 tandem's wrapper answers and a WebSocket no
    route takes are logged, each once, with the client's address; nothing of either reaches the terminal."""
    importorskip_server("uvicorn")
    project = served(tmp_path)
    log = tmp_path / "access.log"
    run = tandem.serve(
        project, "--server", "uvicorn", "--access-log-file", str(log), "--graceful-timeout", str(GRACEFUL),
        env=clean_env(TANDEM_MAX_BODY_SIZE="1k"),
    )  # fmt: skip
    assert httpx.post(run.url + "status/?m=big", content=b"x" * 2048, timeout=10).status_code == 413
    # No route: Channels' router raises before an accept, and uvicorn answers 500.
    assert asyncio.run(refused_websocket(run.url.replace("http://", "ws://") + "ws/nowhere/")) == 500
    wait_for(
        lambda: log.exists() and "WSREJECT" in log.read_text() and "m=big" in log.read_text(),
        timeout=10,
        message="both lines in the log",
    )
    lines = log.read_text().splitlines()
    big = [line for line in lines if "m=big" in line]
    refused = [line for line in lines if "/ws/nowhere/" in line]
    assert len(big) == 1 and re.match(
        r'^127\.0\.0\.1 - - \[.*\] "POST /status/\?m=big HTTP/1\.1" 413 \d+ ', big[0]
    ), big
    assert len(refused) == 1 and re.match(
        r'^127\.0\.0\.1 - - \[.*\] "WSREJECT /ws/nowhere/" 500 - -$', refused[0]
    ), refused
    assert "m=big" not in run.output
    stop_within(run, GRACEFUL + 5)


# Consumers that refuse their handshake in each way ASGI allows, and an echo on a non-ASCII path.
REFUSING_CONSUMERS = (
    CONSUMERS
    + """

from channels.generic.websocket import WebsocketConsumer


class DenyConsumer(WebsocketConsumer):
    def connect(self):
        self.close()  # before an accept: the server refuses the handshake


class BoomConsumer(WebsocketConsumer):
    def connect(self):
        raise RuntimeError("the application fails before an accept")


async def unauthorized(scope, receive, send):  # the websocket.http.response extension: its own status
    await receive()  # websocket.connect
    await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
    await send({"type": "websocket.http.response.body", "body": b"who are you?"})
"""
)
REFUSING_ASGI = ASGI_WS_PREFIX.replace(
    "from mysite.consumers import EchoConsumer",
    "from mysite.consumers import BoomConsumer, DenyConsumer, EchoConsumer, unauthorized",
).replace(
    'URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])',
    'URLRouter([path("ws/echo/", EchoConsumer.as_asgi()), path("ws/caf\u00e9/", EchoConsumer.as_asgi()),'
    ' path("ws/deny/", DenyConsumer.as_asgi()), path("ws/boom/", BoomConsumer.as_asgi()),'
    ' path("ws/who/", unauthorized)])',
)


def test_uvicorn_logs_the_status_a_refused_websocket_got(tmp_path: Path, tandem: TandemRunner) -> None:
    """Each WebSocket line carries the status uvicorn really answered: 403 for a close before an accept, 500
    for a consumer that raises, the application's own status for a denial response, 101 for an accept. Paths
    read as Daphne writes them: as the client sent them (percent-escapes kept), WebSocket and HTTP alike."""
    importorskip_server("uvicorn")
    project = served(tmp_path, consumers=REFUSING_CONSUMERS, asgi=REFUSING_ASGI)
    log = tmp_path / "access.log"
    run = tandem.serve(
        project, "--server", "uvicorn", "--access-log-file", str(log), "--graceful-timeout", str(GRACEFUL),
        env=clean_env(),
    )  # fmt: skip
    ws = run.url.replace("http://", "ws://")
    got = {path: asyncio.run(refused_websocket(ws + path)) for path in ("ws/deny/", "ws/boom/", "ws/who/")}
    assert got == {"ws/deny/": 403, "ws/boom/": 500, "ws/who/": 401}, got
    asyncio.run(echo_once(ws + "ws/caf%C3%A9/?q=%C3%A9"))
    assert httpx.get(run.url + "caf%C3%A9/?q=%C3%A9", timeout=10).status_code == 404
    wait_for(
        lambda: log.exists() and len(log.read_text().splitlines()) >= 5,
        timeout=10,
        message="five lines in the log",
    )
    lines = log.read_text().splitlines()
    for path, status in got.items():
        found = [line for line in lines if f"/{path}" in line]
        assert len(found) == 1 and re.match(
            rf'^127\.0\.0\.1 - - \[.*\] "WSREJECT /{path}" {status} - -$', found[0]
        ), (path, found)
    cafe = [line for line in lines if "caf" in line]
    assert len(cafe) == 2, cafe
    assert re.match(r'^127\.0\.0\.1 - - \[.*\] "WSCONNECT /ws/caf%C3%A9/" 101 - -$', cafe[0]), cafe
    assert re.match(r'^127\.0\.0\.1 - - \[.*\] "GET /caf%C3%A9/\?q=%C3%A9 HTTP/1\.1" 404 \d+ ', cafe[1]), cafe
    stop_within(run, GRACEFUL + 5)


@pytest.mark.nginx
def test_uvicorn_behind_nginx_logs_with_app_access_log(
    tmp_path: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    """Split --ws-server uvicorn --app-access-log: nginx and uvicorn each log the WebSocket once, uvicorn
    with the client's address nginx passed on (the socket between them is a unix socket: no address)."""
    importorskip_server("uvicorn")
    project = served(tmp_path)
    run = tandem.serve(
        project, "--mode", "split", "--ws-server", "uvicorn", "--app-access-log",
        "--graceful-timeout", str(GRACEFUL), env=clean_env(),
    )  # fmt: skip

    asyncio.run(echo_once(run.url.replace("http://", "ws://") + "ws/echo/?m=split"))
    stop_within(run, GRACEFUL + 5)
    access = [
        (match.group(1), match.group(2))
        for match in map(TERMINAL_LINE.match, run.output.splitlines())
        if match and "/ws/echo/" in match.group(2)
    ]
    assert sorted(name.split(".")[0] for name, _ in access) == ["nginx", "uvicorn"], access
    line = next(text for name, text in access if name.startswith("uvicorn"))
    assert re.match(r'^127\.0\.0\.1 - - \[.*\] "WSCONNECT /ws/echo/" 101 - -$', line), line
    # nginx's line names the upstream that answered: uvicorn, not the default's daphne.
    proxied = next(text for name, text in access if name == "nginx")
    assert re.search(r'" 101 \d+ uvicorn \d+\.\d{3} \d+\.\d{3}$', proxied), proxied


def test_uvicorn_reopens_a_rotated_access_log(tmp_path: Path, tandem: TandemRunner) -> None:
    """logrotate moves the file without a signal: uvicorn notices the move within its flush second (as
    tandem's Daphne does) and starts a new file; nothing more goes to the moved one."""
    importorskip_server("uvicorn")
    project = served(tmp_path)
    log = tmp_path / "access.log"
    run = tandem.serve(
        project, "--server", "uvicorn", "--access-log-file", str(log), "--graceful-timeout", str(GRACEFUL),
        env=clean_env(),
    )  # fmt: skip
    assert httpx.get(run.url + "status/?m=before", timeout=10).status_code == 200
    wait_for(lambda: log.exists() and "m=before" in log.read_text(), timeout=10, message="the first line")
    rotated = log.rename(tmp_path / "access.log.1")
    wait_for(log.exists, timeout=10, message="a new file")
    assert httpx.get(run.url + "status/?m=after", timeout=10).status_code == 200
    wait_for(lambda: "m=after" in log.read_text(), timeout=10, message="the line in the new file")
    assert "m=after" not in rotated.read_text()
    stop_within(run, GRACEFUL + 5)
