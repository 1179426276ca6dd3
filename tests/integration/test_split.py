"""`tandem serve --mode split` for real: Gunicorn and Daphne behind the managed nginx.

Which server answered is read from nginx's own access log (each line names the upstream that answered:
gunicorn, daphne, or "-" for nginx itself) and from the example's /whoami view, which reports the
request class Django built ("wsgi" for Gunicorn, "asgi" for Daphne) - never from a header the test adds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Redis, Tandem, TandemRunner, create_user, example_env, login, wait_for
from tests.small_projects import ASGI_CATCH_ALL, ASGI_WS_ANY, STATUS_URLS_UNDER_WS, WSGI, write_served_project

pytestmark = pytest.mark.nginx

SPLIT = ("--mode", "split")
LINE = re.compile(r"^(?P<name>[\w.]+)\s*\| (?P<text>.*)$")
SPOOF = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-IP": "203.0.113.10",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Ssl": "on",
    "X-Forwarded-Protocol": "ssl",
    "X-Forwarded-Host": "evil.example",
}
# A path with every character nginx's config syntax gives a meaning to (except "$", which is refused).
HOSTILE = 'we ird "q" it\'s; } {x} #c \\b'


@pytest.fixture(autouse=True)
def _nginx(nginx_bin: str) -> None:
    """Every test here needs the real nginx (skipped with the install hint when it is missing)."""


# --- reading the servers' own output ----------------------------------------------------------------------


def lines_from(run: Tandem, role: str) -> list[str]:
    """Output lines of every process of ``role`` ("gunicorn", "daphne" covers daphne.1, daphne.2 ...)."""
    found = []
    for line in run.output.splitlines():
        match = LINE.match(line)
        if match and match.group("name").split(".")[0] == role:
            found.append(match.group("text"))
    return found


# nginx's access line in tandem's common format: ... "REQUEST" STATUS BYTES UPSTREAM REQUEST_TIME UPSTREAM_TIME
ACCESS = re.compile(r'"(?P<request>[^"]*)" \d{3} \d+ (?P<upstream>\S+) [\d.]+ \S+$')


def answered_by(run: Tandem, needle: str) -> set[str]:
    """Who answered the requests whose request line contains ``needle``, by nginx's access log: "gunicorn",
    "daphne", or "nginx" for what nginx answered itself (files, 413). A WebSocket is logged when it closes."""
    found = set()
    for text in lines_from(run, "nginx"):
        match = ACCESS.search(text)
        if match and needle in match.group("request"):
            found.add("nginx" if match.group("upstream") == "-" else match.group("upstream"))
    return found


def wait_answered(run: Tandem, role: str, needle: str) -> None:
    # nginx writes its access log in batches at least once a second.
    wait_for(
        lambda: role in answered_by(run, needle), timeout=15, message=f"nginx's log of {needle} ({role})"
    )


# --- clients --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def log_in(url: str, username: str) -> Iterator[httpx.Client]:
    """An HTTP session logged in through the project's own login form (served by Gunicorn)."""
    with httpx.Client(base_url=url, timeout=15) as client:
        login(client, username)
        yield client


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


@contextlib.contextmanager
def websocket(url: str, path: str, headers: dict[str, str] | None = None) -> Iterator[ClientConnection]:
    # The client sends no pings of its own (ping_interval=None): only the server's can keep a socket alive.
    with connect(
        url.replace("http://", "ws://", 1) + path.lstrip("/"),
        origin=url.rstrip("/"),  # type: ignore[arg-type]
        additional_headers=headers or {},
        open_timeout=15,
        ping_interval=None,
    ) as ws:
        yield ws


def receive_json(ws: ClientConnection, kind: str, timeout: float = 15) -> dict[str, object]:
    """The next frame of type ``kind``, skipping others (presence updates), within ``timeout`` seconds."""
    for _ in range(20):
        frame = json.loads(ws.recv(timeout=timeout))
        if frame.get("type") == kind:
            return frame  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind!r} frame in 20 frames")


def raw_status(url: str, request: bytes) -> bytes:
    """Send raw request bytes and return the status line (for requests httpx would not send as-is)."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=15) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def served_from_disk(response: httpx.Response, source: Path) -> None:
    """nginx's static file answer: the file's bytes, with the ETag and Last-Modified nginx derives from it.
    Django would answer 404 here (DEBUG is off and the example has no static URL patterns)."""
    assert response.status_code == 200, response.text[:200]
    assert response.content == source.read_bytes()
    assert response.headers["server"] == "nginx"
    assert response.headers.get("etag") and response.headers.get("last-modified")


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is ``directory`` (the app servers tandem starts run there)."""
    pids = []
    for proc in psutil.process_iter(["pid", "cwd"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["cwd"] and Path(proc.info["cwd"]) == directory:
                pids.append(proc.info["pid"])
    return [pid for pid in pids if pid != os.getpid()]


def run_to_exit(run: Tandem, timeout: float = 90) -> int:
    """Wait for a run that should fail, remembering its children as they appear (so none can hide)."""

    def exited() -> bool:
        run.remember_descendants()
        run.pump(0.05)
        return run.proc.poll() is not None

    wait_for(exited, timeout=timeout, message="tandem to exit")
    return run.wait_exit(timeout)


# --- HTTP to Gunicorn, WebSockets to Daphne, files from nginx ---------------------------------------------------


def test_http_goes_to_gunicorn_and_websockets_to_daphne(example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(example_project, *SPLIT)
    marker = uuid.uuid4().hex
    whoami = httpx.get(f"{run.url}whoami?m={marker}", timeout=15)
    assert whoami.json()["server"] == "wsgi"
    wait_answered(run, "gunicorn", marker)

    room = f"r{marker[:12]}"
    with websocket(run.url, f"/ws/chat/{room}/") as ws:
        assert receive_json(ws, "presence")["count"] == 1
    with websocket(run.url, f"/ws/echo/?m={marker}") as ws:
        ws.send(marker)
        assert ws.recv(timeout=15) == marker
    wait_answered(run, "daphne", f"GET /ws/chat/{room}/ ")
    wait_answered(run, "daphne", "GET /ws/echo/")

    assert answered_by(run, f"/whoami?m={marker}") == {"gunicorn"}
    assert answered_by(run, room) == {"daphne"}
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_static_media_and_oversized_bodies_never_reach_django(
    example_project: Path, tandem: TandemRunner
) -> None:
    media = example_project / "media" / "notes"
    media.mkdir(parents=True)
    (media / "hello.txt").write_text("uploaded earlier\n")
    # One Gunicorn worker, logging its own requests (--app-access-log): its log lines come in request
    # order, so the sentinel below comes after any line a static request would have produced.
    run = tandem.serve(example_project, *SPLIT, "--workers", "1", "--app-access-log")

    css = httpx.get(run.url + "static/chat/chat.css", timeout=15)
    served_from_disk(css, example_project / "chat" / "static" / "chat" / "chat.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age=3600" in css.headers["cache-control"]

    upload = httpx.get(run.url + "media/notes/hello.txt", timeout=15)
    served_from_disk(upload, media / "hello.txt")
    assert upload.headers["x-content-type-options"] == "nosniff"

    too_big = 11 * 1024 * 1024  # nginx's client_max_body_size is 10m; the example accepts 5 MiB images
    request = (
        f"POST /rooms/lobby/upload/?m=toobig HTTP/1.1\r\nHost: {httpx.URL(run.url).netloc.decode()}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {too_big}\r\n\r\n"
    ).encode()
    assert raw_status(run.url, request).split()[1] == b"413"

    sentinel = uuid.uuid4().hex
    httpx.get(f"{run.url}healthz?after={sentinel}", timeout=15)
    wait_for(lambda: any(sentinel in t for t in lines_from(run, "gunicorn")), timeout=15, message="sentinel")
    app_lines = lines_from(run, "gunicorn") + lines_from(run, "daphne")
    for needle in ("chat.css", "hello.txt", "toobig"):
        assert not [t for t in app_lines if needle in t], f"{needle} reached an app server"
    wait_answered(run, "nginx", "toobig")  # nginx logs what it refused itself ("-": no upstream)


def test_logged_in_session_is_recognised_on_the_websocket(
    example_project: Path, tandem: TandemRunner
) -> None:
    create_user(example_project, "alice")
    run = tandem.serve(example_project, *SPLIT)
    with log_in(run.url, "alice") as client:
        assert client.get("/whoami").json()["user"] == "alice"  # the session, over HTTP (Gunicorn)
        cookie = cookie_header(client)
    with websocket(run.url, "/ws/chat/lobby/", {"Cookie": cookie}) as ws:
        ws.send(json.dumps({"type": "message", "text": "hello from alice", "client_id": "c1"}))
        ack = receive_json(ws, "ack")
    assert ack["client_id"] == "c1" and ack["message"]["user"] == "alice"  # type: ignore[index]
    # Control: without the session cookie the same message is refused.
    with websocket(run.url, "/ws/chat/lobby/") as ws:
        ws.send(json.dumps({"type": "message", "text": "anonymous", "client_id": "c2"}))
        assert receive_json(ws, "error")["error"] == "login required"


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_client_address_and_scheme_come_from_nginx_only(
    server: str, example_project: Path, tandem: TandemRunner
) -> None:
    """REMOTE_ADDR is the real peer and the scheme is nginx's, whatever forwarding headers the client
    sends, in the Gunicorn path and in the Daphne path (--asgi-prefix /whoami sends /whoami to Daphne).
    CHAT_TRUST_X_FORWARDED_PROTO makes Django itself read X-Forwarded-Proto as well."""
    env = {**example_env(example_project), "CHAT_TRUST_X_FORWARDED_PROTO": "1"}
    extra = ("--asgi-prefix", "/whoami") if server == "asgi" else ()
    # --app-access-log: Daphne's own access log shows the client address it took from nginx's headers.
    run = tandem.serve(example_project, *SPLIT, *extra, "--app-access-log", env=env)
    for headers in ({}, SPOOF):
        answer = httpx.get(run.url + "whoami", headers=headers, timeout=15).json()
        assert answer["server"] == server
        assert answer["remote_addr"] == "127.0.0.1"
        assert (answer["scheme"], answer["is_secure"]) == ("http", False)
    # The WebSocket path: Daphne logs the client address it took from nginx's headers.
    with websocket(run.url, "/ws/echo/", SPOOF) as ws:
        ws.send("x")
        assert ws.recv(timeout=15) == "x"
    wait_for(
        lambda: any("WSCONNECT /ws/echo/" in t for t in lines_from(run, "daphne")),
        timeout=15,
        message="WSCONNECT",
    )
    connects = [t for t in lines_from(run, "daphne") if "WSCONNECT /ws/echo/" in t]
    assert all(t.startswith("127.0.0.1 ") for t in connects), connects
    assert "203.0.113" not in run.output


# gunicorn-asgi is left out: it sends no pings (tandem.servers.gunicorn_asgi, the README's "Other app servers").
@pytest.mark.parametrize("ws_server", ["daphne", "uvicorn"])
def test_idle_websocket_outlives_the_proxy_read_timeout(
    ws_server: str, example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """nginx closes a proxied connection that sends nothing for proxy_read_timeout (5 s here); the ASGI
    server's pings (interval 1 s here; Daphne's are sent by a checker that runs every 2 s, uvicorn's by the
    websockets library) keep an idle socket open past it. Without the pings this test fails: nginx closes the
    socket during the idle period."""
    pytest.importorskip(ws_server)
    env = {**example_env(example_project), "TANDEM_PING_INTERVAL": "1", "TANDEM_WS_READ_TIMEOUT": "5"}
    runtime = tmp_path / "run"
    run = tandem.serve(
        example_project, *SPLIT, "--ws-server", ws_server, "--runtime-dir", str(runtime), env=env
    )
    conf = (runtime / "nginx" / "nginx.conf").read_text()
    assert "proxy_read_timeout 5s;" in conf and "proxy_read_timeout 60s;" not in conf
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("before")
        assert ws.recv(timeout=15) == "before"
        # Idle for 8 s: nothing may arrive, and the socket must not be closed under us.
        with pytest.raises(TimeoutError):
            ws.recv(timeout=8)
        ws.send("after the idle period")
        assert ws.recv(timeout=15) == "after the idle period"


def test_internal_tcp(example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.serve(example_project, *SPLIT, "--internal", "tcp")
    listening = run.wait_for_line(r"gunicorn\s*\| .*Listening at: http://127\.0\.0\.1:(\d+)", timeout=5)
    assert int(listening.group(1)) != httpx.URL(run.url).port
    assert httpx.get(run.url + "whoami", timeout=15).json()["server"] == "wsgi"
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("over tcp")
        assert ws.recv(timeout=15) == "over tcp"
    wait_answered(run, "daphne", "GET /ws/echo/")
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_catch_all_websocket_route_is_routed_by_upgrade_header(tmp_path: Path, tandem: TandemRunner) -> None:
    """A WebSocket route with no literal prefix: nginx picks Daphne by the Upgrade header, so the same
    path goes to Gunicorn as plain HTTP and to Daphne as a WebSocket."""
    project = write_served_project(tmp_path / "proj", asgi=ASGI_CATCH_ALL)
    run = tandem.serve(project, *SPLIT)
    assert httpx.get(run.url + "status/?m=plain", timeout=15).text == "status ok"
    with websocket(run.url, "/status/") as ws:
        ws.send("upgraded")
        assert ws.recv(timeout=15) == "upgraded"
    wait_answered(run, "gunicorn", "GET /status/?m=plain")
    wait_answered(run, "daphne", "GET /status/ HTTP")
    assert "daphne" not in answered_by(run, "status/?m=plain")


def png_of(size: int) -> bytes:
    """A body the example accepts as a PNG (it checks the magic bytes and the size, nothing else)."""
    return b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8)


def test_workers_and_procs_with_redis_layer(
    example_project: Path, tandem: TandemRunner, redis_server: Redis
) -> None:
    """Two Gunicorn workers and two Daphne processes: a message posted over HTTP (Gunicorn) reaches the
    WebSocket clients on Daphne through Redis, whichever Daphne process each client landed on."""
    create_user(example_project, "alice")
    run = tandem.serve(
        example_project, *SPLIT, "--workers", "2", "--procs", "2", "--channel-layer", redis_server.url
    )
    started = [t for t in lines_from(run, "tandem") if t.startswith("started ")]
    assert any("daphne.1" in t for t in started) and any("daphne.2" in t for t in started)
    assert len([t for t in lines_from(run, "gunicorn") if "Booting worker" in t]) == 2

    with log_in(run.url, "alice") as client, contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(websocket(run.url, "/ws/chat/lobby/")) for _ in range(4)]
        for ws in sockets:
            receive_json(ws, "presence")
        image = png_of(5 * 1024 * 1024 - 4096)  # just under the example's 5 MiB limit: nginx lets it through
        posted = client.post(
            "/rooms/lobby/upload/",
            files={"image": ("big.png", image, "image/png")},
            data={"text": "from gunicorn", "client_id": "up1"},
            headers={"X-CSRFToken": client.cookies["csrftoken"], "Accept": "application/json"},
        )
        assert posted.status_code == 200, posted.text
        for ws in sockets:
            message = receive_json(ws, "message")
            assert message["text"] == "from gunicorn" and message["user"] == "alice"
        attachment = httpx.get(run.url.rstrip("/") + posted.json()["url"], timeout=15)
        assert attachment.content == image and attachment.headers.get("etag")
    wait_answered(run, "gunicorn", "POST /rooms/lobby/upload/")
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_stale_static_files_are_collected_before_serving(example_project: Path, tandem: TandemRunner) -> None:
    collected = example_project / "staticfiles"
    for path in sorted(collected.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    collected.rmdir()
    run = tandem.serve(example_project, *SPLIT)
    run.wait_for_line(r"tandem\s*\| collecting static files into .*staticfiles \(.*does not exist yet\)", 5)
    served_from_disk(httpx.get(run.url + "static/chat/chat.css", timeout=15), collected / "chat" / "chat.css")


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["--nginx", "PATH"])
def test_nginx_missing(how: str, example_project: Path, tandem: TandemRunner) -> None:
    env = example_env(example_project)
    if how == "--nginx":
        args, said = ("--nginx", "/nonexistent/nginx"), "/nonexistent/nginx does not exist"
    else:
        # A name that is nowhere: not on PATH, nor in /usr/sbin and the other places nginx lives.
        args, said = ("--nginx", "no-such-nginx"), "no-such-nginx not found (looked on PATH, /usr/sbin"
    run = tandem.start("serve", "--port", "0", *SPLIT, *args, cwd=example_project, env=env)
    code = run_to_exit(run)
    assert code == 2, run.output
    assert said in run.output and "apt-get install nginx" in run.output
    assert "Traceback" not in run.output and "Ready:" not in run.output
    assert run.alive_descendants() == [] and processes_in(example_project) == []


def test_static_root_unset_gets_tandems_own_directory(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    env = {**example_env(example_project), "CHAT_STATIC_ROOT": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = tandem.serve(example_project, *SPLIT, env=env)
    line = run.wait_for_line(r"tandem\s*\| STATIC_ROOT is not set: static files are collected into (\S+)", 5)
    embedded = Path(line.group(1))
    assert embedded.is_relative_to(tmp_path / "cache" / "django-tandem" / "static"), embedded
    # nginx serves them from tandem's directory, not Django.
    served_from_disk(httpx.get(run.url + "static/chat/chat.css", timeout=15), embedded / "chat" / "chat.css")


def test_websocket_prefix_overlapping_an_http_url_is_warned(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj", asgi=ASGI_WS_ANY, urls=STATUS_URLS_UNDER_WS)
    run = tandem.serve(project, *SPLIT)
    warning = run.wait_for_line(
        r"tandem\s*\| warning: Django URL 'ws/status/' .*under the websocket prefix /ws/", 5
    )
    assert "the proxy sends its requests to Daphne" in warning.string
    # And it is true: the HTTP view under /ws/ is answered through Daphne, not Gunicorn.
    response = httpx.get(run.url + "ws/status/", timeout=15)
    assert response.text == "status ok"
    wait_answered(run, "daphne", "GET /ws/status/")
    assert "gunicorn" not in answered_by(run, "/ws/status/")


def test_hostile_static_and_media_paths_are_served(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    static_root = tmp_path / f"static {HOSTILE}"
    media_root = tmp_path / f"media {HOSTILE}"
    (media_root / "x").mkdir(parents=True)
    (media_root / "x" / "a b.txt").write_text("served despite the path\n")
    env = {
        **example_env(example_project),
        "CHAT_STATIC_ROOT": str(static_root),
        "CHAT_MEDIA_ROOT": str(media_root),
    }
    run = tandem.serve(example_project, *SPLIT, env=env)
    served_from_disk(
        httpx.get(run.url + "static/chat/chat.css", timeout=15), static_root / "chat" / "chat.css"
    )
    served_from_disk(httpx.get(run.url + "media/x/a%20b.txt", timeout=15), media_root / "x" / "a b.txt")


def test_dollar_in_static_root_is_refused(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    env = {**example_env(example_project), "CHAT_STATIC_ROOT": str(tmp_path / "price$tag")}
    run = tandem.start("serve", "--port", "0", *SPLIT, cwd=example_project, env=env)
    code = run_to_exit(run)
    assert code == 2, run.output
    assert re.search(
        r"error: STATIC_ROOT '.*price\$tag/?' cannot go into nginx's config: it contains '\$'", run.output
    ), run.output
    assert "collecting static files" not in run.output, run.output  # refused before anything is copied
    assert "Traceback" not in run.output and "Ready:" not in run.output
    assert run.alive_descendants() == [] and processes_in(example_project) == []


def test_gunicorn_failing_to_import_the_wsgi_app_halts_everything(
    tmp_path: Path, tandem: TandemRunner
) -> None:
    # wsgi.py defines `application` (tandem's static check passes) but raises while Gunicorn imports it.
    broken = WSGI.format(package="mysite").replace(
        "application = get_wsgi_application()", 'raise RuntimeError("wsgi-import-boom")\napplication = None'
    )
    project = write_served_project(tmp_path / "proj", wsgi=broken)
    # tandem check reports it first (E005) and serve refuses; past the checks, Gunicorn's boot failure halts.
    run = tandem.start("serve", "--port", "0", *SPLIT, "--skip-checks", cwd=project, env=example_env(project))
    code = run_to_exit(run)
    assert code == 4, run.output  # BootError: a child never became ready
    assert "wsgi-import-boom" in run.output  # Gunicorn's own output, shown
    assert re.search(r"^tandem: error: gunicorn exited", run.output, re.MULTILINE), run.output
    assert "Ready:" not in run.output
    assert run.alive_descendants() == [] and processes_in(project) == []
