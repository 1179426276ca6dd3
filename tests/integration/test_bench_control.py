"""`tandem bench` knows a variant's servers from the supervisor's control socket alone (issue 11): with
tandem serve's output thrown away before the bench could read a line of it, the bench still learns it is
ready, its URL, and the pids of its Daphne processes, and stops it all."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import psutil

from tandem.bench.server import ServeRun
from tests.conftest import example_env
from tests.integration.test_bench_smoke import leftovers


def family(pid: int) -> set[int]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    return set()


def listens_on(pids: set[int], port: int) -> bool:
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
    return False


def test_servers_are_found_through_the_control_socket_not_the_output(example_project: Path) -> None:
    # exec keeps the pid the bench started (the supervisor's, which its control socket is registered
    # under); everything it prints goes to /dev/null.
    silent = (
        'exec "$0" -m tandem serve --port 0 --mode unified --procs 2 --graceful-timeout 5 >/dev/null 2>&1'
    )
    env = example_env(example_project)
    run = ServeRun(["sh", "-c", silent, sys.executable], cwd=example_project, env=env)
    try:
        assert run.wait_ready(120) > 0
        assert list(run.lines) == []  # not one line of output reached the bench
        assert run.url is not None and run.url.startswith("http://127.0.0.1:")
        port = int(run.url.rstrip("/").rsplit(":", 1)[1])
        assert listens_on(family(run.proc.pid), port), run.url
        daphnes = run.pids("daphne")
        assert len(daphnes) == 2, run.status
        assert set(daphnes) <= family(run.proc.pid)
        for pid in daphnes:
            assert "daphne" in " ".join(psutil.Process(pid).cmdline()).lower()
        rss = run.rss_kb("daphne")
        assert rss is not None and rss > 0
    finally:
        notes = run.stop(30)
    assert notes == []
    assert leftovers(example_project) == []
