"""Stopping what the bench started (tandem.bench.processes), with real child processes in sessions of their
own: TERM, KILL for one that ignores it, descendants that outlive their parent, a second Ctrl-C, and the
hand-built stack's temporary directory removed on every one of those paths."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tandem.bench import processes
from tandem.bench.handbuilt import HandbuiltRun
from tandem.bench.processes import alive, kill_processes, stop_processes
from tandem.bench.server import ServeRun
from tandem.project import INMEMORY_LAYER, ChannelLayer, Project
from tandem.routes import RouteTable

SLEEP = ["sleep", "30"]
DEAF = ["sh", "-c", "trap '' TERM; sleep 30"]  # TERM ignored, by sh and the sleep it waits for
LEAVES_CHILD = ["sh", "-c", "sleep 30 & wait"]  # sh dies of TERM, its background sleep does not get it


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every child a test starts, killed by pid afterwards whatever the test did."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        for process in _family(proc):
            with contextlib.suppress(psutil.Error):
                process.kill()
        if proc.returncode is None:
            proc.kill()
            proc.wait(timeout=10)


def _family(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        parent = psutil.Process(proc.pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def spawn(started: list[subprocess.Popen[bytes]], argv: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    started.append(proc)
    return proc


def family_when_up(proc: subprocess.Popen[bytes], size: int) -> list[psutil.Process]:
    """The process and its descendants once there are ``size`` of them (sh has forked its sleep)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        family = _family(proc)
        if len(family) >= size:
            return family
        time.sleep(0.02)  # wait-ok: polling interval of a bounded wait
    raise AssertionError(f"pid {proc.pid} never had {size - 1} children")


def assert_gone(family: list[psutil.Process]) -> None:
    assert [p.pid for p in family if alive(p)] == []


def test_term_stops_them_all_and_reports_nothing(started: list[subprocess.Popen[bytes]]) -> None:
    procs = {"first": spawn(started, SLEEP), "second": spawn(started, SLEEP)}
    family = [p for proc in procs.values() for p in family_when_up(proc, 1)]
    begun = time.monotonic()
    assert stop_processes(procs, lambda: family, 10.0, owner="the test") == []
    assert time.monotonic() - begun < 5
    assert [proc.returncode for proc in procs.values()] == [-15, -15]
    assert_gone(family)


def test_one_that_ignores_term_is_killed_with_its_group(started: list[subprocess.Popen[bytes]]) -> None:
    deaf, fine = spawn(started, DEAF), spawn(started, SLEEP)
    family = family_when_up(deaf, 2) + family_when_up(fine, 1)
    problems = stop_processes({"deaf": deaf, "fine": fine}, lambda: family, 0.5, owner="the test", linger=2)
    assert problems == ["deaf did not stop within 0 s of TERM: killed"]
    assert deaf.returncode == -9 and fine.returncode == -15
    assert_gone(family)  # the sleep sh was waiting for too: KILL went to the whole group


def test_a_descendant_that_outlives_its_parent_is_killed(started: list[subprocess.Popen[bytes]]) -> None:
    proc = spawn(started, LEAVES_CHILD)
    family = family_when_up(proc, 2)
    problems = stop_processes({"sh": proc}, lambda: family, 5.0, owner="the test", linger=0.5)
    assert problems == [f"pid {family[1].pid} outlived the test: killed"]
    assert_gone(family)


def test_a_second_ctrl_c_kills_everything_at_once(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    deaf = spawn(started, DEAF)
    family = family_when_up(deaf, 2)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(processes, "_stop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stop_processes({"deaf": deaf}, lambda: family, 30.0, owner="the test")
    assert deaf.returncode == -9
    assert_gone(family)


def test_kill_signals_no_group_whose_leader_was_reaped(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reaped, running = spawn(started, SLEEP), spawn(started, SLEEP)
    reaped.terminate()
    reaped.wait(timeout=10)
    signalled: list[int] = []
    real_killpg = os.killpg

    def killpg(pgid: int, sig: int) -> None:
        signalled.append(pgid)
        real_killpg(pgid, sig)

    monkeypatch.setattr(os, "killpg", killpg)
    kill_processes({"reaped": reaped, "running": running}, [])
    assert signalled == [running.pid]  # the reaped one's pid may be anyone's by now
    assert running.returncode == -9


def test_one_still_there_after_kill_is_reported_not_raised(started: list[subprocess.Popen[bytes]]) -> None:
    deaf = spawn(started, DEAF)
    family = family_when_up(deaf, 2)
    real_wait = deaf.wait

    def never(timeout: float | None = None) -> int:  # as a process stuck in the kernel would
        raise subprocess.TimeoutExpired(deaf.args, timeout or 0)

    deaf.wait = never  # type: ignore[method-assign]
    try:
        problems = stop_processes({"deaf": deaf}, lambda: family, 0.2, owner="the test", linger=5)
    finally:
        deaf.wait = real_wait  # type: ignore[method-assign]
    assert problems == [
        "deaf did not stop within 0 s of TERM: killed",
        f"deaf (pid {deaf.pid}) was still there 5 s after KILL",
    ]
    deaf.wait(timeout=10)
    assert_gone(family)  # KILL was sent to it all the same


# --- the two users of the helper ------------------------------------------------------------------------


def test_serve_run_stop_kills_what_ignores_term(tmp_path: Path) -> None:
    run = ServeRun(DEAF, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    family = family_when_up(run.proc, 2)  # type: ignore[arg-type]
    try:
        run.remember_descendants()
        assert run.stop(timeout=0.5) == ["tandem serve did not stop within 0 s of TERM: killed"]
        assert run.proc.returncode == -9
        assert_gone(family)
        run.kill()  # after stop (as after a Ctrl-C): the reaped pid is signalled no more
    finally:
        for process in family:
            with contextlib.suppress(psutil.Error):
                process.kill()


def plain_project(root: Path, module: str) -> Project:
    """A project of one module: ``module:application`` for Gunicorn, ``module:asgi`` for Daphne."""
    return Project(
        root=root, settings_module=module, settings_source="test", asgi_app=f"{module}:asgi",
        asgi_source="test", wsgi_app=f"{module}:application", wsgi_source="test", static_url=None,
        static_root=None, media_url=None, media_root=None, channel_layer=ChannelLayer(INMEMORY_LAYER, "test"),
        allowed_hosts=(), debug=False, installed_apps=(), data_upload_max_memory_size=None,
    )  # fmt: skip


def handbuilt(tmp_path: Path, procs: dict[str, subprocess.Popen[bytes]]) -> HandbuiltRun:
    run = HandbuiltRun(plain_project(tmp_path, "x"), RouteTable((), ()), nginx="nginx", environ={}, cores=1)
    run.workdir = Path(tempfile.mkdtemp(prefix="tandem-handbuilt-test-"))
    run.procs = procs
    return run


def test_handbuilt_stop_kills_and_removes_its_directory(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    procs = {
        "gunicorn": spawn(started, SLEEP),
        "daphne": spawn(started, DEAF),
        "nginx": spawn(started, SLEEP),
    }
    family = [p for proc in procs.values() for p in family_when_up(proc, 2 if proc.args == DEAF else 1)]
    run = handbuilt(tmp_path, procs)
    workdir = run.workdir
    assert workdir is not None and workdir.is_dir()
    assert run.stop(timeout=0.5) == ["daphne did not stop within 0 s of TERM: killed"]
    assert not workdir.exists()
    assert_gone(family)
    run.kill()  # all reaped: nothing is signalled, nothing raised


def test_handbuilt_directory_is_removed_when_stop_is_interrupted(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = {"gunicorn": spawn(started, DEAF), "nginx": spawn(started, SLEEP)}
    family = [p for proc in procs.values() for p in family_when_up(proc, 2 if proc.args == DEAF else 1)]
    run = handbuilt(tmp_path, procs)
    workdir = run.workdir
    assert workdir is not None

    def interrupted(*args: Any, **kwargs: Any) -> list[psutil.Process]:
        raise KeyboardInterrupt

    monkeypatch.setattr(psutil, "wait_procs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.stop(timeout=0.5)
    assert not workdir.exists()
    assert_gone(family)
