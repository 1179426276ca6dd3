"""Every exported server's entry point stops with one line and EXIT_SECRETS when its secrets file is
missing or readable by others, before the server prints anything: Daphne's main, uvicorn's, Gunicorn's arbiter with tandem.runtime.secretcheck or the ASGI worker's
configuration module. Real interpreters, started as the exported commands start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.runtime.exported import EXIT_SECRETS
from tandem.runtime.spec import ENV_VAR, SECRETS_VAR

APP = "tandem.runtime.served:application"
COMMANDS = {
    "daphne": ["-m", "tandem.runtime.daphne", "tandem.runtime.asgi:application"],
    "uvicorn": ["-m", "tandem.runtime.uvicorn", "--shared-fd", "0", "--private", "/nonexistent.sock", APP],
    "gunicorn": ["-m", "gunicorn", "--config", "python:tandem.runtime.secretcheck", "tandem.runtime.wsgi:application"],
    "gunicorn-asgi": [
        "-m", "gunicorn", "--worker-class", "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
        "--config", "python:tandem.runtime.gunicorn_asgi", APP,
    ],
}  # fmt: skip
MODULES = {
    "daphne": "daphne",
    "uvicorn": "uvicorn",
    "gunicorn": "gunicorn",
    "gunicorn-asgi": "gunicorn.workers.gasgi",
}


@pytest.mark.parametrize("damage", ["missing", "mode-0644"])
@pytest.mark.parametrize("server", list(COMMANDS))
def test_entry_point_stops_in_one_line_without_its_secrets(server: str, damage: str, tmp_path: Path) -> None:
    pytest.importorskip(MODULES[server])
    secrets = tmp_path / "tandem.secrets"
    if damage != "missing":
        secrets.write_text(json.dumps({"diagnostic_token": "t" * 32}))
        secrets.chmod(0o644)
    spec = {"app": "x:y", "probe_token": "p", "secrets_from_env": ["diagnostic_token"]}
    env = {**os.environ, ENV_VAR: json.dumps(spec), SECRETS_VAR: str(secrets)}
    result = subprocess.run(
        [sys.executable, *COMMANDS[server]],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.splitlines()
    assert result.returncode == EXIT_SECRETS, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("tandem: "), result.stderr
    assert str(secrets) in lines[0] and result.stdout == "", result.stderr
    assert ("chmod 600" if damage != "missing" else "cannot read the secrets file") in lines[0]
    assert "t" * 32 not in result.stderr


def test_importing_tandems_modules_checks_nothing() -> None:
    """Only the entry points check: the tandem CLI imports the server modules (and through them
    tandem.runtime.served), and must not exit because the environment it runs in names a secrets file."""
    env = {
        **os.environ,
        ENV_VAR: json.dumps({"secrets_from_env": ["proxy_secret"]}),
        SECRETS_VAR: "/nonexistent",
    }
    code = "import tandem.cli, tandem.servers.uvicorn, tandem.servers.gunicorn_asgi, tandem.runtime.served"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("project_file", [True, False])
def test_exported_gunicorn_keeps_the_projects_gunicorn_conf(project_file: bool, tmp_path: Path) -> None:
    """Gunicorn reads ./gunicorn.conf.py only without --config, and the exported WSGI Gunicorn has
    tandem.runtime.secretcheck as its --config: the project's settings still apply, as under tandem serve."""
    pytest.importorskip("gunicorn")
    secrets = tmp_path / "tandem.secrets"
    secrets.write_text(json.dumps({"diagnostic_token": "t" * 32}))
    secrets.chmod(0o600)
    (tmp_path / "app.py").write_text("def application(environ, start_response):\n    return []\n")
    if project_file:
        (tmp_path / "gunicorn.conf.py").write_text("import os\ntimeout = 77\nkeepalive = 9\n")
    spec = {"app": "x:y", "probe_token": "p", "secrets_from_env": ["diagnostic_token"]}
    env = {**os.environ, ENV_VAR: json.dumps(spec), SECRETS_VAR: str(secrets)}
    argv = [*COMMANDS["gunicorn"][:-1], "--print-config", "app:application"]
    result = subprocess.run(
        [sys.executable, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    pairs = (line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)
    settings = {name.strip(): value.strip() for name, value in pairs}
    wanted = ("77", "9") if project_file else ("30", "2")  # the file's, or Gunicorn's defaults
    assert (settings["timeout"], settings["keepalive"]) == wanted, result.stdout
