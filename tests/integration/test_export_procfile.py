"""What `tandem export procfile` writes works when followed: each Procfile line started the way honcho and
foreman start it (/bin/sh -c, in the export directory, with the user's own environment), the exported
nginx server block in front (its listen line moved to a free loopback port), and `tandem verify` passes
against it; Django sees the client's address through nginx (the example's /whoami view). The same for unified
mode behind Caddy (--mode unified --proxy caddy), with the exported Caddyfile run by a real Caddy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tandem.runtime.exported import EXIT_SECRETS
from tests.conftest import TandemRunner, example_env, wait_for
from tests.integration.test_export import running_nginx
from tests.integration.test_verify import TOKEN, run_verify, served_env
from tests.nginx_check import harness


def procfile_processes(procfile: Path) -> list[tuple[str, str]]:
    entries = []
    for line in procfile.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries.append((name.strip(), command.strip()))
    return entries


@contextlib.contextmanager
def started(
    entries: list[tuple[str, str]], cwd: Path, env: dict[str, str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Each line under /bin/sh -c in its own process group, stopped (TERM, then KILL) whatever happens."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _name, command in entries:
            procs.append(
                subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def assert_verify_passes(project: Path, url: str) -> None:
    """tandem verify on the exported servers: nothing fails, and the HTTP path and the echo route were
    really probed (a run that skipped everything would also have nothing failing). The diagnostic endpoint
    answered verify's token, which the servers read from the exported secrets file."""
    rc, report = run_verify(project, url, "--idle", "1", "--echo", "/ws/echo/")
    assert rc == 0, report
    assert {r["status"] for r in report["results"]} <= {"PASS", "SKIP"}, report  # type: ignore[index]
    passed = {r["name"] for r in report["results"] if r["status"] == "PASS"}  # type: ignore[index]
    assert "websocket /ws/echo/" in passed and "HTTP /" in passed, report
    assert "diagnostic endpoint" in passed, report


def assert_secrets_apart(out: Path) -> None:
    """The diagnostic token is not on the Procfile's command lines (ps shows them) but in tandem.secrets,
    written 0600 beside it."""
    assert TOKEN not in (out / "Procfile").read_text()
    secrets = out / "tandem.secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {"diagnostic_token": TOKEN}


@contextlib.contextmanager
def behind_exported_nginx(
    entries: list[tuple[str, str]], out: Path, project: Path, nginx_bin: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, object]]]:
    """The Procfile's lines started, the exported nginx server block in front of them on a free loopback
    port; yields its URL and the answer of /whoami once the servers answer it through nginx."""
    # The user's own environment (here the example's database and media paths), as a .env would give it.
    env = example_env(project)
    with started(entries, out, env) as procs, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        conf = out / "nginx" / "tandem.conf"
        conf.write_text(conf.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};", 1))
        # As root nginx's workers would run as nobody, who cannot enter the private runtime dir (the
        # README tells a host to give www-data that access).
        extra = "user root;" if os.geteuid() == 0 else ""
        with running_nginx(nginx_bin, harness(tmp_path / "harness", conf, extra=extra), listener) as nginx:
            url = f"http://127.0.0.1:{port}/"

            def whoami() -> httpx.Response | None:
                assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
                for proc in procs:
                    assert proc.poll() is None, f"a Procfile process exited with {proc.returncode}"
                with contextlib.suppress(httpx.TransportError):
                    response = httpx.get(url + "whoami", timeout=5)
                    if response.status_code == 200:
                        return response
                return None

            answer = wait_for(whoami, timeout=60, message="the exported servers behind nginx").json()
            yield url, answer


def export_procfile(example_project: Path, tandem: TandemRunner, tmp_path: Path) -> Path:
    """`tandem export procfile` of the example into tmp_path/deploy, its runtime directory tmp_path/run."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    out = tmp_path / "deploy"
    code, output = tandem.run(
        "export", "procfile", "--out", str(out), "--runtime-dir", str(runtime),
        cwd=example_project, env=served_env(example_project),
    )  # fmt: skip
    assert code == 0, output
    return out


def test_exported_procfile_serves_and_passes_verify(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    out = export_procfile(example_project, tandem, tmp_path)
    assert_secrets_apart(out)
    entries = procfile_processes(out / "Procfile")
    assert [name for name, _ in entries] == ["gunicorn", "daphne"]
    with behind_exported_nginx(entries, out, example_project, nginx_bin, tmp_path) as (url, answer):
        # Gunicorn on a unix socket has no peer address: 127.0.0.1 is nginx's X-Real-IP, applied
        # by tandem.runtime.wsgi.
        assert answer["server"] == "wsgi" and answer["remote_addr"] == "127.0.0.1", answer
        assert_verify_passes(example_project, url)
    assert TOKEN  # the diagnostic endpoint verify used came from the exported TANDEM_RUNTIME


def test_exported_unified_procfile_behind_caddy_serves_and_passes_verify(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, caddy_bin: str
) -> None:
    """`tandem export procfile --mode unified --proxy caddy`: the Daphne line and the exported Caddyfile, run
    by a real Caddy (the site moved to a loopback socket this test bound and hands over with bind fd/N, its
    admin API off), answer every request through Caddy, pass `tandem verify`, and Django sees the client's
    own address (127.0.0.2), not the proxy's."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    out = tmp_path / "deploy"
    code, output = tandem.run(
        "export", "procfile", "--mode", "unified", "--proxy", "caddy", "--out", str(out),
        "--runtime-dir", str(runtime), cwd=example_project, env=served_env(example_project),
    )  # fmt: skip
    assert code == 0, output
    assert_secrets_apart(out)
    entries = procfile_processes(out / "Procfile")
    assert [name for name, _ in entries] == ["daphne"]
    env = example_env(example_project)
    with started(entries, out, env) as procs, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        site = out / "caddy" / "Caddyfile"
        text = site.read_text()
        assert "http://:80 {" in text
        text = text.replace("http://:80 {", f"http://:{port} {{\n\tbind fd/{listener.fileno()}", 1)
        site.write_text("{\n\tadmin off\n}\n" + text)
        caddy_env = {
            **os.environ,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        }
        log = tmp_path / "caddy.log"  # a file, not a pipe nobody reads: Caddy's log cannot block it
        caddy = subprocess.Popen(
            [caddy_bin, "run", "--config", str(site), "--adapter", "caddyfile"],
            env=caddy_env,
            pass_fds=(listener.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(log_file := log.open("w")),
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            client = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=5)

            def whoami() -> httpx.Response | None:
                assert caddy.poll() is None, log.read_text()
                assert procs[0].poll() is None, f"Daphne exited with {procs[0].returncode}"
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(url + "whoami")
                    if response.status_code == 200:
                        return response
                return None

            answer = wait_for(whoami, timeout=60, message="the exported Daphne behind Caddy").json()
            client.close()
            assert answer["server"] == "asgi" and answer["remote_addr"] == "127.0.0.2", answer
            assert_verify_passes(example_project, url)
        finally:
            caddy.terminate()
            try:
                caddy.wait(timeout=15)
            except subprocess.TimeoutExpired:
                caddy.kill()
                caddy.wait(timeout=10)
            log_file.close()


def test_exported_procfile_line_stops_without_its_secrets_file(
    example_project: Path, tandem: TandemRunner, tmp_path: Path
) -> None:
    """A Procfile line (Gunicorn's and Daphne's) whose tandem.secrets is readable by others, or missing,
    does not serve without its secrets: the server exits before it starts, saying why in exactly one line,
    with tandem.runtime.exported's exit code."""
    out = export_procfile(example_project, tandem, tmp_path)
    entries = procfile_processes(out / "Procfile")
    assert [name for name, _ in entries] == ["gunicorn", "daphne"]
    secrets = out / "tandem.secrets"
    for damage, expected in (
        (lambda: secrets.chmod(0o640), "is mode 0640, readable by more than its owner: chmod 600"),
        (secrets.unlink, "cannot read the secrets file"),
    ):
        damage()
        for name, line in entries:
            result = subprocess.run(
                ["/bin/sh", "-c", line],
                cwd=out,
                env=example_env(example_project),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
            # One line, before the server starts (no traceback, no Gunicorn start-up and shutdown lines),
            # and an exit code of its own.
            assert result.returncode == EXIT_SECRETS, (name, result.returncode, result.stderr)
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("tandem: "), (name, result.stderr)
            assert expected in lines[0] and str(secrets) in lines[0], (name, result.stderr)
            assert TOKEN not in result.stderr


def test_exported_procfile_servers_append_to_the_access_log_file(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    """TANDEM_ACCESS_LOG_FILE and TANDEM_APP_ACCESS_LOG reach the exported Procfile's servers, which append
    tandem's lines to the file themselves, as under `tandem serve` (the export dropped both, silently)."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "access.log"
    out = tmp_path / "deploy"
    env = {**served_env(example_project), "TANDEM_ACCESS_LOG_FILE": str(log), "TANDEM_APP_ACCESS_LOG": "1"}
    code, output = tandem.run(
        "export", "procfile", "--out", str(out), "--runtime-dir", str(runtime), cwd=example_project, env=env
    )
    assert code == 0, output
    entries = procfile_processes(out / "Procfile")
    assert [name for name, _ in entries] == ["gunicorn", "daphne"]
    assert all(str(log) in command for _, command in entries), entries
    with behind_exported_nginx(entries, out, example_project, nginx_bin, tmp_path) as (url, _):
        assert_verify_passes(example_project, url)  # a WebSocket to Daphne among its checks

        def both_logged() -> str | None:
            text = log.read_text() if log.exists() else ""
            return text if '"GET /whoami' in text and "/ws/echo/" in text else None

        text = wait_for(both_logged, timeout=30, message="Gunicorn's and Daphne's lines in the file")
        assert TOKEN not in text


def test_exported_procfile_runs_gunicorns_asgi_worker(
    example_project: Path, tandem: TandemRunner, tmp_path: Path, nginx_bin: str
) -> None:
    """TANDEM_WS_SERVER=gunicorn-asgi: the Procfile has Gunicorn's ASGI worker line (it had none: the export
    silently wrote Gunicorn alone), which binds its socket itself and passes verify's WebSocket echo behind
    the exported nginx."""
    pytest.importorskip("gunicorn.workers.gasgi")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    out = tmp_path / "deploy"
    env = {**served_env(example_project), "TANDEM_WS_SERVER": "gunicorn-asgi"}
    code, output = tandem.run(
        "export", "procfile", "--out", str(out), "--runtime-dir", str(runtime), cwd=example_project, env=env
    )
    assert code == 0, output
    entries = procfile_processes(out / "Procfile")
    assert [name for name, _ in entries] == ["gunicorn", "gunicorn-asgi"], entries
    assert "Gunicorn's ASGI worker" in (out / "README.txt").read_text()
    with behind_exported_nginx(entries, out, example_project, nginx_bin, tmp_path) as (url, _):
        assert_verify_passes(example_project, url)
