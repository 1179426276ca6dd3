"""`tandem serve` on corpus projects it has never seen: it acts on what `tandem check` knows.

Each project under tests/corpus/ has one trait from the field: a view that sends group messages with the
in-memory layer, no channel layer at all, no STATIC_ROOT, ALLOWED_HOSTS without 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import (
    BOTH_MODES,
    REDIS_PASSWORD,
    PasswordRedis,
    TandemRunner,
    clean_env,
    importorskip_server,
    redis_env,
    wait_for,
)
from tests.small_projects import copy_corpus


def corpus_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # A private cache: the embedded STATIC_ROOT must not land in the real home directory.
    return clean_env(**({"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"} | extra))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@BOTH_MODES
def test_group_message_from_a_view_reaches_the_websocket(
    mode: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    project = copy_corpus("newsroom", tmp_path)
    run = tandem.serve(project, "--mode", mode, env=corpus_env(tmp_path))
    ws_url = run.url.replace("http://", "ws://", 1) + "ws/news/"
    with connect(ws_url, open_timeout=10) as ws:  # the consumer joins the group before it accepts
        response = httpx.get(run.url + "publish/", params={"text": "extra, extra"}, timeout=10)
        assert response.status_code == 200, response.text
        assert ws.recv(timeout=10) == "extra, extra"
    if mode == "split":
        # The view ran in a Gunicorn worker, the socket lives in Daphne: tandem ran Redis between them.
        assert "channel layer: managed Redis" in run.output, run.output
        redis_pid = int(run.wait_for_line(r"started redis \(pid (\d+)\)").group(1))
        socket_path = next(
            Path(c.laddr) for c in psutil.Process(redis_pid).net_connections("unix") if c.laddr
        )
        assert socket_path.name == "redis.sock"
        assert not psutil.Process(redis_pid).net_connections("inet"), (
            "the managed Redis listens on no TCP port"
        )
        code, status = tandem.run("status", "--json", cwd=project, env=corpus_env(tmp_path))
        assert code == 0 and json.loads(status)["channel_layer"].startswith("managed Redis"), status
        roles = {p["role"]: p["state"] for p in json.loads(status)["processes"]}
        assert roles["redis"] == "ready", roles
        assert run.stop() == 0, run.output
        assert wait_for(lambda: gone(redis_pid), timeout=10, message="redis-server to exit")
    else:
        # One Daphne: the project's in-memory layer carries the groups, no Redis is started.
        assert "started redis" not in run.output, run.output


def test_group_messages_from_granian_workers_on_their_own_sockets(
    tmp_path: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    """A project we did not write, with Granian over TCP at its defaults (a socket per worker): views run in
    whichever worker the kernel gives nginx's connection, and every one's group message reaches the socket."""
    importorskip_server("granian")
    project = copy_corpus("newsroom", tmp_path)
    run = tandem.serve(
        project, "--mode", "split", "--http-server", "granian", "--internal", "tcp", env=corpus_env(tmp_path)
    )
    ws_url = run.url.replace("http://", "ws://", 1) + "ws/news/"
    with connect(ws_url, open_timeout=10) as ws:
        for number in range(8):
            response = httpx.get(run.url + "publish/", params={"text": f"extra {number}"}, timeout=10)
            assert response.status_code == 200, response.text
            assert ws.recv(timeout=10) == f"extra {number}"
    assert run.stop() == 0, run.output


def test_kept_in_memory_layer_across_processes_is_refused(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("newsroom", tmp_path)
    code, output = tandem.run(
        "serve",
        "--mode",
        "split",
        "--port",
        "0",
        "--channel-layer",
        "memory",
        cwd=project,
        env=corpus_env(tmp_path),
    )
    assert code == 2, output
    assert "nothing was started" in output and "group" in output, output
    assert "started " not in output, output


@pytest.mark.parametrize("given", ["path", "name"])
def test_managed_redis_needs_redis_server(given: str, tmp_path: Path, tandem: TandemRunner) -> None:
    """A path that does not exist is named as such; a bare name found nowhere (redis-server not installed)
    says where it was looked for. Both: one line with the install command, nothing started."""
    project = copy_corpus("newsroom", tmp_path)
    program = str(tmp_path / "no-such-redis-server") if given == "path" else "no-such-redis-server-tandem"
    code, output = tandem.run(
        "serve", "--mode", "split", "--port", "0", "--redis-server", program,
        cwd=project, env=corpus_env(tmp_path),
    )  # fmt: skip
    assert code == 2, output
    expected = f"{program} does not exist" if given == "path" else f"{program} not found (looked on PATH"
    assert expected in output and "apt-get install redis-server" in output, output
    assert "Traceback" not in output and "started " not in output, output


def test_config_says_which_layer_and_why(tmp_path: Path, tandem: TandemRunner) -> None:
    """`tandem config` names the layer serve would give the processes, and why, for each topology."""
    project = copy_corpus("newsroom", tmp_path)

    def effective(*args: str) -> dict[str, str]:
        code, output = tandem.run("config", "--json", *args, cwd=project, env=corpus_env(tmp_path))
        assert code == 0, output
        row: dict[str, str] = json.loads(output)["project"]["channel_layer (effective)"]
        return row

    split = effective("--mode", "split")
    assert split["value"] == "managed Redis", split
    assert "cannot carry group messages between processes" in split["source"], split
    assert effective("--procs", "2")["value"] == "managed Redis"
    unified = effective()  # one Daphne: the in-memory layer carries the groups (make run's case)
    assert "Redis" not in unified["value"] and "InMemoryChannelLayer" in unified["source"], unified
    kept = effective("--mode", "split", "--channel-layer", "memory")
    assert kept["value"] == "InMemoryChannelLayer" and "--channel-layer memory" in kept["source"], kept


def test_managed_redis_is_restarted_and_keeps_nothing(tmp_path: Path, tandem: TandemRunner) -> None:
    """The managed Redis is supervised like nginx: killed, it is started again on the same socket and the
    group messages flow again; it writes nothing to disk (no RDB, no AOF)."""
    import redis

    project = copy_corpus("newsroom", tmp_path)
    run = tandem.serve(project, "--mode", "split", env=corpus_env(tmp_path))
    started = r"started redis \(pid (\d+)\)"
    first = int(run.wait_for_line(started).group(1))
    socket_path = next(Path(c.laddr) for c in psutil.Process(first).net_connections("unix") if c.laddr)
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5)
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    workdir = Path(client.config_get("dir")["dir"])
    client.close()
    ws_url = run.url.replace("http://", "ws://", 1) + "ws/news/"

    def round_trip(text: str) -> bool:
        try:
            with connect(ws_url, open_timeout=5) as ws:
                if httpx.get(run.url + "publish/", params={"text": text}, timeout=5).status_code != 200:
                    return False
                return bool(ws.recv(timeout=5) == text)
        except (OSError, TimeoutError, ConnectionClosed, httpx.HTTPError):
            return False  # while Redis is down, the handshake or the view fails: try again

    assert round_trip("before"), run.output
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: gone(first), timeout=10, message="the killed redis-server to exit")

    def restarted() -> int:
        pids = [int(p) for p in re.findall(started, run.output)]
        return pids[-1] if len(pids) > 1 else 0

    second = wait_for(restarted, timeout=30, message="tandem to start redis again")
    assert second != first
    assert wait_for(lambda: round_trip("after"), timeout=30, message="group messages through the new Redis")
    assert run.stop() == 0, run.output
    assert wait_for(lambda: gone(second), timeout=10, message="redis-server to exit")
    left = sorted(p.name for p in workdir.rglob("*")) if workdir.exists() else []
    assert not [n for n in left if n.endswith((".rdb", ".aof")) or n.startswith("appendonly")], left


def test_redis_url_with_a_bad_password_stops_serve(
    tmp_path: Path, tandem: TandemRunner, password_redis: PasswordRedis
) -> None:
    """--channel-layer redis://:PASSWORD@HOST:PORT/N on a real redis-server with requirepass: the wrong
    password is E011 before anything starts (the password never printed); the right one carries a view's
    group message to the WebSocket in split mode, with no managed Redis."""
    project = copy_corpus("newsroom", tmp_path)
    where = f"{password_redis.host}:{password_redis.port}/0"
    code, output = tandem.run(
        "serve", "--mode", "split", "--port", "0", "--channel-layer", f"redis://:wrong-pw-tandem@{where}",
        cwd=project, env=corpus_env(tmp_path),
    )  # fmt: skip
    assert code == 2, output
    assert "tandem.E011" in output and where in output and "nothing was started" in output, output
    assert "wrong-pw-tandem" not in output and "started " not in output and "Traceback" not in output, output

    run = tandem.serve(
        project, "--mode", "split", "--channel-layer", f"redis://:{REDIS_PASSWORD}@{where}",
        env=corpus_env(tmp_path),
    )  # fmt: skip
    assert "started redis" not in run.output and REDIS_PASSWORD not in run.output, run.output
    with connect(run.url.replace("http://", "ws://", 1) + "ws/news/", open_timeout=10) as ws:
        assert httpx.get(run.url + "publish/", params={"text": "via url"}, timeout=10).status_code == 200
        assert ws.recv(timeout=10) == "via url"


@BOTH_MODES
def test_check_errors_stop_serve(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("nolayer", tmp_path)
    code, output = tandem.run("serve", "--mode", mode, "--port", "0", cwd=project, env=corpus_env(tmp_path))
    assert code == 2, output
    assert "tandem.E003" in output and "hint:" in output and "--skip-checks" in output, output
    assert "started " not in output and "Traceback" not in output, output


def test_skip_checks_starts_anyway_and_says_so(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("nolayer", tmp_path)
    run = tandem.serve(project, "--skip-checks", env=corpus_env(tmp_path))
    assert "--skip-checks: tandem's deployment checks were not run" in run.output, run.output
    assert httpx.get(run.url + "publish/", timeout=10).status_code == 500  # group_send with no layer


@BOTH_MODES
def test_project_without_static_root_gets_its_static_files(
    mode: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    project = copy_corpus("plainstatic", tmp_path)
    run = tandem.serve(project, "--mode", mode, env=corpus_env(tmp_path))
    assert "STATIC_ROOT is not set: static files are collected into" in run.output, run.output
    response = httpx.get(run.url + "static/pages/site.css", timeout=10)
    assert response.status_code == 200 and "#123456" in response.text, (response.status_code, run.output)
    collected = list((tmp_path / "cache" / "django-tandem" / "static").glob("plainstatic-*/pages/site.css"))
    assert len(collected) == 1, collected
    assert not (project / "staticfiles").exists()
    if mode == "split":
        assert response.headers.get("server") == "nginx", response.headers


@BOTH_MODES
def test_no_static_root_with_debug_on_serves_what_runserver_serves(
    mode: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    """The field report: DEBUG on and no STATIC_ROOT, where runserver serves the apps' static files; tandem
    served 404. The embedded STATIC_ROOT does not depend on DEBUG."""
    project = copy_corpus("plainstatic", tmp_path)
    settings = project / "plainstatic" / "settings.py"
    text = settings.read_text()
    assert "DEBUG = False" in text  # else this test would run with the corpus's DEBUG, not on
    settings.write_text(text.replace("DEBUG = False", "DEBUG = True"))
    run = tandem.serve(project, "--mode", mode, env=corpus_env(tmp_path))
    response = httpx.get(run.url + "static/pages/site.css", timeout=10)
    assert response.status_code == 200 and "#123456" in response.text, (response.status_code, run.output)


def test_an_edited_static_file_is_collected_again_in_unified_mode(
    tmp_path: Path, tandem: TandemRunner
) -> None:
    project = copy_corpus("plainstatic", tmp_path)
    env = corpus_env(tmp_path)
    run = tandem.serve(project, env=env)
    assert run.stop() == 0
    css = project / "pages" / "static" / "pages" / "site.css"
    css.write_text("body { color: #abcdef; }\n")
    future = css.stat().st_mtime + 10
    os.utime(css, (future, future))
    run = tandem.serve(project, env=env)
    assert "collecting static files" in run.output, run.output
    assert "#abcdef" in httpx.get(run.url + "static/pages/site.css", timeout=10).text


def test_unwritable_embedded_static_root_is_one_clear_error(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("plainstatic", tmp_path)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    code, output = tandem.run(
        "serve", "--port", "0", cwd=project, env=corpus_env(tmp_path, XDG_CACHE_HOME=str(blocker))
    )
    assert code == 2, output
    assert "cannot use" in output and "set STATIC_ROOT" in output, output
    assert "Traceback" not in output and "started " not in output, output


@BOTH_MODES
def test_ready_url_rejected_by_allowed_hosts_is_explained(
    mode: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    project = copy_corpus("stricthosts", tmp_path)
    run = tandem.serve(project, "--mode", mode, env=corpus_env(tmp_path))
    # Asked right after Ready, off the supervisor's loop: the line follows Ready.
    run.wait_for_line(
        r"answers 400 Bad Request: ALLOWED_HOSTS \['chat.example.com'\] does not include '127.0.0.1'",
        timeout=15,
    )
    # It still serves: the public host is another name.
    response = httpx.get(run.url, headers={"Host": "chat.example.com"}, timeout=10)
    assert response.status_code == 200 and response.text == "plain"


def test_media_is_nosniff_in_unified_mode(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("plainstatic", tmp_path)
    settings = project / "plainstatic" / "settings.py"
    media = tmp_path / "media"
    media.mkdir()
    (media / "upload.txt").write_text("<script>alert(1)</script>")
    settings.write_text(settings.read_text() + f'MEDIA_URL = "/media/"\nMEDIA_ROOT = {str(media)!r}\n')
    run = tandem.serve(project, env=corpus_env(tmp_path))
    response = httpx.get(run.url + "media/upload.txt", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers


def test_idle_websocket_survives_a_project_redis_with_the_5s_read_timeout(
    tmp_path: Path, tandem: TandemRunner, password_redis: PasswordRedis
) -> None:
    """The project writes its channels-redis host as a dict without socket_timeout (redis-py 8 reads with
    5 s, channels-redis blocks 5 s waiting for a message): serve raises the timeout in its processes, so a
    WebSocket idle for 30 s still gets its group messages. With --keep-redis-timeouts it dies with 1011."""
    project = copy_corpus("redisdict", tmp_path)
    env = corpus_env(tmp_path, **redis_env(password_redis, REDIS_PASSWORD))
    run = tandem.serve(project, env=env)
    assert "raising the Redis read timeout to 30 s" in run.output, run.output
    origin = run.url.rstrip("/")
    ws_url = origin.replace("http://", "ws://", 1) + "/ws/feed/"
    with connect(ws_url, origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=30)  # idle: nothing arrives, and the socket must stay open through it
        ws.send(json.dumps({"n": 1}))
        assert json.loads(ws.recv(timeout=10)) == {"n": 1}
    assert run.stop() == 0

    kept = tandem.serve(project, "--keep-redis-timeouts", env=env)
    assert "raising the Redis read timeout" not in kept.output
    kept_origin = kept.url.rstrip("/")
    kept_ws = kept_origin.replace("http://", "ws://", 1) + "/ws/feed/"
    with (
        connect(kept_ws, origin=kept_origin, open_timeout=10) as ws,  # type: ignore[arg-type]
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011, closed.value


@BOTH_MODES
def test_models_imported_before_the_asgi_handler_stop_serve(
    mode: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    """Works under runserver, fails under Daphne (AppRegistryNotReady): check knows, so serve refuses first,
    naming the user's file and line, before any process starts."""
    project = copy_corpus("modelsfirst", tmp_path)
    code, output = tandem.run("serve", "--mode", mode, "--port", "0", cwd=project, env=corpus_env(tmp_path))
    assert code == 2, output
    assert "tandem.E004" in output and "AppRegistryNotReady" in output and "asgi.py, line" in output, output
    assert "started " not in output and "Traceback" not in output, output


@BOTH_MODES
def test_project_redis_host_as_a_dict_with_password(
    mode: str, tmp_path: Path, tandem: TandemRunner, password_redis: PasswordRedis
) -> None:
    """channels-redis hosts written as {'host', 'port', 'password', 'db'}: serve pings the right server with
    the right password and the group round trip works through it; a wrong password stops serve (E011)."""
    project = copy_corpus("redisdict", tmp_path)
    env = corpus_env(tmp_path, **redis_env(password_redis, REDIS_PASSWORD))
    run = tandem.serve(project, "--mode", mode, env=env)
    assert "started redis" not in run.output  # the project's own Redis, not a managed one
    origin = run.url.rstrip("/")
    with connect(origin.replace("http://", "ws://", 1) + "/ws/feed/", origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"dict": "host"}))
        assert json.loads(ws.recv(timeout=10)) == {"dict": "host"}
    assert run.stop() == 0

    wrong = corpus_env(tmp_path, **redis_env(password_redis, "not-the-password"))
    code, output = tandem.run("serve", "--mode", mode, "--port", "0", cwd=project, env=wrong)
    assert code == 2, output
    assert "tandem.E011" in output and f"{password_redis.host}:{password_redis.port}/2" in output, output
    assert "not-the-password" not in output and "started " not in output, output


@BOTH_MODES
def test_daphne_after_staticfiles_serves_and_warns(mode: str, tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("daphnelate", tmp_path)
    run = tandem.serve(project, "--mode", mode, env=corpus_env(tmp_path))
    warnings = run.output[: run.output.index("Ready:")]
    assert "tandem.W001 warning" in warnings, run.output
