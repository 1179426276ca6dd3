"""`tandem serve` on corpus projects it has never seen: it acts on what `tandem check` knows.

Each project under tests/corpus/ has one trait from the field: a view that sends group messages with the
in-memory layer, no channel layer at all, no STATIC_ROOT, ALLOWED_HOSTS without 127.0.0.1.
"""

from __future__ import annotations

import json
import os
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


def test_managed_redis_needs_redis_server(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("newsroom", tmp_path)
    code, output = tandem.run(
        "serve", "--mode", "split", "--port", "0", "--redis-server", str(tmp_path / "no-such-redis-server"),
        cwd=project, env=corpus_env(tmp_path),
    )  # fmt: skip
    assert code == 2, output
    assert "no-such-redis-server does not exist" in output and "apt-get install redis-server" in output, (
        output
    )
    assert "Traceback" not in output and "started " not in output, output


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


def test_ready_url_rejected_by_allowed_hosts_is_explained(tmp_path: Path, tandem: TandemRunner) -> None:
    project = copy_corpus("stricthosts", tmp_path)
    run = tandem.serve(project, env=corpus_env(tmp_path))
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
