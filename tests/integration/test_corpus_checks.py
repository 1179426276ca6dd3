"""`tandem check` on the corpus (tests/corpus: small real projects, one per finding of issue 9), run as a
subprocess in a private copy of each project, with the exact codes and levels asserted.

The dict-form Redis host runs against a real redis-server with a password on a free TCP port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REDIS_PASSWORD, REPO, PasswordRedis, clean_env, redis_env
from tests.small_projects import copy_corpus

CORPUS = REPO / "tests" / "corpus"
TIMEOUT = 120
PASSWORD = REDIS_PASSWORD


def copy(name: str, tmp_path: Path) -> Path:
    return copy_corpus(name, tmp_path)


def check(project: Path, settings: str, *args: str, **env: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """(exit code, {code: (level, message + hint)})."""
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "check", "--json", "--settings", settings, *args],
        cwd=project,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.stdout.strip(), f"no JSON on stdout; stderr:\n{result.stderr}"
    report = json.loads(result.stdout)
    found = {
        m["id"].removeprefix("tandem."): (m["level"], f"{m['message']} | {m['hint']}")
        for m in report["messages"]
    }
    return result.returncode, found


def levels(found: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {code: level for code, (level, _) in found.items()}


# --- a real Redis with a password ------------------------------------------------------------------


def test_dict_host_with_password(tmp_path: Path, password_redis: PasswordRedis) -> None:
    """{'host', 'port', 'password', 'db'}: pinged at that address with that password (issue 9 read it as
    localhost:6379); W012 names the same host."""
    project = copy("redisdict", tmp_path)
    where = f"{password_redis.host}:{password_redis.port}/2"
    rc, found = check(project, "dictsite.settings", **redis_env(password_redis, PASSWORD))
    assert rc == 0, found
    assert levels(found) == {"W012": "warning", "I001": "info"}, found
    assert where in found["W012"][1] and "--keep-redis-timeouts" in found["W012"][1]

    rc, found = check(project, "dictsite.settings", **redis_env(password_redis, "wrong-password"))
    assert rc == 1
    assert levels(found) == {"E011": "error", "W012": "warning", "I001": "info"}, found
    assert f"unreachable at {where}" in found["E011"][1]
    assert "6379" not in found["E011"][1].split("|")[0].replace(str(password_redis.port), "")
    assert "wrong-password" not in json.dumps(found)


SERVE_SIDE = textwrap.dedent(
    """
    import json, os, sys
    import django
    from django.conf import settings
    django.setup()
    from tandem.checks import blocking, serve_checks, warnings
    from tandem.config import resolve_config
    from tandem.redishosts import redis_timeout_fix
    cli = json.loads(sys.argv[1])
    found = serve_checks(settings, os.environ, cli)
    config = resolve_config(cli, os.environ, getattr(settings, "TANDEM", None))
    print(json.dumps({
        "errors": [m.id for m in blocking(found)],
        "warnings": [m.id for m in warnings(found)],
        "fix": redis_timeout_fix(settings, config),
    }))
    """
)


def serve_side(project: Path, settings: str, cli: dict[str, object], **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SERVE_SIDE, json.dumps(cli)],
        cwd=project,
        env=clean_env(DJANGO_SETTINGS_MODULE=settings, PYTHONPATH=str(project), **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_serve_raises_the_timeout_instead_of_warning(tmp_path: Path, password_redis: PasswordRedis) -> None:
    """serve's run leaves W012 out (it raises the timeout in its processes and says so in one line);
    --keep-redis-timeouts (TANDEM_KEEP_REDIS_TIMEOUTS) keeps both the timeout and the warning."""
    project = copy("redisdict", tmp_path)
    env = redis_env(password_redis, PASSWORD)
    served = serve_side(project, "dictsite.settings", {}, **env)
    assert served["errors"] == [] and "tandem.W012" not in served["warnings"]  # type: ignore[operator]
    fix = str(served["fix"])
    assert f"{password_redis.host}:{password_redis.port}/2" in fix and PASSWORD not in fix
    kept = serve_side(project, "dictsite.settings", {"keep_redis_timeouts": True}, **env)
    assert "tandem.W012" in kept["warnings"] and kept["fix"] is None  # type: ignore[operator]
    kept = serve_side(project, "dictsite.settings", {}, TANDEM_KEEP_REDIS_TIMEOUTS="1", **env)
    assert "tandem.W012" in kept["warnings"] and kept["fix"] is None  # type: ignore[operator]
    # A wrong password stops serve, as it fails check.
    refused = serve_side(project, "dictsite.settings", {}, **redis_env(password_redis, "nope"))
    assert refused["errors"] == ["tandem.E011"]


CHILD_SIDE = textwrap.dedent(
    """
    import asyncio, json, sys
    from tandem.runtime.overrides import apply_overrides
    from tandem.runtime.spec import RuntimeSpec
    apply_overrides(RuntimeSpec(app="dictsite.asgi:application", probe_token="t", redis_read_timeout=30.0))
    import django
    django.setup()
    from django.conf import settings
    from channels.layers import get_channel_layer

    async def idle_then_receive():
        layer = get_channel_layer()
        name = await layer.new_channel()
        waiting = asyncio.ensure_future(layer.receive(name))
        done, _ = await asyncio.wait({waiting}, timeout=float(sys.argv[1]))
        survived = not done  # still waiting: the read did not time out while idle
        await layer.send(name, {"type": "x.y", "n": 1})
        message = await asyncio.wait_for(waiting, 10)
        return survived, message["n"]

    survived, n = asyncio.run(idle_then_receive())
    host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    print(json.dumps({"survived": survived, "n": n, "timeout": host["socket_timeout"], "port": host["port"]}))
    """
)


def test_child_raises_timeout_and_idle_receive_survives(
    tmp_path: Path, password_redis: PasswordRedis
) -> None:
    """The child side (apply_overrides): the dict host keeps its address and password and reads with 30 s,
    so a receive idle past redis-py's 5 s is still waiting, then gets its message."""
    project = copy("redisdict", tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", CHILD_SIDE, "6.5"],
        cwd=project,
        env=clean_env(
            DJANGO_SETTINGS_MODULE="dictsite.settings",
            PYTHONPATH=str(project),
            **redis_env(password_redis, PASSWORD),
        ),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data == {"survived": True, "n": 1, "timeout": 30.0, "port": password_redis.port}


# --- the applications, imported as the servers import them -----------------------------------------


def test_models_before_asgi_handler(tmp_path: Path) -> None:
    """Works under runserver (Django set up first), fails under Daphne: E004 with the user's lines."""
    project = copy("modelsfirst", tmp_path)
    rc, found = check(project, "mfsite.settings")
    assert rc == 1
    assert levels(found) == {"E004": "error", "W004": "warning", "I001": "info"}, found
    text = found["E004"][1]
    assert "AppRegistryNotReady" in text and "a fresh process" in text
    assert "(board/models.py, line 4, imported from mfsite/asgi.py, line 3)" in text
    assert "get_asgi_application() first" in text
    # runserver's way (Django set up before asgi.py is imported) does work: the finding is about Daphne.
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); import mfsite.asgi"],
        cwd=project,
        env=clean_env(DJANGO_SETTINGS_MODULE="mfsite.settings", PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr


def test_broken_wsgi_is_an_error_only_where_served(tmp_path: Path) -> None:
    project = copy("wsgi_raises", tmp_path)
    rc, found = check(project, "wsgiboom.settings", "--mode", "split")
    assert rc == 1 and levels(found)["E005"] == "error" and "W013" not in found
    assert "NameError" in found["E005"][1] and "(wsgiboom/wsgi.py, line 7)" in found["E005"][1]
    rc, found = check(project, "wsgiboom.settings")
    assert rc == 0 and levels(found)["W013"] == "warning" and "E005" not in found
    assert "--wsgi" in found["W013"][1] and "(wsgiboom/wsgi.py, line 7)" in found["W013"][1]


# --- groups and layers -----------------------------------------------------------------------------


def test_view_that_sends_group_messages(tmp_path: Path) -> None:
    """newsroom's view group_sends with the in-memory layer: in split mode tandem runs Redis (nothing to
    report); with --channel-layer memory it is an error, even with --allow-inmemory, naming the view."""
    project = copy("newsroom", tmp_path)
    layer_codes = {"E002", "E003", "E013", "E014", "W003"}
    rc, found = check(project, "newsroom.settings", "--mode", "split")
    assert not layer_codes & set(found), found
    for extra in ((), ("--allow-inmemory",)):
        rc, found = check(
            project, "newsroom.settings", "--mode", "split", "--channel-layer", "memory", *extra
        )
        assert rc == 1 and {c: levels(found)[c] for c in layer_codes & set(found)} == {"E013": "error"}
        assert "newsroom/views.py:10" in found["E013"][1]
    rc, found = check(project, "newsroom.settings")  # unified: the view runs in Daphne with the consumers
    assert not layer_codes & set(found), found


def test_groups_without_any_layer(tmp_path: Path) -> None:
    project = copy("nolayer", tmp_path)
    for mode in ("unified", "split"):
        rc, found = check(project, "nolayer.settings", "--mode", mode)
        assert rc == 1 and levels(found)["E003"] == "error", found
        assert "NewsConsumer" in found["E003"][1]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("latesite.settings", {"W001": "warning"}),
        ("latesite.settings_before_static", {}),  # not first, but before staticfiles: runserver is Daphne's
        ("latesite.settings_no_daphne", {}),  # not an app at all: nothing claims otherwise
    ],
)
def test_daphne_runserver(tmp_path: Path, settings: str, expected: dict[str, str]) -> None:
    project = copy("daphnelate", tmp_path)
    rc, found = check(project, settings)
    assert rc == 0
    assert {c: lv for c, lv in levels(found).items() if c not in ("W004", "I001")} == expected, found
    if expected:
        assert "after 'django.contrib.staticfiles'" in found["W001"][1]


@pytest.mark.parametrize(
    ("name", "settings", "args"),
    [("nomanage", "nomanage_site.settings", ()), ("shadowed", "tests.settings", ("--project", "example"))],
)
def test_check_finds_projects_as_serve_does(
    tmp_path: Path, name: str, settings: str, args: tuple[str, ...]
) -> None:
    """No manage.py (settings from the environment), and a settings package a nested dir would shadow:
    check loads them exactly as serve does, so it runs its checks instead of failing to find them."""
    project = copy(name, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "check", "--json", *args],
        cwd=project,
        env=clean_env(DJANGO_SETTINGS_MODULE=settings),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"] == settings


def test_plain_django_asgi_app_has_no_websocket_routes_to_guard(tmp_path: Path) -> None:
    """get_asgi_application() alone refuses every WebSocket itself: no origin finding (W004/E006)."""
    rc, found = check(copy("plainstatic", tmp_path), "plainstatic.settings")
    assert rc == 0 and not {"W004", "E006"} & set(found), found
