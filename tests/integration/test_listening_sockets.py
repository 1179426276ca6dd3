"""The public socket tandem binds reaches nginx's workers non-blocking.

nginx adopts inherited sockets ($NGINX) as they are, and sets O_NONBLOCK only on sockets it opens itself.
With a blocking one, a worker woken for a connection the other worker accepted first sat in accept4() until
the next new connection reached it, while the other, idle, worker took every new one (tandem's probes
included): every WebSocket the stuck worker held went unanswered. Seen as 4 of 50 echo clients silent for
10 s as an HTTP load ended (tests/integration/test_access_log.py, CI), and reproduced off CI with 16 of 50,
the worker's stack in inet_csk_accept. The race itself cannot be forced from outside, so this checks the
condition it needs: every process serving the public port holds it non-blocking.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from tests.conftest import TandemRunner, clean_env
from tests.small_projects import write_served_project


def listening_holders(root_pid: int, port: int) -> dict[int, int]:
    """{pid: fd} of every process under ``root_pid`` holding the socket that listens on ``port``."""
    found = {}
    for proc in psutil.Process(root_pid).children(recursive=True):
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    found[proc.pid] = conn.fd
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def open_flags(pid: int, fd: int) -> int:
    for line in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no flags in /proc/{pid}/fdinfo/{fd}")


@pytest.mark.nginx
def test_nginx_workers_hold_the_public_socket_non_blocking(
    tmp_path: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    project = write_served_project(tmp_path / "proj")
    run = tandem.serve(project, "--mode", "split", env=clean_env())
    port = urlsplit(run.url).port
    assert port is not None
    holders = listening_holders(run.proc.pid, port)
    workers = [pid for pid in holders if "worker process" in " ".join(psutil.Process(pid).cmdline())]
    assert workers, f"no nginx worker holds port {port}: {holders}"
    blocking = {
        f"{pid} {' '.join(psutil.Process(pid).cmdline())}": fd
        for pid, fd in holders.items()
        if not open_flags(pid, fd) & os.O_NONBLOCK
    }
    assert blocking == {}, f"the public socket is blocking in {blocking}"
