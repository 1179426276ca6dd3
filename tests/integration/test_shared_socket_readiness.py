"""Readiness proves that every Daphne accepts on the shared socket: a probe through that socket must land on
the process (its answer names its pid). A Daphne that answers only on its own probe socket, never having
adopted the shared one, is not ready, and `Ready:` is never printed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Tandem, TandemRunner, clean_env, daphne_pids
from tests.integration.test_split import processes_in, run_to_exit
from tests.small_projects import ASGI_WS_PREFIX, write_served_project

BOOT_FAILURE = 4

# Imported by each Daphne child before its server listens (Daphne imports the application first). The first
# child to create the marker file does not adopt the shared socket, as when tandem's adoption hook is never
# called: its port is a private socket of its own, so it still answers on its probe socket.
SKIP_ADOPTION = """\
import os, socket, sys

_main = sys.modules["__main__"]
if hasattr(_main, "_adopt"):  # inside tandem's Daphne child
    try:
        os.close(os.open(os.path.join(os.path.dirname(__file__), "skip-adoption"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        pass
    else:
        class _NotAdopted:
            def __init__(self):
                self.socket = self  # tandem restores the backlog on port.socket
                self.other, _ = socket.socketpair()  # some socket, not the shared one

            def listen(self, backlog):
                pass

            def fileno(self):
                return self.other.fileno()

            def stopReading(self):
                pass

        def _skip(reactor, fd, factory):
            print(f"test hook: pid {os.getpid()} does not adopt the shared socket", flush=True)
            return _NotAdopted()

        _main._adopt = _skip
"""


@pytest.mark.parametrize("procs", ["1", "2"])
def test_a_daphne_that_did_not_adopt_the_shared_socket_is_not_ready(
    procs: str, tmp_path: Path, tandem: TandemRunner
) -> None:
    project = write_served_project(tmp_path / "proj", asgi=SKIP_ADOPTION + ASGI_WS_PREFIX)
    args = ["serve", "--port", "0", "--procs", procs, "--ready-timeout", "10", "--skip-checks"]
    if procs != "1":
        args += ["--channel-layer", "memory", "--allow-inmemory"]
    run = tandem.start(*args, cwd=project, env=clean_env())
    code = run_to_exit(run)
    assert code == BOOT_FAILURE, run.output
    assert "does not adopt the shared socket" in run.output, run.output
    assert "Ready:" not in run.output, run.output
    assert re.search(r"did not answer within 10 s of starting: .*did not adopt it", run.output), run.output
    if procs != "1":  # the other process answered the probes through the shared socket
        assert "reached other processes" in run.output, run.output
    assert run.alive_descendants() == [] and processes_in(project) == []


def _ready_and_serving(run: Tandem) -> None:
    assert len(daphne_pids(run)) == 2
    assert httpx.get(run.url + "status/", timeout=10).text == "status ok"
    assert "did not adopt" not in run.output, run.output


def test_ready_with_two_daphnes_unified(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(
        project, "--procs", "2", "--channel-layer", "memory", "--allow-inmemory", env=clean_env()
    )
    _ready_and_serving(run)


@pytest.mark.usefixtures("nginx_bin")
def test_ready_with_two_daphnes_split(tmp_path: Path, tandem: TandemRunner) -> None:
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(
        project,
        "--mode",
        "split",
        "--procs",
        "2",
        "--workers",
        "1",
        "--channel-layer",
        "memory",
        "--allow-inmemory",
        env=clean_env(),
    )
    _ready_and_serving(run)
