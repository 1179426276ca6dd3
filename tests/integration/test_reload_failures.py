"""A failed reload never makes things worse: whatever fails (new code that does not import, a routing change
the proxy cannot take, a new Daphne that never answers), the old processes keep serving and
`tandem reload` exits non-zero with the cause."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Tandem, TandemRunner, clean_env
from tests.small_projects import ASGI_WS_PREFIX, CONSUMERS, copy_corpus, write_served_project

RELOAD_FAILED = 8


def pids(tandem: TandemRunner, project: Path) -> dict[str, int]:
    code, output = tandem.run("status", "--json", cwd=project, env=clean_env())
    assert code == 0, output
    return {p["name"]: p["pid"] for p in json.loads(output)["processes"]}


def still_serving(run: Tandem, tandem: TandemRunner, project: Path, before: dict[str, int]) -> None:
    assert pids(tandem, project) == before  # not one process replaced
    assert httpx.get(run.url + "status/", timeout=10).text == "status ok"


def reload(tandem: TandemRunner, project: Path) -> tuple[int, str]:
    return tandem.run("reload", cwd=project, env=clean_env(), timeout=120)


def test_a_syntax_error_in_a_consumer(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(project, env=clean_env())
    before = pids(tandem, project)
    (project / "mysite" / "consumers.py").write_text(CONSUMERS + "\ndef broken(:\n")
    code, output = reload(tandem, project)
    assert code == RELOAD_FAILED, output
    assert "reload failed: the new code does not import" in output and "SyntaxError" in output, output
    assert "consumers.py" in output and "nothing was changed" in output, output
    still_serving(run, tandem, project, before)
    # Fixed, the next reload goes through.
    (project / "mysite" / "consumers.py").write_text(CONSUMERS)
    code, output = reload(tandem, project)
    assert code == 0 and "reload complete" in output, output


def test_no_wait_returns_once_the_reload_has_started(tmp_path: Path, tandem: TandemRunner) -> None:
    """`tandem reload --no-wait` keeps the old behaviour (issue 13 item 3): it returns 0 as soon as the reload
    has started, before the new code is checked; the failure then shows in the serve log only, and the old
    processes keep serving."""
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(project, env=clean_env())
    before = pids(tandem, project)
    (project / "mysite" / "consumers.py").write_text(CONSUMERS + "\ndef broken(:\n")
    code, output = tandem.run("reload", "--no-wait", cwd=project, env=clean_env(), timeout=60)
    assert code == 0 and "reload failed" not in output, output
    run.wait_for_line(r"reload failed: the new code does not import", timeout=120)
    still_serving(run, tandem, project, before)


@pytest.mark.usefixtures("nginx_bin")
def test_a_routing_change_the_proxy_cannot_take(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(project, "--mode", "split", env=clean_env())
    before = pids(tandem, project)
    conf = Path(run.wait_for_line(r"runtime dir (\S+)").group(1)) / "nginx" / "nginx.conf"
    config_before = conf.read_text()
    # A '$' in a WebSocket prefix: nginx would read it as a variable, so the new config is refused.
    (project / "mysite" / "asgi.py").write_text(ASGI_WS_PREFIX.replace('"ws/echo/"', '"ws/price$/"'))
    code, output = reload(tandem, project)
    assert code == RELOAD_FAILED, output
    assert "reload failed" in output and "$" in output and "nothing was changed" in output, output
    still_serving(run, tandem, project, before)
    assert conf.read_text() == config_before


def test_a_new_daphne_that_never_starts(tmp_path: Path, tandem: TandemRunner) -> None:
    """The new code imports in a plain interpreter (the check passes) but dies under Daphne: the new process
    is dropped and the old one keeps serving."""
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(
        project, "--procs", "2", "--channel-layer", "memory", "--allow-inmemory", env=clean_env()
    )
    before = pids(tandem, project)
    asgi = project / "mysite" / "asgi.py"
    asgi.write_text(
        "import sys\n"
        "if any(arg.endswith('tandem/runtime/daphne.py') for arg in sys.argv):\n"
        "    raise RuntimeError('daphne-only boom')\n" + asgi.read_text()
    )
    code, output = reload(tandem, project)
    assert code == RELOAD_FAILED, output
    assert "reload failed: the new daphne.1" in output and "old one keeps serving" in output, output
    assert "daphne-only boom" in output, output
    still_serving(run, tandem, project, before)


def test_a_new_daphne_that_never_gets_ready(tmp_path: Path, tandem: TandemRunner) -> None:
    """The new code imports in a plain interpreter but hangs under Daphne (it never listens): after
    --ready-timeout the new process is killed, the old ones keep serving, and `tandem reload` exits non-zero
    naming the timeout. Nothing of the hung process is left behind."""
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(project, "--ready-timeout", "20", env=clean_env())
    before = pids(tandem, project)
    asgi = project / "mysite" / "asgi.py"
    asgi.write_text(
        "import sys, threading\n"
        "if any(arg.endswith('tandem/runtime/daphne.py') for arg in sys.argv):\n"
        "    threading.Event().wait()  # a Daphne whose application never finishes importing\n"
        + asgi.read_text()
    )
    code, output = reload(tandem, project)
    assert code == RELOAD_FAILED, output
    # It never finished loading: said so, not that it "did not adopt" the shared socket it never reached.
    assert "reload failed: the new daphne did not become ready within 20 s" in output, output
    assert (
        "the new daphne did not become ready within 20 s: it did not finish loading (or hung before listening)"
        in output
    ), output
    assert "answered" not in output and "did not adopt" not in output, output  # the timeout said once
    assert "old one keeps serving" in output, output
    still_serving(run, tandem, project, before)
    assert run.stop() == 0
    assert run.alive_descendants() == []


def test_reload_on_a_layout_whose_settings_package_a_nested_dir_would_shadow(
    tmp_path: Path, tandem: TandemRunner
) -> None:
    """The new code is checked in a fresh interpreter with the servers' sys.path order, not with the
    working directory first (where example/tests/ would shadow the settings package tests/)."""
    project = copy_corpus("shadowed", tmp_path)
    env = clean_env(DJANGO_SETTINGS_MODULE="tests.settings")
    tandem.serve(project, "--project", "example", env=env)
    code, output = tandem.run("reload", "--project", "example", cwd=project, env=env, timeout=120)
    assert code == 0 and "reload complete" in output, output
