"""`tandem status`, `tandem reload` and `tandem stop` talk to a running `tandem serve` (issue 4)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import TandemRunner


def test_status_reload_and_stop_through_the_control_socket(
    example_project: Path, tandem: TandemRunner
) -> None:
    # Two Daphne processes on the in-memory layer kept on purpose (no managed Redis among the processes).
    run = tandem.serve(example_project, "--procs", "2", "--channel-layer", "memory", "--allow-inmemory")
    code, output = tandem.run("status", "--json", cwd=example_project)
    assert code == 0, output
    status = json.loads(output)
    assert status["state"] == "ready"
    assert status["url"] == run.url
    processes = status["processes"]
    assert [p["name"] for p in processes] == ["daphne.1", "daphne.2"]
    assert all(p["state"] == "ready" and p["pid"] > 0 and p["restarts"] == 0 for p in processes)
    assert {p["pid"] for p in processes} <= run.remember_descendants()

    code, output = tandem.run("status", cwd=example_project)
    assert code == 0 and "daphne.1" in output and "unified mode" in output

    code, output = tandem.run("reload", cwd=example_project)  # waits for the outcome by default
    assert code == 0 and "reload complete" in output, output
    code, output = tandem.run("status", "--json", cwd=example_project)
    after = json.loads(output)
    assert after["reloads"] == 1 and after["last_reload"]["ok"] is True and not after["reloading"]
    assert {p["pid"] for p in after["processes"]}.isdisjoint({p["pid"] for p in processes})
    assert httpx.get(run.url + "healthz", timeout=5).status_code == 200

    code, output = tandem.run("stop", cwd=example_project)
    assert code == 0 and "stopping" in output
    assert run.wait_exit(timeout=30) == 0
    assert run.alive_descendants() == []


def test_status_without_a_running_instance_says_so(example_project: Path, tandem: TandemRunner) -> None:
    code, output = tandem.run("status", cwd=example_project)
    assert code == 6
    assert "no running tandem serve found" in output
    assert "Traceback" not in output
