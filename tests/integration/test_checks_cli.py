"""Every tandem check, against real settings modules (tests/settings_cases), run in a subprocess per module:
`tandem check --json` and `manage.py check [--deploy]`, so Django's global state never leaks between cases.

For each check there is a module that triggers it and one that passes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Redis

CASES_SOURCE = REPO / "tests" / "settings_cases"
CHECK_TIMEOUT = 120


@pytest.fixture(scope="session")
def cases_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the cases project, with its static files collected once."""
    root = tmp_path_factory.mktemp("settings_cases") / "project"
    shutil.copytree(CASES_SOURCE, root, ignore=shutil.ignore_patterns("__pycache__"))
    collected = root / "collected"
    env = base_env(collected)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0", "--settings", "cases.good"],
        cwd=root,
        env=env,
        check=True,
        timeout=CHECK_TIMEOUT,
    )
    return root


def base_env(static_root: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TANDEM_", "DJANGO_SETTINGS", "CASE_", "PYTHONPATH"))
    }
    env["CASE_STATIC_ROOT"] = str(static_root)
    return env


def run_check(
    project: Path, settings: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "check", "--json", "--settings", settings, *args],
        cwd=project,
        env=env or base_env(project / "collected"),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )
    assert result.stdout.strip(), f"no JSON on stdout; stderr:\n{result.stderr}"
    return result.returncode, json.loads(result.stdout)


def ids(report: dict[str, object]) -> set[str]:
    return {str(m["id"]) for m in report["messages"]}  # type: ignore[attr-defined]


def message(report: dict[str, object], code: str) -> dict[str, str]:
    return next(m for m in report["messages"] if m["id"] == code)  # type: ignore[attr-defined]


def problems(report: dict[str, object]) -> set[str]:
    """Errors and warnings (not infos)."""
    return {i for i in ids(report) if not i.startswith("tandem.I")}


# (check, triggering module, CLI arguments, passing module, CLI arguments). Cases that need a live Redis
# are below, with the redis_server fixture.
PAIRS = [
    ("tandem.E001", "cases.e001_bad_option", (), "cases.good", ()),
    ("tandem.E003", "cases.e003_no_layer", (), "cases.good", ()),
    ("tandem.E004", "cases.e004_asgi_broken", (), "cases.good", ()),
    ("tandem.E005", "cases.e005_wsgi_missing", ("--mode", "split"), "cases.good", ("--mode", "split")),
    ("tandem.E006", "cases.e006_open_auth", (), "cases.good", ()),
    ("tandem.E007", "cases.e007_no_hosts", (), "cases.good", ()),
    ("tandem.E007", "cases.e007_public_host", (), "cases.good", ("--public-url", "http://chat.example.com")),
    ("tandem.I002", "cases.i002_no_static_root", (), "cases.good", ("--mode", "split")),
    ("tandem.E009", "cases.e009_read_timeout", (), "cases.e009_read_timeout_ok", ()),
    (
        "tandem.E009",
        "cases.e009_read_timeout_ok",
        ("--ping-interval", "30"),
        "cases.e009_read_timeout_ok",
        (),
    ),
    (
        "tandem.E012",
        "cases.e012_origin_refused",
        (),
        "cases.good",
        ("--public-url", "https://chat.example.com"),
    ),
    ("tandem.W001", "cases.w001_daphne_late", (), "cases.w001_daphne_first", ()),
    ("tandem.W002", "caseproj.settings_no_asgi", (), "cases.good", ()),
    # Split mode, consumers using groups, no group_send elsewhere: the managed Redis passes W003 and E014;
    # the in-memory layer kept is refused (E014) unless --allow-inmemory, then only warned about (W003).
    (
        "tandem.W003",
        "cases.w003_split_inmemory",
        ("--channel-layer", "memory", "--allow-inmemory"),
        "cases.w003_split_inmemory",
        (),
    ),
    (
        "tandem.E014",
        "cases.w003_split_inmemory",
        ("--channel-layer", "memory"),
        "cases.w003_split_inmemory",
        ("--channel-layer", "memory", "--allow-inmemory"),
    ),
    ("tandem.W004", "cases.w004_open_plain", (), "cases.good", ()),
    ("tandem.W005", "cases.w005_any_host", (), "cases.good", ()),
    ("tandem.W006", "cases.w006_tls_no_header", (), "cases.w006_tls_header", ()),
    ("tandem.W007", "cases.w007_header_no_proxy", (), "cases.w006_tls_header", ()),
    ("tandem.W008", "cases.w006_tls_no_header", (), "cases.w008_csrf_trusted", ()),
    # Unified mode with --trusted-proxy runs tandem's proxy in front, which believes the balancer's
    # X-Forwarded-Proto and overwrites anyone else's: Django sees https, and the header setting is safe.
    (
        "tandem.W006",
        "cases.w006_tls_no_header",
        (),
        "cases.w006_tls_no_header",
        ("--trusted-proxy", "10.0.0.1"),
    ),
    (
        "tandem.W007",
        "cases.w007_header_no_proxy",
        (),
        "cases.w007_header_no_proxy",
        ("--trusted-proxy", "10.0.0.1"),
    ),
    # ... and so Django matches a form's https Origin to the request: no CSRF_TRUSTED_ORIGINS needed.
    (
        "tandem.W008",
        "cases.w006_tls_no_header",
        (),
        "cases.w006_tls_no_header",
        ("--trusted-proxy", "10.0.0.1"),
    ),
    ("tandem.W009", "cases.w009_conn_max_age", (), "cases.w009_conn_max_age", ("--mode", "split")),
    ("tandem.W010", "cases.w010_not_collected", (), "cases.good", ()),
    ("tandem.I001", "cases.good", (), "cases.good", ("--public-url", "https://chat.example.com")),
]


@pytest.mark.parametrize(
    ("code", "trigger", "trigger_args", "passing", "passing_args"),
    PAIRS,
    ids=[f"{p[0]}-{p[1].rsplit('.', 1)[-1]}" for p in PAIRS],
)
def test_check_triggers_and_passes(
    cases_template: Path,
    code: str,
    trigger: str,
    trigger_args: tuple[str, ...],
    passing: str,
    passing_args: tuple[str, ...],
) -> None:
    rc, report = run_check(cases_template, trigger, *trigger_args)
    assert code in ids(report), report
    found = message(report, code)
    assert found["message"] and found["hint"], found
    assert rc == (1 if report["errors"] else 0)
    if code.startswith("tandem.E"):
        assert rc == 1
    rc, report = run_check(cases_template, passing, *passing_args)
    assert code not in ids(report), report


def test_good_settings_have_no_problem(cases_template: Path) -> None:
    rc, report = run_check(cases_template, "cases.good")
    assert rc == 0
    assert problems(report) == set(), report
    assert report["mode"] == "unified" and report["procs"] == 1


def test_cli_options_override_settings(cases_template: Path) -> None:
    """E002 from --procs on the command line, from TANDEM_PROCS in the environment, and from settings."""
    rc, report = run_check(cases_template, "cases.good", "--procs", "4", "--channel-layer", "memory")
    assert rc == 1 and "tandem.E002" in ids(report)
    assert "RoomConsumer" in message(report, "tandem.E002")["message"]
    # Without --channel-layer memory, tandem runs its own Redis for the four processes: nothing to report.
    rc, report = run_check(cases_template, "cases.good", "--procs", "4")
    assert "tandem.E002" not in ids(report), report
    env = base_env(cases_template / "collected")
    env["TANDEM_PROCS"] = "3"
    env["TANDEM_CHANNEL_LAYER"] = "memory"
    rc, report = run_check(cases_template, "cases.good", env=env)
    assert rc == 1 and "3 Daphne processes" in message(report, "tandem.E002")["message"]
    rc, report = run_check(cases_template, "cases.e002_inmemory_procs", "--channel-layer", "memory")
    assert "tandem.E002" in ids(report)
    rc, report = run_check(
        cases_template, "cases.e002_inmemory_procs", "--procs", "1", "--channel-layer", "memory"
    )
    assert "tandem.E002" not in ids(report)


def test_daphne_version(cases_template: Path, tmp_path: Path) -> None:
    """E010 reads the installed distribution's version: an older daphne's metadata first on the path."""
    dist = tmp_path / "old" / "daphne-4.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: daphne\nVersion: 4.1.0\n")
    env = base_env(cases_template / "collected")
    env["PYTHONPATH"] = str(tmp_path / "old")
    rc, report = run_check(cases_template, "cases.good", env=env)
    assert rc == 1
    assert "Daphne 4.1.0 is older than 4.2.2" in message(report, "tandem.E010")["message"]
    rc, report = run_check(cases_template, "cases.good")
    assert "tandem.E010" not in ids(report)


def redis_env(project: Path, redis: Redis) -> dict[str, str]:
    env = base_env(project / "collected")
    env["CASE_REDIS_URL"] = redis.url
    return env


def test_redis_cases(cases_template: Path, redis_server: Redis) -> None:
    env = redis_env(cases_template, redis_server)
    # E011: unreachable, with the address tried; passes against a live Redis.
    rc, report = run_check(cases_template, "cases.e011_redis_unreachable", env=env)
    assert rc == 1
    assert "unix:///nonexistent-tandem-case/redis.sock" in message(report, "tandem.E011")["message"]
    rc, report = run_check(cases_template, "cases.split_good", env=env)
    assert rc == 0 and problems(report) == set(), report  # passes E002, E005, E011, W003, W011
    # E002 passes with four processes on a Redis layer.
    rc, report = run_check(cases_template, "cases.e002_redis_procs", env=env)
    assert rc == 0 and problems(report) == set(), report
    assert report["procs"] == 4
    # W011: group expiry shorter than the socket lifetime.
    rc, report = run_check(cases_template, "cases.w011_group_expiry", env=env)
    assert ids(report) & {"tandem.W011", "tandem.E011"} == {"tandem.W011"}
    # W012: a plain URL host gets redis-py's 5 s read timeout, which kills idle consumers;
    # split_good (above) writes its host with a longer socket_timeout and passes.
    rc, report = run_check(cases_template, "cases.w012_read_timeout", env=env)
    assert ids(report) & {"tandem.W012", "tandem.E011"} == {"tandem.W012"}
    assert "socket_timeout" in message(report, "tandem.W012")["hint"]
    # --channel-layer replaces CHANNEL_LAYERS, so reachability is checked at that address instead.
    rc, report = run_check(
        cases_template, "cases.e011_redis_unreachable", "--channel-layer", redis_server.url, env=env
    )
    assert "tandem.E011" not in ids(report)


def test_redis_closed_port_names_address(cases_template: Path) -> None:
    """A TCP address nothing listens on: bound but not listening, so the connection is refused at once."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        url = f"redis://127.0.0.1:{port}/0"
        rc, report = run_check(cases_template, "cases.good", "--channel-layer", url)
    assert rc == 1
    assert f"127.0.0.1:{port}" in message(report, "tandem.E011")["message"]


def manage(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env or base_env(project / "collected"),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )


def test_manage_py_check_runs_tandem_checks(cases_template: Path) -> None:
    """With "tandem" in INSTALLED_APPS, Django runs the base set always and the deploy set with --deploy."""
    result = manage(cases_template, "check", "--settings", "cases.e003_no_layer")
    assert result.returncode == 1
    assert "(tandem.E003)" in result.stderr and "HINT:" in result.stderr
    # E006 is a deployment check: not run by plain check, run by check --deploy.
    result = manage(cases_template, "check", "--settings", "cases.e006_open_auth")
    assert result.returncode == 0, result.stderr
    assert "tandem.E006" not in result.stdout + result.stderr
    result = manage(cases_template, "check", "--deploy", "--settings", "cases.e006_open_auth")
    assert result.returncode == 1
    assert "(tandem.E006)" in result.stderr
    # Options from the environment apply under manage.py too.
    env = base_env(cases_template / "collected")
    env["TANDEM_PROCS"] = "2"
    env["TANDEM_CHANNEL_LAYER"] = "memory"
    result = manage(cases_template, "check", "--settings", "cases.good", env=env)
    assert result.returncode == 1 and "(tandem.E002)" in result.stderr
    # Django's --tag selects tandem's checks; SILENCED_SYSTEM_CHECKS applies to them like any other.
    result = manage(
        cases_template, "check", "--deploy", "--tag", "tandem", "--settings", "cases.w005_silenced"
    )
    # ALLOWED_HOSTS = ['*'] also opens AllowedHostsOriginValidator to every site: E006 stays.
    assert result.returncode == 1 and "(tandem.E006)" in result.stderr
    assert "tandem.W005" not in result.stderr + result.stdout
    assert "1 silenced" in result.stdout + result.stderr
    _, report = run_check(cases_template, "cases.w005_silenced")
    assert "tandem.W005" not in ids(report)


def test_manage_py_tandem_check(cases_template: Path) -> None:
    result = manage(cases_template, "tandem", "check", "--json", "--settings", "cases.w001_daphne_late")
    assert result.returncode == 0, result.stderr
    assert "tandem.W001" in {m["id"] for m in json.loads(result.stdout)["messages"]}
    result = manage(cases_template, "tandem", "check", "--settings", "cases.e007_no_hosts")
    assert result.returncode == 1
    assert "tandem.E007 error: ALLOWED_HOSTS is empty" in result.stdout
    assert "    hint: list the host names" in result.stdout


def test_unloadable_project_is_one_line(cases_template: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "check", "--settings", "cases.no_such_case"],
        cwd=cases_template,
        env=base_env(cases_template / "collected"),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "cases.no_such_case" in result.stderr and "Traceback" not in result.stderr
