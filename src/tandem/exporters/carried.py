"""The options ``tandem export systemd``'s one service repeats to the ``tandem serve`` it runs, so that the
host runs the Plan the export rendered: every option given to the export (flag or ``TANDEM_*`` in its
environment), from the options table (tandem.options).

- a ``tandem serve`` flag: on ExecStart (``--procs 4``, ``--channel-layer redis://...``);
- no flag of serve's, or a value no flag says (an env-only option, a plain flag turned off): an
  ``Environment=TANDEM_...`` line of the unit;
- a secret (the edge secret, the diagnostic token, a channel layer URL with a password): never on the
  command line, where ``ps`` shows it, but in the environment file the unit reads (written beside it, 0600).

A path (the access log file, the TLS certificate and key, a program named by its path) is carried absolute,
resolved where the export ran: the unit's ``tandem serve`` runs in the project's directory, where a relative
path would name another file.

Options from settings.TANDEM are not repeated: the host reads the same settings. The export itself decides
bind, port and the runtime directory; --mode, --role and the role's options come from
tandem.exporters.roles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tandem.config import SOURCE_DEFAULT, SOURCE_SETTINGS, Config
from tandem.exporters.roles import role_serve_args
from tandem.options import OPTIONS, SERVE, Option

# Set by the export for the production host (bind, port, runtime dir) or given by the topology's own
# arguments below (mode, role and the role's options, the proxy, internal sockets, prefixes, peers).
DECIDED = frozenset(
    {
        "mode",
        "bind",
        "port",
        "runtime_dir",
        "role",
        "http_port",
        "ws_port",
        "upstreams",
        "proxy",
        "internal",
        "asgi_prefixes",
        "trusted_proxies",
    }
)
SECRETS = frozenset({"edge_secret", "diagnostic_token"})
# Options whose value is a file's path, and programs found on PATH by name or given by their path.
PATHS = frozenset({"access_log_file", "tls_cert", "tls_key"})
PROGRAMS = frozenset({"nginx", "caddy", "redis_server"})


@dataclass(frozen=True)
class Carried:
    """What the one service gives ``tandem serve``: its arguments, its environment, and the secret
    environment (TANDEM_X, value) the environment file holds."""

    args: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()
    # The file the service's `tandem serve` appends the access log to, as it reads it on the host (given to
    # the export, or from settings.TANDEM); empty when the log goes to the journal or is off.
    access_log_file: str = ""


def has_password(url: str) -> bool:
    """A channel layer URL carrying credentials: user info before the host, or ?password=."""
    parts = urlsplit(url)
    return "@" in parts.netloc or any(key == "password" for key, _ in parse_qsl(parts.query))


def is_secret(name: str, value: object) -> bool:
    if name in SECRETS:
        return True
    return name == "channel_layer" and isinstance(value, str) and has_password(value)


def absolute(name: str, value: object, cwd: str) -> object:
    """A path option's value resolved against ``cwd`` (where the export ran); a program's bare name (looked
    up on PATH, as tandem.programs does) and every other value unchanged."""
    if not isinstance(value, str) or not value or os.path.isabs(value):
        return value
    if name in PATHS or (name in PROGRAMS and os.sep in value):
        return os.path.normpath(os.path.join(cwd, value))
    return value


def env_text(value: object) -> str:
    """The value as TANDEM_X takes it (tandem.config parses it back to the same value)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""  # int | None: auto; str | None: none
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def flag_args(entry: Option, value: object) -> tuple[str, ...] | None:
    """``value`` as serve's flag says it, or None when the flag cannot (env only, or a plain flag off)."""
    if SERVE not in entry.commands:
        return None
    flag = entry.cli_flag
    if isinstance(value, bool):
        if entry.switch:
            return (flag if value else f"--no-{flag[2:]}",)
        return (flag,) if value else None
    if entry.repeatable and isinstance(value, tuple):
        return tuple(arg for item in value for arg in (flag, str(item)))
    if value is None:
        return (flag, "auto") if entry.name in ("procs", "workers", "threads") else None
    return (flag, env_text(value))


def topology_args(target: str, config: Config) -> list[str]:
    """What the one service always repeated: --asgi-prefix, --internal tcp, --trusted-proxy, a given
    --proxy (in unified mode that is what puts the proxy in front), and the role's options."""
    args = [arg for prefix in config.asgi_prefixes for arg in ("--asgi-prefix", prefix)]
    if config.internal == "tcp":
        args += ["--internal", "tcp"]
    args += [arg for cidr in config.trusted_proxies for arg in ("--trusted-proxy", cidr)]
    if config.proxy_given and config.role == "single":
        args += ["--proxy", config.proxy]
    return args + role_serve_args(target, config)


def carried(target: str, config: Config, cwd: str | None = None) -> Carried:
    """The one service's ``tandem serve`` arguments and environment for the Config the export ran with;
    relative paths resolved against ``cwd`` (default: the current directory, where the export runs)."""
    cwd = os.getcwd() if cwd is None else cwd
    args = topology_args(target, config)
    environment: list[tuple[str, str]] = []
    secrets: list[tuple[str, str]] = []
    for entry in OPTIONS:
        if not entry.config or entry.name in DECIDED:
            continue
        if config.sources.get(entry.name, SOURCE_DEFAULT) in (SOURCE_DEFAULT, SOURCE_SETTINGS):
            continue
        value = absolute(entry.name, getattr(config, entry.name), cwd)
        if is_secret(entry.name, value):
            secrets.append((entry.env, env_text(value)))
            continue
        flags = flag_args(entry, value)
        if flags is None:
            environment.append((entry.env, env_text(value)))
        else:
            args += flags
    log_file = (config.access_log_file or "") if config.access_log else ""
    if config.sources.get("access_log_file", SOURCE_DEFAULT) not in (SOURCE_DEFAULT, SOURCE_SETTINGS):
        log_file = str(absolute("access_log_file", log_file, cwd))  # as carried above
    return Carried(tuple(args), tuple(environment), tuple(secrets), log_file)
