"""Secrets out of the exported processes' environments: the per-process exports (systemd --per-process,
supervisor, Procfile) keep the edge secret, the diagnostic token and a channel layer URL with a password
out of TANDEM_RUNTIME (which `systemctl show`, `ps e` and the rendered files show) and in one 0600 secrets
file that TANDEM_RUNTIME_SECRETS names, which each process reads itself (tandem.runtime.spec; its refusals
are in test_runtime_secrets)."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import pytest

from tandem.config import resolve_config
from tandem.exporters import export_files
from tandem.exporters.common import ExportOptions, shared_fd
from tandem.launcher import write_files
from tandem.plan import Export, File, build_plan
from tandem.runtime.spec import ENV_VAR, SECRETS_VAR, RuntimeSpec
from tests.unit.test_export_render import APP, PYTHON, SECRET, project
from tests.unit.test_nginx_render import example_routes

pytestmark = pytest.mark.usefixtures("django_settings")

REDIS_PASSWORD = "redis-pw-never-in-a-unit"
DIAGNOSTIC = "diag-token-never-in-a-unit"
# An app host given every secret a process of it carries: the edge secret, a channel layer URL with a
# password and the diagnostic token.
APP_SECRETS = {
    **APP,
    "channel_layer": f"redis://:{REDIS_PASSWORD}@10.0.0.9:6379/0",
    "diagnostic_token": DIAGNOSTIC,
}
SECRET_VALUES = (SECRET, REDIS_PASSWORD, DIAGNOSTIC)
PER_PROCESS = [
    ("systemd", ExportOptions(user="chat", per_process=True), "tandem.secrets"),
    ("supervisor", ExportOptions(user="chat"), "tandem.secrets"),
    ("procfile", ExportOptions(user="chat"), "tandem.secrets"),
]
IDS = [target for target, _, _ in PER_PROCESS]


def exported(target: str, options: ExportOptions, cli: dict[str, object]) -> dict[str, File]:
    """The files `tandem export TARGET` renders for what it was given, as test_export_render builds them."""
    config = resolve_config({"mode": "split", "port": 80, "bind": "0.0.0.0", "procs": 1, **cli}, {}, {})
    export = Export(Path("/run/tandem"), "golden-token", PYTHON, shared_fd(target, options), False)
    plan = build_plan(config, project(True), example_routes(), export)
    return {f.path: f for f in export_files(target, plan, options)}


@pytest.mark.parametrize(("target", "options", "secrets"), PER_PROCESS, ids=IDS)
def test_no_secret_is_in_any_file_but_the_secrets_file(
    target: str, options: ExportOptions, secrets: str
) -> None:
    """The edge secret, the Redis password and the diagnostic token were in every process's TANDEM_RUNTIME
    (the unit's Environment=, the program's or the Procfile line's command): now only in the secrets file,
    which holds all three."""
    files = exported(target, options, APP_SECRETS)
    assert secrets in files, sorted(files)
    for path, file in files.items():
        if path == secrets:
            continue
        for value in SECRET_VALUES:
            assert value not in file.content, f"{path} holds {value!r}"
    held = json.loads(files[secrets].content)
    assert held == {
        "proxy_secret": SECRET,
        "channel_layer": f"redis://:{REDIS_PASSWORD}@10.0.0.9:6379/0",
        "diagnostic_token": DIAGNOSTIC,
    }
    assert files[secrets].mode == 0o600


@pytest.mark.parametrize(("target", "options", "secrets"), PER_PROCESS, ids=IDS)
def test_a_channel_layer_without_password_stays_in_tandem_runtime(
    target: str, options: ExportOptions, secrets: str
) -> None:
    """Only a URL carrying a password is a secret; an export with no secret writes no secrets file."""
    files = exported(target, options, {"channel_layer": "redis://10.0.0.9:6379/0"})
    assert secrets not in files
    assert not any(SECRETS_VAR in f.content for f in files.values())


def environment_of(target: str, files: dict[str, File], directory: Path) -> list[dict[str, str]]:
    """Each exported process's environment as its process manager gives it: a unit's Environment= lines,
    or the `env` words of a supervisord command or a Procfile line (that line run from ``directory``, the
    Procfile's, where "$PWD" is)."""
    found = []
    if target == "systemd":
        for file in files.values():
            if not file.path.endswith(".service"):
                continue
            env = {}
            for line in file.content.splitlines():
                if line.startswith("Environment="):
                    key, _, value = shlex.split(line.removeprefix("Environment="))[0].partition("=")
                    env[key] = value
            found.append(env)
        return found
    if target == "supervisor":
        commands = [
            line.removeprefix("command=").replace("%%", "%")
            for line in files["tandem.conf"].content.splitlines()
            if line.startswith("command=")
        ]
    else:
        commands = [line.partition(": ")[2] for line in files["Procfile"].content.splitlines()]
    for command in commands:
        words = shlex.split(command)
        env = {}
        if words[0] == "export":  # a Procfile line: export NAME="$PWD"/FILE && cd ... && exec env ...
            key, _, value = words[1].partition("=")
            env[key] = value.replace("$PWD", str(directory))
        words = words[words.index("env") + 1 :]
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        found.append(env)
    return found


@pytest.mark.parametrize(("target", "options", "secrets"), PER_PROCESS, ids=IDS)
def test_each_process_reads_the_secrets_from_the_installed_file(
    target: str, options: ExportOptions, secrets: str, tmp_path: Path
) -> None:
    """Written as the export writes it and installed where the README says (the Procfile's: beside it), the
    secrets file gives each process the RuntimeSpec the Plan had, secrets included."""
    files = exported(target, options, APP_SECRETS)
    write_files(tuple(files.values()), tmp_path)
    envs = environment_of(target, files, tmp_path)
    assert envs and all(ENV_VAR in env for env in envs)
    for env in envs:
        installed = env[SECRETS_VAR]
        if target != "procfile":
            assert installed == f"/etc/tandem/{secrets}"  # where the README installs it
            env = {**env, SECRETS_VAR: str(tmp_path / secrets)}
        else:
            assert installed == str(tmp_path / secrets)
        spec = RuntimeSpec.from_env(env)
        assert spec.proxy_secret == SECRET and spec.diagnostic_token == DIAGNOSTIC
        assert spec.channel_layer == f"redis://:{REDIS_PASSWORD}@10.0.0.9:6379/0"


@pytest.mark.parametrize(("target", "options", "secrets"), PER_PROCESS, ids=IDS)
def test_the_secrets_file_is_written_0600(
    target: str, options: ExportOptions, secrets: str, tmp_path: Path
) -> None:
    files = exported(target, options, APP_SECRETS)
    write_files(tuple(files.values()), tmp_path)  # as `tandem export --out` writes them
    assert stat.S_IMODE((tmp_path / secrets).stat().st_mode) == 0o600
