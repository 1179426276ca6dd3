"""What every process exporter shares: the Plan's processes as commands (the Plan serve would build, made by
tandem.plan.build_plan for an Export target, with the sockets a production host binds) and the templates.

A process exporter renders the Plan's own argv and environment: the same ``tandem.runtime`` entry points
``tandem serve`` starts (Daphne's draining and 1012 on reload, ping timeout and limits; the WSGI wrapper's
X-Real-IP; DJANGO_SETTINGS_MODULE and PYTHONPATH as tandem found them), never a hand-written command.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from tandem.errors import UsageError
from tandem.plan import Plan, ProcessSpec
from tandem.topologies.processes import GENERATION

# What a process exporter runs (nginx is the host's own service): the WSGI arbiter (Gunicorn), the ASGI
# servers replaced one at a time (Daphne, uvicorn: role "daphne"), and Gunicorn's ASGI worker's arbiter.
APP_ROLES = ("gunicorn", "daphne", "gunicorn-asgi")
ASGI_ROLES = ("daphne", "gunicorn-asgi")


@dataclass(frozen=True)
class ExportOptions:
    """What an export needs beyond the Plan: who runs the servers and how."""

    user: str = "www-data"
    group: str = ""  # empty: the user's own, or www-data where nginx's workers must reach the sockets
    per_process: bool = False  # systemd: one unit per process instead of tandem.service
    serve_args: tuple[str, ...] = ()  # systemd: `tandem serve` options beyond mode, bind, port, runtime dir
    # systemd's one service: TANDEM_* options its unit sets (no serve flag says them), and the secret ones
    # its environment file holds (tandem.exporters.carried).
    serve_env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, str], ...] = ()
    # systemd's one service: the access log file its `tandem serve` writes (a relative path is the unit's
    # WorkingDirectory's), whose directory the unit must be allowed to write; empty for none.
    access_log_file: str = ""
    name: str = "tandem"  # unit and program name prefix
    # systemd's one service on an edge: how to start `tandem serve`, which a Plan without app servers
    # does not say (its only process is nginx); the export command gives the ones it ran with.
    launch: Launch | None = None


@dataclass(frozen=True)
class Launch:
    """The interpreter, working directory and project environment ``tandem serve`` starts with."""

    python: str
    cwd: str
    settings_module: str
    pythonpath: str


def launch(plan: Plan, options: ExportOptions) -> Launch:
    """How the one service starts ``tandem serve``: as the Plan's first app server starts (the same Python,
    directory, settings and path), or for an edge, as the export command gave it."""
    found = commands(plan)
    if found:
        first = found[0]
        return Launch(first.argv[0], first.cwd, first.env["DJANGO_SETTINGS_MODULE"], first.env["PYTHONPATH"])
    if options.launch is None:
        raise UsageError(f"the {plan.mode} plan runs no app server to take tandem serve's Python from")
    return options.launch


def need_app_servers(plan: Plan, target: str) -> None:
    """Procfile, supervisor and systemd --per-process start the app servers one by one: an edge has none
    (nginx is the host's own service there, or the one tandem.service's)."""
    if not commands(plan):
        raise UsageError(
            f"export {target}: an edge runs no app server, only nginx in front of the app hosts",
            hint="export systemd --role edge --upstream ... (one tandem.service running tandem serve "
            "--role edge), or export nginx --role edge --upstream ... for the host's own nginx",
        )


def shared_fd(target: str, options: ExportOptions) -> int | None:
    """The descriptor the Daphne socket arrives on when the process manager binds it: systemd socket
    activation passes it as 3 (SD_LISTEN_FDS_START), supervisord's fcgi-program as 0."""
    if target == "systemd" and options.per_process:
        return 3
    if target == "supervisor":
        return 0
    return None


@dataclass(frozen=True)
class Command:
    """One exported process: its name, argv, environment and working directory."""

    name: str
    role: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str

    def shell(self) -> str:
        """``env K=V ... argv`` quoted for /bin/sh, as honcho and foreman run a Procfile line."""
        words = ["env", *(f"{k}={v}" for k, v in sorted(self.env.items())), *self.argv]
        return " ".join(shlex.quote(word) for word in words)


def commands(plan: Plan, generation: str = "0") -> tuple[Command, ...]:
    """The Plan's app servers as commands; the generation in a Daphne's private socket name is fixed (a
    process manager starts one generation at a time)."""
    found = []
    for process in plan.processes:
        if process.role not in APP_ROLES:
            continue
        found.append(command(process, generation))
    return tuple(found)


def command(process: ProcessSpec, generation: str = "0") -> Command:
    return Command(
        name=process.name,
        role=process.role,
        argv=tuple(arg.replace(GENERATION, generation) for arg in process.argv),
        env=dict(process.env),
        cwd=process.cwd or "/",
    )


def proxy_kind(plan: Plan) -> str | None:
    """Which proxy the Plan's config file is for: "nginx", "caddy" (--proxy caddy), or None (Daphne alone)."""
    if plan.proxy is None:
        return None
    return "caddy" if any(f.path.endswith("Caddyfile") for f in plan.files) else "nginx"


def topology_flags(plan: Plan) -> str:
    """The --mode and --proxy options that give this Plan's topology again, for the commands a README
    names: unified mode needs --proxy to have one in front (without it Daphne alone takes the public port).
    An app host: --role app and the mode its servers run (the Plan's mode is the role's name there)."""
    if plan.mode == "app":
        return f"--role app --mode {'split' if has_gunicorn(plan) else 'unified'}"
    kind = proxy_kind(plan)
    return f"--mode {plan.mode} --proxy {kind}" if kind else f"--mode {plan.mode}"


def has_gunicorn(plan: Plan) -> bool:
    """Split mode runs Gunicorn; unified mode, behind a proxy or not, has Daphne alone."""
    return any(process.role == "gunicorn" for process in plan.processes)


def daphnes(plan: Plan) -> tuple[Command, ...]:
    return tuple(c for c in commands(plan) if c.role == "daphne")


def asgi_commands(commands_: tuple[Command, ...]) -> tuple[Command, ...]:
    """The ASGI server's processes among ``commands_``: N Daphnes (or uvicorns), or one Gunicorn arbiter
    running the ASGI worker; they share the socket a process manager binds once."""
    return tuple(c for c in commands_ if c.role in ASGI_ROLES)


def graceful_timeout(plan: Plan) -> float:
    """Daphne's --drain-timeout, which is the Config's graceful timeout (Gunicorn has the same)."""
    for process in plan.processes:
        if "--drain-timeout" in process.argv:
            return float(process.argv[process.argv.index("--drain-timeout") + 1])
    return 30.0


def stop_timeout(plan: Plan) -> int:
    """How long a process manager waits after its stop signal before KILL: the graceful timeout plus the
    margin ``tandem serve`` gives itself (Daphne closes WebSockets, Gunicorn finishes requests)."""
    return int(graceful_timeout(plan)) + 5


def need_procs_one(plan: Plan, target: str) -> None:
    """A Procfile runner (honcho, foreman) starts each line on its own: N Daphne processes cannot share
    one socket there."""
    if len(daphnes(plan)) > 1:
        raise UsageError(
            f"{target}: {len(daphnes(plan))} Daphne processes cannot share one socket when each is started "
            "on its own",
            hint="set TANDEM_PROCS=1 for this export, or export systemd --per-process or supervisor (they "
            "bind the socket once and pass it to every Daphne)",
        )


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.exporters", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)
