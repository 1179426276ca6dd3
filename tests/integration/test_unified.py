"""Unified mode for real: `tandem serve --port 0` on a private copy of the example chat, spoken to over
HTTP and WebSockets exactly as a browser would (session login, CSRF, Origin), with the database and the
process table as witnesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.conftest import Redis, TandemRunner, create_user, daphne_pids, login, wait_for

ROOM = "lobby"
IDLE_SECONDS = 6.5  # longer than channels-redis's blocking pop (5 s)


# --- helpers: a browser's moves, and the witnesses ------------------------------------------------------------


def http(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10, trust_env=False)


def origin_of(base: str) -> str:
    return base.rstrip("/")  # http://127.0.0.1:PORT


def ws_url(base: str, path: str) -> str:
    return "ws://" + urlsplit(base).netloc + path


def open_ws(base: str, path: str, *, session: str | None = None, origin: str | None = None) -> connect:
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    return connect(
        ws_url(base, path),
        origin=origin or origin_of(base),  # type: ignore[arg-type]
        additional_headers=headers,
        proxy=None,
        open_timeout=10,
    )


async def receive_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    """The first JSON frame matching ``predicate``; frames before it (presence counts...) are skipped,
    except an error the test did not expect, which fails at once with the server's reason."""
    async with asyncio.timeout(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if predicate(frame):
                return frame
            assert frame.get("type") != "error", f"unexpected error frame: {frame}"


async def stays_open(ws: ClientConnection, seconds: float) -> None:
    """Nothing but late presence counts arrives for ``seconds``, and the connection is still open after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            break
        assert frame.get("type") == "presence", f"unexpected frame while idle: {frame}"
    await ws.ping()


def is_message(client_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "message" and f.get("client_id") == client_id


def is_ack(client_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "ack" and f.get("client_id") == client_id


def stored_messages(project: Path) -> list[tuple[int, str, str]]:
    """(id, text, username) of every chat message, read straight from the project's SQLite file."""
    with contextlib.closing(sqlite3.connect(project / "db.sqlite3", timeout=10)) as db:
        rows = db.execute(
            "SELECT m.id, m.text, u.username FROM chat_message m LEFT JOIN auth_user u ON u.id = m.user_id "
            "ORDER BY m.id"
        ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG (8-bit RGB), built by hand: signature, IHDR, IDAT, IEND, each with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def owner_pid(ws: ClientConnection, server_port: int, pids: list[int]) -> int | None:
    """The Daphne process holding the server end of this client's TCP connection, from the process table."""
    client_port = ws.local_address[1]
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if (
                conn.laddr
                and conn.raddr
                and conn.laddr.port == server_port
                and conn.raddr.port == client_port
            ):
                return pid
    return None


@pytest.fixture(autouse=True)
def show_output(tandem: TandemRunner) -> Iterator[None]:
    """Each run's output, printed at teardown: pytest shows it when the test failed."""
    yield
    for run in tandem.runs:
        print(f"--- output of {' '.join(run.proc.args[2:])}:\n{run.output}")  # type: ignore[index]


# --- the chat, end to end -----------------------------------------------------------------------------------


async def test_healthz_and_a_message_reaches_both_clients_and_the_database(
    example_project: Path, tandem: TandemRunner
) -> None:
    create_user(example_project, "alice")
    run = tandem.serve(example_project)
    base = run.url
    with http(base) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        session = login(client, "alice")

    async with (
        open_ws(base, f"/ws/chat/{ROOM}/", session=session) as sender,
        open_ws(base, f"/ws/chat/{ROOM}/") as reader,
    ):
        await sender.send(json.dumps({"type": "message", "text": "hello from alice", "client_id": "c-1"}))
        ack = await receive_until(sender, is_ack("c-1"))
        echoed = await receive_until(sender, is_message("c-1"))
        received = await receive_until(reader, is_message("c-1"))

        # The anonymous reader may read but not post: refused with the reason, and nothing stored.
        await reader.send(json.dumps({"type": "message", "text": "anonymous words", "client_id": "c-2"}))
        refusal = await receive_until(reader, lambda f: f.get("type") == "error")

    assert isinstance(ack["id"], int)
    assert ack["duplicate"] is False
    for message in (echoed, received, ack["message"]):
        assert message["id"] == ack["id"]
        assert message["text"] == "hello from alice"
        assert message["user"] == "alice"
        assert message["room"] == ROOM
    assert refusal == {"type": "error", "error": "login required", "client_id": "c-2"}

    # Saved before it was acknowledged: the API and the database file both hold exactly that message.
    with http(base) as client:
        api = client.get(f"/api/rooms/{ROOM}/messages/").json()
    assert [(m["id"], m["text"], m["user"]) for m in api] == [(ack["id"], "hello from alice", "alice")]
    assert stored_messages(example_project) == [(ack["id"], "hello from alice", "alice")]
    # The reconnect catch-up (?since=): what is above the watermark; a bad watermark is a 400, not a 500.
    with http(base) as client:
        caught_up = client.get(f"/api/rooms/{ROOM}/messages/", params={"since": ack["id"] - 1}).json()
        assert [m["id"] for m in caught_up["messages"]] == [ack["id"]] and caught_up["more"] is False
        for bad in ("x", "-5", str(2**70)):
            answer = client.get(f"/api/rooms/{ROOM}/messages/", params={"since": bad})
            assert answer.status_code == 400, (bad, answer.status_code)

    assert run.stop() == 0
    assert run.alive_descendants() == []


async def test_foreign_origin_is_refused_at_the_handshake(
    example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project)
    for foreign in ("http://evil.example", "http://127.0.0.1.evil.example"):
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(run.url, f"/ws/chat/{ROOM}/", origin=foreign):
                pass
        assert refused.value.response.status_code == 403
    # The same handshake with the site's own Origin is accepted: the refusal was about the Origin alone.
    async with open_ws(run.url, f"/ws/chat/{ROOM}/") as ws:
        presence = await receive_until(ws, lambda f: f.get("type") == "presence")
        assert presence["count"] >= 1
    async with open_ws(run.url, "/ws/echo/") as echo:
        await echo.send("ping")
        assert await asyncio.wait_for(echo.recv(), 10) == "ping"


async def test_static_file_and_uploaded_media_are_served(example_project: Path, tandem: TandemRunner) -> None:
    create_user(example_project, "bob")
    run = tandem.serve(example_project)
    image = png()
    with http(run.url) as client:
        css = client.get("/static/chat/chat.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert css.content == (example_project / "staticfiles" / "chat" / "chat.css").read_bytes()
        assert client.get("/static/chat/no-such-file.css").status_code == 404

        session = login(client, "bob")
        async with open_ws(run.url, f"/ws/chat/{ROOM}/", session=session) as watcher:
            token = client.cookies["csrftoken"]
            upload = client.post(
                f"/rooms/{ROOM}/upload/",
                data={"csrfmiddlewaretoken": token, "text": "a red square", "client_id": "up-1"},
                files={"image": ("square.png", image, "image/png")},
                headers={"Accept": "application/json"},
            )
            assert upload.status_code == 200, upload.text[:500]
            saved = upload.json()
            # The room hears about the upload, with the attachment's URL.
            announced = await receive_until(watcher, is_message("up-1"))
        assert announced["id"] == saved["id"]
        assert announced["attachment"] == saved["url"]
        assert saved["url"].startswith("/media/attachments/") and saved["url"].endswith(".png")

        media = client.get(saved["url"])
        assert media.status_code == 200
        assert media.headers["content-type"] == "image/png"
        assert media.content == image
    on_disk = example_project / "media" / saved["url"].removeprefix("/media/")
    assert on_disk.read_bytes() == image
    assert run.stop() == 0


# --- several Daphne processes sharing one socket, with a real Redis ----------------------------------------


async def test_clients_on_different_processes_hear_each_other_through_redis(
    example_project: Path, tandem: TandemRunner, redis_server: Redis
) -> None:
    create_user(example_project, "alice")
    run = tandem.serve(example_project, "--procs", "2", "--channel-layer", redis_server.url)
    pids = daphne_pids(run)
    assert len(pids) == 2, run.output
    port = int(urlsplit(run.url).port or 0)
    with http(run.url) as client:
        session = login(client, "alice")  # one user, two tabs: what matters is which process holds each

    async with contextlib.AsyncExitStack() as stack:
        # The kernel hands each new connection to whichever process accepts first: keep connecting until
        # the process table shows two connections held by two different Daphne processes.
        by_pid: dict[int, ClientConnection] = {}
        for _attempt in range(40):
            ws = await stack.enter_async_context(open_ws(run.url, f"/ws/chat/{ROOM}/", session=session))
            pid = wait_for(
                lambda ws=ws: owner_pid(ws, port, pids), timeout=5, message="the connection's owner"
            )
            by_pid.setdefault(pid, ws)
            if len(by_pid) == 2:
                break
        assert len(by_pid) == 2, f"40 connections all went to one process: {list(by_pid)}"
        tab_a, tab_b = by_pid.values()
        assert owner_pid(tab_a, port, pids) != owner_pid(tab_b, port, pids)

        await tab_a.send(json.dumps({"type": "message", "text": "from process A", "client_id": "a-1"}))
        ack_a = await receive_until(tab_a, is_ack("a-1"))
        heard_by_b = await receive_until(tab_b, is_message("a-1"))
        # A quiet spell longer than channels-redis's 5 s blocking read: the sockets must stay open (a
        # Redis client read timeout no longer than that pop used to kill every idle consumer with 1011).
        await stays_open(tab_b, IDLE_SECONDS)
        await tab_b.send(json.dumps({"type": "message", "text": "from process B", "client_id": "b-1"}))
        ack_b = await receive_until(tab_b, is_ack("b-1"))
        heard_by_a = await receive_until(tab_a, is_message("b-1"))

    assert heard_by_b["id"] == ack_a["id"] and heard_by_b["text"] == "from process A"
    assert heard_by_a["id"] == ack_b["id"] and heard_by_a["text"] == "from process B"
    assert [row[:2] for row in stored_messages(example_project)] == [
        (ack_a["id"], "from process A"),
        (ack_b["id"], "from process B"),
    ]
    assert run.stop() == 0
    assert run.alive_descendants() == []


# --- the management command ---------------------------------------------------------------------------------

MANAGE_PY = [sys.executable, "manage.py"]


def test_manage_py_tandem_serve(example_project: Path, tandem: TandemRunner) -> None:
    run = tandem.start("tandem", "serve", "--port", "0", cwd=example_project, program=MANAGE_PY)
    base = run.wait_ready()
    assert daphne_pids(run), run.output
    with http(base) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/static/chat/chat.js").status_code == 200
    assert run.stop() == 0
    assert run.alive_descendants() == []


# --- shutdown ------------------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_stops_every_process(
    example_project: Path, tandem: TandemRunner, sig: signal.Signals
) -> None:
    run = tandem.serve(example_project, "--procs", "2", "--allow-inmemory")
    daphnes = daphne_pids(run)
    assert len(daphnes) == 2, run.output
    port = int(urlsplit(run.url).port or 0)
    async with open_ws(run.url, "/ws/echo/") as ws:
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), 10) == "still here"
        # Stopped while a WebSocket is open: the stop must not wait on it forever, nor leave it behind.
        code = await asyncio.to_thread(run.stop, sig, 60.0)
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert code == 0, run.output
    assert set(daphnes) <= run.remember_descendants()
    assert run.alive_descendants() == []
    assert port_is_free(port)
