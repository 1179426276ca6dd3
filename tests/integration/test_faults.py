"""Supervision under faults, with real processes and a bounded mixed load (issue 4).

Every fault test checks the guarantee tandem documents: a chat message whose acknowledgement a client
received is in the database and reached every client in the room (live, or from the history a client
reads when it reconnects)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Coroutine
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import (
    BOTH_MODES,
    PASSWORD,
    Redis,
    Tandem,
    TandemRunner,
    create_user,
    example_env,
    wait_for,
)
from tests.integration.chatload import ChatClient, HttpLoad, login


def children_by_role(run: Tandem) -> dict[str, list[psutil.Process]]:
    """The processes tandem started, by role, found from its process tree (never by name system-wide)."""
    roles: dict[str, list[psutil.Process]] = {}
    for proc in psutil.Process(run.proc.pid).children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            parent = proc.parent()
        except psutil.Error:
            continue
        if "tandem.runtime.daphne" in cmdline:
            roles.setdefault("daphne", []).append(proc)
        elif "gunicorn" in cmdline and parent is not None and parent.pid == run.proc.pid:
            roles.setdefault("gunicorn-master", []).append(proc)
        elif "gunicorn" in cmdline:
            roles.setdefault("gunicorn-worker", []).append(proc)
        elif "nginx" in cmdline and parent is not None and parent.pid == run.proc.pid:
            roles.setdefault("nginx", []).append(proc)
    return roles


def saved_ids(project: Path) -> set[int]:
    with sqlite3.connect(project / "db.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT id FROM chat_message")}


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def chat_under_fault(
    run: Tandem, project: Path, fault: object, *, clients: int = 3, messages: int = 15
) -> tuple[list[ChatClient], HttpLoad]:
    """Runs chat clients and HTTP load; ``fault()`` is called once all clients are connected and sending."""
    session = login(run.url, "alice", PASSWORD)
    chat = [ChatClient(run.url, "faults", session, f"c{i}") for i in range(clients)]
    http = HttpLoad(run.url)
    deadline = time.monotonic() + 40
    tasks = [asyncio.create_task(c.run(messages, interval=0.15, deadline=deadline)) for c in chat]
    load = asyncio.create_task(http.run(time.monotonic() + 5))
    # Fault once every client has something acknowledged: the fault lands mid-conversation.
    while time.monotonic() < deadline and not all(c.acked for c in chat):
        await asyncio.sleep(0.05)  # wait-ok: polling the clients' progress inside a bounded wait
    assert callable(fault)
    await asyncio.get_running_loop().run_in_executor(None, fault)
    await asyncio.gather(*tasks, load)
    for client in chat:  # a final read of the room, as a client does when it comes back
        await client.catch_up()
    return chat, http


def assert_nothing_acked_lost(chat: list[ChatClient], project: Path, messages: int) -> None:
    in_db = saved_ids(project)
    every_ack = {saved for client in chat for saved in client.acked.values()}
    for client in chat:
        assert not client.pending, f"{client.name} never got acks for {sorted(client.pending)}"
        assert len(client.acked) == messages
    assert every_ack <= in_db, f"acknowledged but not saved: {sorted(every_ack - in_db)}"
    for client in chat:
        missing = every_ack - client.received
        assert not missing, f"{client.name} never received {sorted(missing)}"


VICTIMS = [
    ("unified", "daphne"),
    ("split", "gunicorn-master"),
    ("split", "gunicorn-worker"),
    ("split", "daphne"),
    ("split", "nginx"),
]


@pytest.mark.parametrize(("mode", "victim"), VICTIMS, ids=[f"{m}-{v}" for m, v in VICTIMS], indirect=["mode"])
def test_kill_9_loses_nothing_acknowledged(
    mode: str, victim: str, example_project: Path, tandem: TandemRunner
) -> None:
    create_user(example_project, "alice", PASSWORD)
    run = tandem.serve(example_project, "--mode", mode, "--workers", "2")
    target = children_by_role(run)[victim][0]
    killed_at: list[float] = []

    def fault() -> None:
        target.send_signal(signal.SIGKILL)
        killed_at.append(time.monotonic())

    chat, http = asyncio.run(chat_under_fault(run, example_project, fault))
    back = wait_for(lambda: healthy(run.url), timeout=15, message="service back after kill -9")
    assert back
    assert_nothing_acked_lost(chat, example_project, messages=15)
    assert http.ok > 0
    if victim in ("daphne", "gunicorn-master", "nginx"):
        run.wait_for_line(r"tandem\s+\| .*(exited|killed).*restarting", timeout=10)
        # The replacement is a new process of the same role.
        wait_for(
            lambda: any(p.pid != target.pid for p in children_by_role(run).get(victim, [])),
            message="replacement",
        )
    assert run.stop() == 0
    assert run.alive_descendants() == []


@BOTH_MODES
def test_sighup_reload_serves_new_code_without_failed_requests(
    mode: str, example_project: Path, tandem: TandemRunner, redis_server: Redis
) -> None:
    create_user(example_project, "alice", PASSWORD)
    layer = ("--channel-layer", redis_server.url)  # two Daphne processes: the room spans both
    run = tandem.serve(example_project, "--mode", mode, "--workers", "2", "--procs", "2", *layer)
    assert httpx.get(run.url + "healthz", timeout=5).json() == {"status": "ok"}
    views = example_project / "chat" / "views.py"
    source = views.read_text()
    assert 'JsonResponse({"status": "ok"})' in source
    views.write_text(
        source.replace('JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "version": 2})')
    )

    async def scenario() -> tuple[HttpLoad, list[ChatClient]]:
        http = HttpLoad(run.url)
        session = login(run.url, "alice", PASSWORD)
        chat = [ChatClient(run.url, "reload", session, f"r{i}") for i in range(2)]
        deadline = time.monotonic() + 30
        load = asyncio.create_task(http.run(time.monotonic() + 8, concurrency=3))
        tasks = [asyncio.create_task(c.run(40, interval=0.25, deadline=deadline)) for c in chat]
        while not all(c.acked for c in chat) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # wait-ok: polling the clients' progress inside a bounded wait
        run.proc.send_signal(signal.SIGHUP)
        await asyncio.gather(load, *tasks)
        return http, chat

    http, chat = asyncio.run(scenario())
    run.wait_for_line(r"reload complete", timeout=30)
    assert http.failed == 0, http.errors[:5]
    assert http.ok > 50
    if mode == "unified":
        # Every chat socket was on a Daphne that got retired: it saw 1012 and came back.
        for client in chat:
            assert 1012 in client.close_codes, client.close_codes
    assert_nothing_acked_lost(chat, example_project, messages=40)
    assert httpx.get(run.url + "healthz", timeout=5).json() == {"status": "ok", "version": 2}
    assert run.stop() == 0
    assert run.alive_descendants() == []


@BOTH_MODES
def test_sigterm_closes_websockets_with_1001_and_leaves_nothing(
    mode: str, example_project: Path, tandem: TandemRunner
) -> None:
    run = tandem.serve(example_project, "--mode", mode, "--graceful-timeout", "5")

    async def scenario() -> list[int | None]:
        import websockets

        url = run.url.replace("http://", "ws://") + "ws/echo/"
        sockets = [await websockets.connect(url, origin=run.url.rstrip("/")) for _ in range(3)]
        for ws in sockets:
            await ws.send("ping")
            assert await ws.recv() == "ping"
        run.proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            try:
                await asyncio.wait_for(ws.recv(), timeout=10)
            except websockets.ConnectionClosed as exc:
                codes.append(exc.rcvd.code if exc.rcvd else None)
        return codes

    started = time.monotonic()
    assert asyncio.run(scenario()) == [1001, 1001, 1001]
    run.remember_descendants()
    assert run.wait_exit(timeout=15) == 0
    assert time.monotonic() - started < 15
    assert run.alive_descendants() == []


@BOTH_MODES
def test_hung_daphne_is_detected_and_replaced(mode: str, example_project: Path, tandem: TandemRunner) -> None:
    env = {
        **os.environ,
        "TANDEM_PROBE_INTERVAL": "0.5",
        "TANDEM_PROBE_TIMEOUT": "0.5",
        "TANDEM_PROBE_FAILURES": "2",
    }
    env.update(example_env(example_project))
    run = tandem.serve(example_project, "--mode", mode, env=env)
    daphne = children_by_role(run)["daphne"][0]
    daphne.send_signal(signal.SIGSTOP)
    try:
        run.wait_for_line(r"did not answer 2 probes in a row: killing it", timeout=15)
        wait_for(
            lambda: any(p.pid != daphne.pid for p in children_by_role(run).get("daphne", [])),
            message="a new Daphne",
        )
        wait_for(lambda: healthy(run.url), timeout=15, message="service back")
        # The new Daphne serves WebSockets.
        echoed = wait_for(
            lambda: _try(echo(run.url, "ws/echo/", "alive")), timeout=15, message="echo from the new Daphne"
        )
        assert echoed == "alive"
    finally:
        if daphne.is_running():
            daphne.send_signal(signal.SIGCONT)
    assert run.stop() == 0
    assert run.alive_descendants() == []


async def echo(base: str, path: str, text: str) -> str:
    """``text`` sent on a WebSocket to ``path`` of the site at ``base``, and the answer."""
    import websockets

    url = base.replace("http://", "ws://") + path
    async with websockets.connect(url, origin=base.rstrip("/"), open_timeout=5) as ws:
        await ws.send(text)
        return str(await ws.recv())


def _try(coroutine: Coroutine[object, object, str]) -> str | None:
    try:
        return asyncio.run(coroutine)
    except Exception:
        return None


def test_reload_picks_up_a_new_websocket_route_in_nginx(
    example_project: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    """Split mode: a route added to the code reaches nginx's config on reload, without a restart."""
    import websockets

    run = tandem.serve(example_project, "--mode", "split")
    with pytest.raises(websockets.InvalidStatus):  # nginx sends it to Gunicorn, which knows no such URL
        asyncio.run(echo(run.url, "ws/live/", "live"))
    routing = example_project / "chat" / "routing.py"
    source = routing.read_text()
    anchor = 'path("ws/echo/", EchoConsumer.as_asgi()),'
    assert anchor in source
    routing.write_text(source.replace(anchor, anchor + '\n    path("ws/live/", EchoConsumer.as_asgi()),'))
    run.proc.send_signal(signal.SIGHUP)
    run.wait_for_line(r"nginx config changed with the routing: nginx reloaded", timeout=30)
    run.wait_for_line(r"reload complete", timeout=30)
    echoed = wait_for(
        lambda: _try(echo(run.url, "ws/live/", "live")), timeout=15, message="echo on the new route"
    )
    assert echoed == "live"
    assert run.stop() == 0
    assert run.alive_descendants() == []
