"""Config injection through values tandem writes into nginx's config (issue 12, P4 and item 4), with the real
CLI, nginx and app servers on loopback.

The reported attack: the runtime directory was the one value not quoted in the template
(``upstream { server unix:RUNTIME/gunicorn.sock; }``), so ``--runtime-dir '/srv/r; server 127.0.0.1:P; #'``
passed ``nginx -t`` and sent every request, cookies included, to a foreign listener on port P. Now every
value goes through one quoting path: such a directory is one (odd) socket path, and a value nginx cannot
carry is refused, naming the option, before anything is written or started. ``export`` runs ``nginx -t``
too and exits non-zero instead of writing a config nginx refuses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TandemRunner, clean_env
from tests.nginx_parse import find, parse
from tests.small_projects import write_served_project

REQUESTS = 20


class ForeignListener:
    """A TCP listener on loopback standing in for another local user's server: counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nforeign")
            conn.close()

    def __enter__(self) -> ForeignListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@contextlib.contextmanager
def foreign_listener() -> Iterator[ForeignListener]:
    with ForeignListener() as listener:
        yield listener


@pytest.fixture
def short_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh short directory: a unix socket path holds 107 bytes, and pytest's tmp_path can be long.
    Others may enter it (not list it): as root, nginx's workers run as an unprivileged user."""
    directory = Path(tempfile.mkdtemp(prefix="tq", dir="/tmp" if Path("/tmp").is_dir() else str(tmp_path)))
    os.chmod(directory, 0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def injected_runtime_dir(base: Path, port: int) -> Path:
    return base / f"r; server 127.0.0.1:{port}; #"


def test_runtime_dir_cannot_add_an_upstream_in_serve(
    tandem: TandemRunner, tmp_path: Path, short_dir: Path
) -> None:
    project = write_served_project(tmp_path / "project")
    with foreign_listener() as foreign:
        runtime = injected_runtime_dir(short_dir, foreign.port)
        run = tandem.serve(project, "--mode", "split", "--runtime-dir", str(runtime), env=clean_env())
        answers = [httpx.get(run.url + "status/", timeout=10) for _ in range(REQUESTS)]
        time.sleep(0.3)  # wait-ok: a stray connection would reach the listener within this; none must
        print(f"figure: {REQUESTS} requests, {foreign.connections} reached the foreign listener")
        assert [a.text for a in answers] == ["status ok"] * REQUESTS
        assert foreign.connections == 0
        conf = (runtime / "nginx" / "nginx.conf").read_text()
        servers = [d.args for d in find(parse(conf), "server") if d.block is None]
        assert servers == [(f"unix:{runtime}/gunicorn.sock",), (f"unix:{runtime}/daphne.sock",)]
        assert run.stop() == 0


def test_a_space_in_the_runtime_dir_is_served(tandem: TandemRunner, tmp_path: Path, short_dir: Path) -> None:
    """Before: nginx failed to start with a cryptic message about the upstream."""
    project = write_served_project(tmp_path / "project")
    runtime = short_dir / "run time"
    run = tandem.serve(project, "--mode", "split", "--runtime-dir", str(runtime), env=clean_env())
    assert httpx.get(run.url + "status/", timeout=10).text == "status ok"
    assert run.stop() == 0


def test_a_runtime_dir_nginx_cannot_carry_is_refused_by_serve(
    tandem: TandemRunner, tmp_path: Path, short_dir: Path
) -> None:
    project = write_served_project(tmp_path / "project")
    runtime = short_dir / "cost$HOME"
    code, output = tandem.run(
        "serve", "--mode", "split", "--port", "0", "--runtime-dir", str(runtime), cwd=project
    )
    assert code == 2, output
    assert "--runtime-dir" in output and "'$'" in output and "Ready" not in output


def test_export_quotes_the_runtime_dir_and_checks_with_nginx(
    tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    project = write_served_project(tmp_path / "project")
    out = tmp_path / "deploy"
    runtime = "/srv/r; server 127.0.0.1:39999; #"
    code, output = tandem.run("export", "nginx", "--out", str(out), "--runtime-dir", runtime, cwd=project)
    assert code == 0, output
    assert "not checked" not in output  # nginx is installed here: export ran nginx -t
    tree = parse((out / "tandem.conf").read_text())
    servers = [d.args for d in find(tree, "server") if d.block is None]
    assert servers == [(f"unix:{runtime}/gunicorn.sock",), (f"unix:{runtime}/daphne.sock",)]


def test_export_refuses_what_nginx_cannot_carry(tandem: TandemRunner, tmp_path: Path) -> None:
    project = write_served_project(tmp_path / "project")
    cases = {
        ("--runtime-dir", "/srv/cost$HOME"): "--runtime-dir",
        ("--runtime-dir", "/srv/a\nb"): "control character",
        ("--runtime-dir", "run/tandem"): "must be an absolute path",
        ("--asgi-prefix", "/"): "--asgi-prefix / would send every request to Daphne",
        ("--asgi-prefix", "/sse$uri"): "--asgi-prefix",
        ("--nginx", str(tmp_path / "no-such-nginx")): "does not exist",
    }
    for (option, value), message in cases.items():
        out = tmp_path / f"deploy-{abs(hash(value))}"
        code, output = tandem.run("export", "nginx", "--out", str(out), option, value, cwd=project)
        assert code != 0 and message in output, (option, value, output)
        assert not (out / "tandem.conf").exists(), "a refused config must not be written"
