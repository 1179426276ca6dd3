"""Stopping what a benchmark started (a ``tandem serve``, or the hand-built stack's three processes), by pid.

Each process was started in its own session, so its pid is also its process group's id. Stopping is TERM
to each, one bounded wait for all of them, KILL to the group of any still running, then a wait for every
descendant seen while it ran, and KILL to those that linger. Nothing is signalled once its Popen has reaped
it: from then on its pid, and so its group's id, may be another process's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psutil

Procs = Mapping[str, subprocess.Popen[Any]]


def alive(process: psutil.Process) -> bool:
    """Running and not a zombie: a process that still needs stopping."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_processes(
    procs: Procs,
    descendants: Callable[[], Iterable[psutil.Process]],
    timeout: float,
    *,
    owner: str,
    linger: float = 10.0,
) -> list[str]:
    """Stops ``procs`` (TERM in the mapping's order, KILL after ``timeout`` seconds), then waits ``linger``
    seconds for what ``descendants()`` lists (asked once, before the TERM) and kills what is left. Returns
    what went wrong, one line each, naming ``owner`` for a descendant that outlived it. Interrupted while
    waiting (a second Ctrl-C), it kills everything at once and re-raises."""
    try:
        return _stop(procs, descendants, timeout, owner=owner, linger=linger)
    except KeyboardInterrupt:
        kill_processes(procs, descendants())
        raise


def kill_processes(procs: Procs, descendants: Iterable[psutil.Process], wait: float = 5.0) -> None:
    """KILL at once: each process group whose leader has not been reaped, and every descendant; then waits
    up to ``wait`` seconds for them to be gone."""
    descendants = list(descendants)
    for proc in procs.values():
        _kill_group(proc)
    for process in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()  # psutil checks the pid was not reused since it was seen
    for proc in procs.values():  # reaped by their Popen first, which would otherwise never learn the code
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    psutil.wait_procs([p for p in descendants if alive(p)], timeout=wait)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    if proc.returncode is None:  # not reaped: the pid, and so the group id, is still this process's
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _stop(
    procs: Procs,
    descendants: Callable[[], Iterable[psutil.Process]],
    timeout: float,
    *,
    owner: str,
    linger: float,
) -> list[str]:
    problems: list[str] = []
    seen = list(descendants())
    for proc in procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            problems.append(f"{name} did not stop within {timeout:.0f} s of TERM: killed")
            _kill_group(proc)
            try:
                proc.wait(timeout=linger)
            except subprocess.TimeoutExpired:
                problems.append(f"{name} (pid {proc.pid}) was still there {linger:.0f} s after KILL")
    _, left = psutil.wait_procs([p for p in seen if alive(p)], timeout=linger)
    for process in left:
        problems.append(f"pid {process.pid} outlived {owner}: killed")
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(left, timeout=5)
    return problems
