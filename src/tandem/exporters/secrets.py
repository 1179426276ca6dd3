"""The secrets of an exported app server kept out of its TANDEM_RUNTIME: the proxy secret (an edge's, on an
app host), the diagnostic token and a channel layer URL with a password. TANDEM_RUNTIME is in the unit
(``systemctl show`` lists a unit's Environment= to every local user), in the process manager's config and
on the command line a Procfile runner or supervisord starts (``ps`` shows it), and in the process's
environment (``ps e``).

Each command's TANDEM_RUNTIME names those fields (``secrets_from_env``) instead of holding them, and
TANDEM_RUNTIME_SECRETS names the file that does: written by the export with mode 0600, read by the process
itself (tandem.runtime.spec.read_secrets), which refuses to start when the file is missing or readable by
anyone but its owner. Only the file's path is in the environment, never a secret.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace

from tandem.exporters.carried import has_password
from tandem.exporters.common import Command, commands
from tandem.plan import File, Plan
from tandem.runtime.spec import ENV_VAR, SECRET_FIELDS, SECRETS_VAR

DEFAULTS: dict[str, object] = {"proxy_secret": "", "diagnostic_token": None, "channel_layer": None}


INSTALL_NOTE = (
    "{name}.secrets holds {keys}: never in {where}. Each server's TANDEM_RUNTIME_SECRETS names it and "
    "the servers read it themselves, as user {user}: install it before starting them, mode 0600, owned "
    "by {user} (a server that finds it missing, readable by others or owned by another user stops with one "
    "line saying so):"
)


def installed_path(name: str) -> str:
    """Where a process manager's export installs its secrets file (TANDEM_RUNTIME_SECRETS names it)."""
    return f"/etc/tandem/{name}.secrets"


def install_note(name: str, secrets: dict[str, str], user: str, where: str) -> str:
    """The exported README's paragraph installing the secrets file; nothing when there are no secrets.
    ``where``: what would otherwise show them (a unit's Environment=, supervisord's command lines)."""
    if not secrets:
        return ""
    text = INSTALL_NOTE.format(name=name, keys=", ".join(secrets), where=where, user=user)
    command = f"sudo install -D -m 600 -o {user} {name}.secrets {installed_path(name)}"
    return f"\n{textwrap.fill(text, width=105)}\n\n  {command}\n"


def is_secret(name: str, value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return name != "channel_layer" or has_password(value)


def private_commands(plan: Plan, path: str | None) -> tuple[tuple[Command, ...], dict[str, str]]:
    """The Plan's app servers with their secret fields moved out of TANDEM_RUNTIME, and those fields'
    values (one set for the export: every process of a Plan shares them). With ``path``, each command's
    environment names the secrets file there (SECRETS_VAR); without, the caller sets it (a Procfile line,
    from the directory the runner starts in)."""
    found: dict[str, str] = {}
    result = []
    for cmd in commands(plan):
        raw = cmd.env.get(ENV_VAR)
        spec = json.loads(raw) if raw else {}
        names = [name for name in SECRET_FIELDS if is_secret(name, spec.get(name))]
        for name in names:
            if found.setdefault(name, spec[name]) != spec[name]:
                raise ValueError(
                    f"the exported processes differ in {name}: one secrets file cannot hold both"
                )
            spec[name] = DEFAULTS[name]
        if names:
            spec["secrets_from_env"] = names
            env = {**cmd.env, ENV_VAR: json.dumps(spec, sort_keys=True)}
            if path is not None:
                env[SECRETS_VAR] = path
            cmd = replace(cmd, env=env, argv=checked_argv(cmd))
        result.append(cmd)
    return tuple(result), found


def checked_argv(cmd: Command) -> tuple[str, ...]:
    """Gunicorn's arbiter checks the secrets file before it starts (one line and EXIT_SECRETS, not a worker's
    traceback and Gunicorn's shutdown lines): tandem.runtime.secretcheck as its configuration module, which
    reads the project's ./gunicorn.conf.py as Gunicorn would without --config. The
    ASGI worker's configuration (tandem.runtime.gunicorn_asgi) checks it already; Daphne's main does."""
    if cmd.role != "gunicorn" or "--config" in cmd.argv or "gunicorn" not in cmd.argv[:3]:
        return cmd.argv
    return (*cmd.argv[:-1], "--config", "python:tandem.runtime.secretcheck", cmd.argv[-1])


def secrets_file(path: str, values: dict[str, str]) -> File:
    """The file SECRETS_VAR names, as the export writes it: the secret fields as one JSON object, 0600."""
    return File(path, json.dumps(values, sort_keys=True) + "\n", 0o600)
