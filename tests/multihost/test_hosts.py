"""Three app hosts behind one edge, each in its own network namespace, Redis in a fourth, the edge in the
root namespace (issue 15). Root only: skipped with the reason otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import websockets

from tests.conftest import PASSWORD, TANDEM, Tandem, TandemRunner, create_user, example_env
from tests.integration.chatload import ChatClient, HttpLoad, login
from tests.integration.test_faults import assert_nothing_acked_lost
from tests.multihost.conftest import Host, Net


@dataclass
class Site:
    edge: Tandem
    apps: dict[str, Tandem]
    hosts: dict[str, Host]
    project: Path
    redis: subprocess.Popen[bytes]
    redis_url: str
    secret: str


def status(run: Tandem, ns: str | None = None) -> dict:  # type: ignore[type-arg]
    prefix = ["ip", "netns", "exec", ns] if ns else []
    result = subprocess.run(
        [*prefix, *TANDEM, "status", "--pid", str(run.proc.pid), "--json"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"tandem status in {ns or 'the root namespace'}: {result.stderr}"
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def websocket_clients(info: dict) -> int:  # type: ignore[type-arg]
    """Connections the host's Daphne processes hold: WebSockets from the edge (no keep-alive there)."""
    return sum(p["connections"] for p in info["processes"] if p["role"] == "daphne")


def start_site(net: Net, project: Path, tandem: TandemRunner) -> Iterator[Site]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs it as root)")
    redis_host = net.add_host("r", 5)
    apps = {f"a{i}": net.add_host(f"a{i}", 10 + i) for i in (1, 2, 3)}
    net.assert_ready()
    redis = subprocess.Popen(
        ["ip", "netns", "exec", redis_host.name, binary, "--bind", redis_host.address, "--port", "6379",
         "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        redis_url = f"redis://{redis_host.address}:6379/0"
        secret = secrets.token_hex(16)
        env = example_env(project)
        runs = {}
        for label, host in apps.items():
            runs[label] = tandem.start(
                "serve", "--role", "app", "--mode", "split", "--bind", host.address,
                "--channel-layer", redis_url, "--edge-secret", secret, "--workers", "2", "--procs", "1",
                cwd=project, env=env, program=["ip", "netns", "exec", host.name, *TANDEM],
            )  # fmt: skip
        for run in runs.values():
            run.wait_ready(timeout=80)
        upstreams = [arg for host in apps.values() for arg in ("--upstream", host.address)]
        edge = tandem.serve(
            project, "--role", "edge", "--mode", "split", *upstreams, "--edge-secret", secret, env=env
        )
        yield Site(edge, runs, apps, project, redis, redis_url, secret)
    finally:
        redis.terminate()
        redis.wait(timeout=10)


@pytest.fixture
def site(net: Net, example_project: Path, tandem: TandemRunner) -> Iterator[Site]:
    create_user(example_project, "alice", PASSWORD)
    yield from start_site(net, example_project, tandem)


def test_edge_status_shows_every_app_host_answering(site: Site) -> None:
    hosts = status(site.edge)["hosts"]
    assert [h["host"] for h in hosts] == [h.address for h in site.hosts.values()]
    assert all(h["answers"] for h in hosts), hosts


async def _connect(base: str, session: str, room: str) -> websockets.ClientConnection:
    return await websockets.connect(
        base.replace("http://", "ws://") + f"ws/chat/{room}/",
        origin=base.rstrip("/"),
        additional_headers={"Cookie": f"sessionid={session}"},
        open_timeout=5,
    )


def test_a_message_through_the_edge_reaches_clients_on_every_host(site: Site) -> None:
    base = site.edge.url
    session = login(base, "alice", PASSWORD)

    async def scenario() -> tuple[list[dict[str, int]], list[bool], int]:
        clients = []
        for _ in range(6):  # least connections: two per host
            clients.append(await _connect(base, session, "everywhere"))
        per_host = [
            {
                label: websocket_clients(status(run, site.hosts[label].name))
                for label, run in site.apps.items()
            }
        ]
        text = f"hello from the edge {secrets.token_hex(4)}"
        await clients[0].send(json.dumps({"type": "message", "text": text, "client_id": "m1"}))
        got = []
        saved_id = 0
        for client in clients:
            deadline = time.monotonic() + 10
            seen = False
            while time.monotonic() < deadline and not seen:
                message = json.loads(await asyncio.wait_for(client.recv(), timeout=10))
                if message.get("type") == "message" and message.get("text") == text:
                    seen, saved_id = True, int(message["id"])
            got.append(seen)
        for client in clients:
            await client.close()
        return per_host, got, saved_id

    per_host, got, saved_id = asyncio.run(scenario())
    landed = per_host[0]
    assert all(count >= 1 for count in landed.values()), f"WebSockets per host: {landed}"
    assert all(got), f"received on each client: {got}; WebSockets per host: {landed}"
    with sqlite3.connect(site.project / "db.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM chat_message WHERE id = ?", (saved_id,)).fetchone()[0] == 1


@pytest.mark.xfail(
    reason="issue 15, open: after kill -9 of one app host, a chat client that reconnects through the edge "
    "has been seen missing acknowledged messages (c0 never received 1-10); not yet diagnosed",
    strict=False,
)
def test_kill_9_of_a_host_loses_nothing_acknowledged(site: Site) -> None:
    base = site.edge.url
    session = login(base, "alice", PASSWORD)
    victim = site.apps["a2"]
    killed_at: list[float] = []

    async def scenario() -> tuple[list[ChatClient], HttpLoad, list[float]]:
        chat = [ChatClient(base, "hostloss", session, f"c{i}") for i in range(6)]
        http = HttpLoad(base)
        deadline = time.monotonic() + 45
        tasks = [asyncio.create_task(c.run(15, interval=0.15, deadline=deadline)) for c in chat]
        load = asyncio.create_task(http.run(time.monotonic() + 12, concurrency=3))
        while time.monotonic() < deadline and not all(c.acked for c in chat):
            await asyncio.sleep(0.05)  # wait-ok: polling the clients' progress inside a bounded wait
        tree = [victim.proc.pid, *(p.pid for p in psutil.Process(victim.proc.pid).children(recursive=True))]
        for pid in tree:  # the whole tandem process tree of that host, at once
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).send_signal(signal.SIGKILL)
        killed_at.append(time.monotonic())
        reconnected: list[float] = []
        await asyncio.gather(*tasks, load)
        for client in chat:
            await client.catch_up()
        return chat, http, reconnected

    chat, http, _ = asyncio.run(scenario())
    print(
        f"\nHTTP at the edge during the loss of a host: {http.ok} ok, {http.failed} failed ({http.errors[:5]})"
    )
    assert http.ok > 0
    # Only what was in flight on the dead host when it died may fail (one request per load worker); a
    # GET that nginx had not yet sent, or that failed to connect, went to another host.
    assert http.failed <= 3, f"failed at the edge: {http.failed} {http.errors[:10]}"
    assert_nothing_acked_lost(chat, site.project, messages=15)
    hosts = {h["host"]: h["answers"] for h in status(site.edge)["hosts"]}
    assert hosts[site.hosts["a2"].address] is False
    assert all(answer for address, answer in hosts.items() if address != site.hosts["a2"].address)


def test_rolling_reload_refuses_no_request_at_the_edge(site: Site) -> None:
    base = site.edge.url

    async def scenario() -> HttpLoad:
        http = HttpLoad(base)
        load = asyncio.create_task(http.run(time.monotonic() + 60, concurrency=3))
        loop = asyncio.get_running_loop()
        for label, run in site.apps.items():  # host by host, each waited for
            ns = site.hosts[label].name
            result = await loop.run_in_executor(
                None,
                lambda ns=ns, run=run: subprocess.run(
                    ["ip", "netns", "exec", ns, *TANDEM, "reload", "--pid", str(run.proc.pid)],
                    capture_output=True, text=True, timeout=120, check=False,
                ),
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
        load.cancel()
        return http

    http = asyncio.run(scenario())
    print(f"\nrolling reload of 3 hosts: {http.ok} requests ok, {http.failed} failed")
    assert http.ok > 50
    assert http.failed == 0, http.errors[:10]
