"""Split mode behind either proxy (``--proxy nginx`` and ``--proxy caddy``): the same routing, the real client
address and scheme, files from disk, the body limit, and a reload with WebSockets open.

nginx-only details (its access log naming the upstream, its worker user, `$` refusals) stay in test_split.py;
what both proxies must do is here, parametrised, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Tandem, TandemRunner, example_env, wait_for
from tests.integration.test_split import SPOOF, lines_from, raw_status, websocket

PROXIES = ["nginx", "caddy"]
SERVER_HEADER = {"nginx": "nginx", "caddy": "Caddy"}


@pytest.fixture(params=PROXIES)
def proxy(request: pytest.FixtureRequest) -> str:
    """Each test runs once per proxy, skipped (with the install hint) where that proxy is missing."""
    request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


def split(proxy: str) -> tuple[str, ...]:
    return ("--mode", "split", "--proxy", proxy)


def test_http_to_gunicorn_websockets_and_asgi_prefixes_to_daphne(
    proxy: str, example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project, *split(proxy), "--asgi-prefix", "/whoami/async")
    assert httpx.get(run.url + "whoami", timeout=15).json()["server"] == "wsgi"
    # --asgi-prefix: the prefix and what is below it go to Daphne, its siblings stay with Gunicorn.
    assert httpx.get(run.url + "whoami/async", timeout=15).status_code in (200, 404)
    marker = uuid.uuid4().hex
    with websocket(run.url, f"/ws/echo/?m={marker}") as ws:
        ws.send(marker)
        assert ws.recv(timeout=15) == marker
    assert f"started {proxy}" in run.output
    assert run.stop() == 0
    assert run.alive_descendants() == []


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_client_address_and_scheme_come_from_the_proxy_only(
    proxy: str, server: str, example_project: Path, tandem: TandemRunner
) -> None:
    env = {**example_env(example_project), "CHAT_TRUST_X_FORWARDED_PROTO": "1"}
    extra = ("--asgi-prefix", "/whoami") if server == "asgi" else ()
    run = tandem.serve(example_project, *split(proxy), *extra, "--app-access-log", env=env)
    for headers in ({}, SPOOF):
        answer = httpx.get(run.url + "whoami", headers=headers, timeout=15).json()
        assert answer["server"] == server
        assert answer["remote_addr"] == "127.0.0.1"
        assert (answer["scheme"], answer["is_secure"]) == ("http", False)
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


def test_static_media_and_the_body_limit(proxy: str, example_project: Path, tandem: TandemRunner) -> None:
    media = example_project / "media" / "notes"
    media.mkdir(parents=True)
    (media / "hello.txt").write_text("uploaded earlier\n")
    run = tandem.serve(example_project, *split(proxy), "--workers", "1", "--app-access-log")

    css = httpx.get(run.url + "static/chat/chat.css", timeout=15)
    assert css.status_code == 200
    assert css.content == (example_project / "chat" / "static" / "chat" / "chat.css").read_bytes()
    assert css.headers["server"] == SERVER_HEADER[proxy]  # the proxy answered, not Django
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age=3600" in css.headers["cache-control"]

    upload = httpx.get(run.url + "media/notes/hello.txt", timeout=15)
    assert upload.status_code == 200 and upload.text == "uploaded earlier\n"
    assert upload.headers["server"] == SERVER_HEADER[proxy]
    assert upload.headers["x-content-type-options"] == "nosniff"

    too_big = 11 * 1024 * 1024  # the proxy's limit is 10m
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


def reload_with_a_websocket_open(run: Tandem, project: Path, after_sighup: str | None = None) -> None:
    """Adds a WebSocket route and reloads (SIGHUP) with a socket open: the socket is closed by its retiring
    Daphne with 1012, not cut by the proxy, and the new route answers afterwards. ``after_sighup``: a line
    the reload prints before the old Daphne retires."""
    routing = project / "chat" / "routing.py"
    source = routing.read_text()
    anchor = 'path("ws/echo/", EchoConsumer.as_asgi()),'
    assert anchor in source
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("before")
        assert ws.recv(timeout=15) == "before"
        routing.write_text(source.replace(anchor, anchor + '\n    path("ws/live/", EchoConsumer.as_asgi()),'))
        run.proc.send_signal(signal.SIGHUP)
        if after_sighup is not None:
            run.wait_for_line(after_sighup, timeout=30)
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(100):
                ws.recv(timeout=60)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
    run.wait_for_line(r"reload complete", timeout=30)
    with websocket(run.url, "/ws/live/") as ws:
        ws.send("live")
        assert ws.recv(timeout=15) == "live"


def test_reload_with_a_websocket_open(proxy: str, example_project: Path, tandem: TandemRunner) -> None:
    """A routing change reloads the proxy's config while a WebSocket is open: the socket is closed by its
    Daphne retiring with 1012 (service restart, the client reconnects), not cut by the proxy's reload
    (Caddy without stream_close_delay drops it at once: 1006). The new route works afterwards."""
    run = tandem.serve(example_project, *split(proxy))
    reload_with_a_websocket_open(
        run, example_project, after_sighup=rf"{proxy} config changed with the routing: {proxy} reloaded"
    )
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_the_proxy_killed_is_restarted_on_the_same_socket(
    proxy: str, example_project: Path, tandem: TandemRunner
) -> None:
    """Caddy is supervised like nginx: killed with -9, tandem restarts it, the new one adopts the same public
    socket (the URL does not change) and HTTP and WebSockets go through it again."""

    def proxy_pid() -> int | None:
        code, output = tandem.run("status", "--json", cwd=example_project)
        assert code == 0, output
        found = [p for p in json.loads(output)["processes"] if p["role"] == proxy and p["state"] == "ready"]
        return int(found[0]["pid"]) if found else None

    run = tandem.serve(example_project, *split(proxy))
    old = proxy_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    run.wait_for_line(rf"tandem\s+\| .*{proxy}.*(exited|killed).*restarting", timeout=15)
    new = wait_for(
        lambda: (pid := proxy_pid()) not in (None, old) and pid, timeout=30, interval=0.5, message="new proxy"
    )
    assert httpx.get(run.url + "healthz", timeout=10).status_code == 200
    with websocket(run.url, "/ws/echo/") as ws:
        ws.send("after restart")
        assert ws.recv(timeout=15) == "after restart"
    assert proxy_pid() == new
    assert run.stop() == 0
    assert run.alive_descendants() == []
