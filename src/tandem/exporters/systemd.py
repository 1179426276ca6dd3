"""``tandem export systemd``: a hardened ``tandem.service`` running ``tandem serve`` (Type=notify) with the
options the export was given (tandem.exporters.carried; the secret ones in ``NAME.env`` for
/etc/tandem/NAME.env), or with ``--per-process`` one unit per app server of the Plan (Daphne on a socket unit
systemd binds once)."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterable
from pathlib import Path

from tandem import __version__
from tandem.exporters.common import (
    Command,
    ExportOptions,
    asgi_commands,
    commands,
    graceful_timeout,
    has_gunicorn,
    launch,
    need_app_servers,
    proxy_kind,
    render,
    stop_timeout,
    topology_flags,
)
from tandem.exporters.readme import server_name, wsgi_server
from tandem.exporters.secrets import install_note, installed_path, private_commands, secrets_file
from tandem.plan import File, Plan
from tandem.runtime.spec import ENV_VAR


def quote(value: str, *, exec_line: bool = False) -> str:
    """One word for a unit file: double-quoted with C escapes, ``%`` (specifiers) doubled, and on Exec
    lines ``$`` (variable expansion) doubled, so systemd passes the exact bytes on."""
    text = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("\n", "\\n")
    if exec_line:
        text = text.replace("$", "$$")
    return f'"{text}"'


def exec_line(argv: Iterable[str]) -> str:
    return " ".join(quote(arg, exec_line=True) for arg in argv)


def environment_lines(env: Iterable[tuple[str, str]]) -> list[str]:
    return [quote(f"{key}={value}") for key, value in env]


def runtime_spec(command: Command) -> dict[str, object]:
    raw = command.env.get(ENV_VAR)
    return json.loads(raw) if raw else {}


def absolute(path: str, workdir: str) -> str:
    """``path`` as a unit resolves it: systemd refuses a relative ReadWritePaths=, and the process opens a
    relative STATIC_ROOT or MEDIA_ROOT in its WorkingDirectory (the project's)."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(workdir, path))


def writable_paths(plan: Plan, *, static: bool) -> list[str]:
    """Directories the service writes outside its runtime directory: the access log file's (an exported
    server's --access-log-file), MEDIA_ROOT (uploads) and, when
    ``tandem serve`` collects static files at start, STATIC_ROOT; a relative one (as Django's settings may
    give it) joined with the WorkingDirectory of the unit that writes it, the app server's."""
    paths: list[str] = []
    if plan.mode == "edge" and plan.proxy is not None:
        # An edge serves STATIC_ROOT itself (`tandem serve --role edge` collects it at start) and only
        # reads MEDIA_ROOT, which the app hosts write. (Its locations' roots are absolute already.)
        if static:
            for location in plan.proxy.static_locations:
                root = location.root.rstrip("/")
                if not location.media and not Path(root).is_relative_to(plan.runtime_dir):
                    paths.append(root)
        return paths
    for cmd in commands(plan):
        # The access log file a server appends to (--access-log-file given to the export): its directory.
        for flag in ("--access-log-file", "--access-logfile"):
            if flag in cmd.argv:
                directory = os.path.dirname(cmd.argv[cmd.argv.index(flag) + 1])
                if directory and directory not in paths:
                    paths.append(directory)
        spec = runtime_spec(cmd)
        keys = ("media_root", "static_root") if static else ("media_root",)
        for key in keys:
            value = spec.get(key)
            if isinstance(value, str) and value:
                if key == "static_root" and spec.get("override_static_root"):
                    continue  # tandem's own embedded directory, under the runtime directory
                value = absolute(value, cmd.cwd)
                if value not in paths:
                    paths.append(value)
    return paths


def service_writable_paths(plan: Plan, options: ExportOptions) -> list[str]:
    """What the one service writes outside its runtime directory: the Plan's directories (writable_paths)
    and the directory of the access log file its `tandem serve` appends to (nginx or the app servers write
    it, all in the unit), as the unit resolves it: a relative path against its WorkingDirectory."""
    paths = writable_paths(plan, static=True)
    if options.access_log_file:
        log_file = os.path.normpath(os.path.join(launch(plan, options).cwd, options.access_log_file))
        directory = os.path.dirname(log_file)
        if directory not in paths:
            paths.append(directory)
    return paths


def project_name(plan: Plan) -> str:
    for cmd in commands(plan):
        module = cmd.env.get("DJANGO_SETTINGS_MODULE")
        if module:
            return module
    return plan.proxy.project if plan.proxy is not None else "the project"  # an edge: nginx alone


def _common(plan: Plan, options: ExportOptions) -> dict[str, object]:
    return {
        "version": __version__,
        "name": options.name,
        "project": project_name(plan),
        "mode": plan.mode,
        "user": options.user,
        "runtime_name": plan.runtime_dir.relative_to("/run")
        if plan.runtime_dir.is_relative_to("/run")
        else "",
        "stop_timeout": stop_timeout(plan) + 5,
        "graceful": f"{graceful_timeout(plan):g}",
    }


def service_file(plan: Plan, options: ExportOptions) -> File:
    """The recommended form: one service, ``tandem serve`` supervising every process as it does locally."""
    start = launch(plan, options)
    public = plan.public
    argv = [
        start.python, "-m", "tandem", "serve",
        # An app host or an edge: --role and --mode come with serve_args (tandem.exporters.roles).
        *(("--mode", plan.mode) if plan.mode in ("unified", "split") else ()),
        "--bind", public.host or "0.0.0.0",
        "--port", str(public.port),
        "--runtime-dir", str(plan.runtime_dir),
        *options.serve_args,
    ]  # fmt: skip
    env = [
        ("DJANGO_SETTINGS_MODULE", start.settings_module),
        ("PYTHONPATH", start.pythonpath),
        ("PYTHONUNBUFFERED", "1"),
        # Where tandem registers the running instance for `tandem status|reload|stop`: the home directory
        # is read-only here (ProtectSystem=strict).
        ("XDG_RUNTIME_DIR", str(plan.runtime_dir)),
        # Options the export was given that no serve flag says (tandem.exporters.carried).
        *options.serve_env,
    ]
    content = render(
        "tandem.service.j2",
        **_common(plan, options),
        group=options.group,
        workdir=start.cwd,
        environment=environment_lines(env),
        exec_start=exec_line(argv),
        start_timeout=180,  # collectstatic, checks, then every process's first probe (60 s each)
        capability=(public.port or 0) < 1024 and options.user != "root",
        port=public.port,
        static_rw=True,
        access_log=bool(options.access_log_file),
        read_write=service_writable_paths(plan, options),
        redis=False,
        reload_comment=reload_comment(plan),
    )
    return File(f"{options.name}.service", content)


STOP_NOTES = {
    "daphne": "TERM: Daphne stops accepting, closes its WebSockets with 1001 and lets requests in flight "
    "finish within the drain timeout.",
    "gunicorn": "TERM: Gunicorn stops accepting and lets its workers finish within --graceful-timeout.",
    "gunicorn-asgi": "TERM: Gunicorn stops accepting; its ASGI workers close their WebSockets with 1001 and "
    "finish requests within --graceful-timeout.",
}


def asgi_units(plan: Plan, options: ExportOptions) -> tuple[str, list[str]]:
    """The socket unit systemd binds the ASGI server's socket with, and the services it passes it to: one
    per Daphne (or uvicorn), or the one Gunicorn arbiter running the ASGI worker."""
    asgi = asgi_commands(commands(plan))
    if asgi and asgi[0].role == "gunicorn-asgi":
        return f"{options.name}-gunicorn-asgi.socket", [f"{options.name}-gunicorn-asgi.service"]
    # Named after the server they run: uvicorn's are tandem-uvicorn-N, not "daphne" units running uvicorn.
    server = "uvicorn" if asgi and asgi[0].name.startswith("uvicorn") else "daphne"
    base = f"{options.name}-{server}"
    return f"{base}.socket", [f"{base}-{i}.service" for i in range(1, len(asgi) + 1)]


def per_process_files(plan: Plan, options: ExportOptions) -> tuple[File, ...]:
    need_app_servers(plan, "systemd --per-process")
    split_unix = plan.proxy is not None and plan.proxy.asgi_upstream.startswith("unix:")
    group = options.group or ("www-data" if split_unix else options.user)
    runtime_mode = "0750" if split_unix else "0700"
    common = {**_common(plan, options), "group": group, "runtime_mode": runtime_mode}
    files = []
    units = []
    socket_unit, daphne_units = asgi_units(plan, options)
    server = server_name(asgi_commands(commands(plan))[0].name)
    index = 0
    # The secret fields are not in the units (systemctl show lists Environment= to every local user): each
    # names NAME.secrets, which the process reads itself.
    for cmd in private_commands(plan, installed_path(options.name))[0]:
        asgi = cmd.role in ("daphne", "gunicorn-asgi")
        if asgi:
            unit = daphne_units[index]
            index += 1
        else:
            unit = f"{options.name}-{cmd.name}.service"
        units.append(unit)
        content = render(
            "unit-process.service.j2",
            **common,
            unit=unit,
            command=cmd,
            environment=environment_lines(sorted(cmd.env.items())),
            socket_unit=socket_unit if asgi else "",
            server=server,
            exec_start=exec_line(cmd.argv),
            stop_note=STOP_NOTES[cmd.role].replace("Daphne", server),
            read_write=writable_paths(plan, static=False),
        )
        files.append(File(unit, content, 0o600))  # holds the probe token
    shared = plan.proxy.asgi_upstream if plan.proxy is not None else str(plan.public)
    unix = shared.startswith("unix:")
    files.append(
        File(
            socket_unit,
            render(
                "unit-daphne.socket.j2",
                **common,
                unit=socket_unit,
                listen=shared.removeprefix("unix:") if unix else _listen(plan, shared),
                unix=unix,
                first_service=daphne_units[0],
                server=server,
            ),
        )
    )
    units.append(socket_unit)
    files.append(File(f"{options.name}.target", render("unit.target.j2", **common, units=units)))
    return tuple(files)


def _listen(plan: Plan, shared: str) -> str:
    if plan.proxy is None and plan.public.host in ("0.0.0.0", "", None):
        return str(plan.public.port)  # every address, as Daphne's -b 0.0.0.0 would
    return shared


def env_value(value: str) -> str:
    """A value for an environment file: double-quoted with ``\\ " ` $`` escaped, as systemd (and sh)
    read it back."""
    text = "".join("\\" + c if c in '\\"`$' else c for c in value)
    return f'"{text}"'


ENV_FILE = """\
# {name}.env: the options `tandem export systemd` was given that carry a secret, kept off tandem serve's
# command line (ps shows it). Install it where {name}.service reads it, readable by root only:
#   sudo install -D -m 600 {name}.env /etc/tandem/{name}.env
# (or add these lines to the /etc/tandem/{name}.env you have).
{lines}"""


def env_file(options: ExportOptions) -> File | None:
    """The one service's secret options (tandem.exporters.carried) as /etc/tandem/NAME.env takes them."""
    if not options.secret_env:
        return None
    lines = "".join(f"{key}={env_value(value)}\n" for key, value in options.secret_env)
    return File(f"{options.name}.env", ENV_FILE.format(name=options.name, lines=lines), 0o600)


def systemd_files(plan: Plan, options: ExportOptions) -> tuple[File, ...]:
    units = per_process_files(plan, options) if options.per_process else (service_file(plan, options),)
    extra: tuple[File, ...] = ()
    if options.per_process and plan.proxy is not None:
        from tandem.exporters.procfile import proxy_file

        extra = tuple(f for f in (proxy_file(plan),) if f is not None)
    if not options.per_process:
        extra = tuple(f for f in (env_file(options),) if f is not None)
    else:
        secrets = private_commands(plan, installed_path(options.name))[1]
        if secrets:
            extra = (*extra, secrets_file(f"{options.name}.secrets", secrets))
    return (*units, *extra, readme(plan, options, units))


README = """\
systemd units exported by django-tandem
=======================================
{body}
Your own environment (SECRET_KEY, database settings, TANDEM_* options) goes in /etc/tandem/{name}.env,
one KEY=value a line (optional; settings.TANDEM is read as always). The unit(s) run as user {user}
(change User= if needed) with a read-only file system except {runtime_dir} and:
{writable}If the project writes elsewhere (an SQLite database, log files), add ReadWritePaths= for it.
"""

RECOMMENDED = """
{name}.service runs `tandem serve {flags}`, which supervises every process as it does locally
(Type=notify: systemd knows the site is up when tandem prints "Ready:"). Install and start:
{secrets_note}
  sudo cp {name}.service /etc/systemd/system/
  sudo systemctl daemon-reload
  sudo systemctl enable --now {name}.service
  systemctl status {name}.service            # "active (running)" once every process answers

{reload_note}

  sudo systemctl reload {name}.service

Stop: sudo systemctl stop {name}.service ({stopping} within
{graceful} s). tandem's own commands find it with its registry in the runtime directory:

  sudo -u {user} XDG_RUNTIME_DIR={runtime_dir} {python} -m tandem status
{split_note}{role_note}"""

SECRETS_NOTE = """
  # {keys}: a secret, kept off the command line (ps shows it), in {name}.env (mode 0600)
  sudo install -D -m 600 {name}.env /etc/tandem/{name}.env   # or add its lines to the one you have
"""

ROLE_NOTE = """
This host runs {what}: give it the edge secret the {peers} share, as
TANDEM_EDGE_SECRET=... in /etc/tandem/{name}.env (never on the command line; tandem refuses to start
without it, tandem.E016).{edge}
"""

EDGE_NOTE = """ To install the host's own nginx in front of the app hosts instead, use
`tandem export nginx {flags}`."""

SPLIT_NOTE = """
In split mode tandem runs its own {proxy} on port {port} in front of {wsgi} and {asgi} (nothing else to
install). To put the host's {proxy} in front instead, use `tandem export {kind}` and the app servers of
`tandem export systemd --per-process {flags}`.
"""

PROXY_NAMES = {"nginx": "nginx", "caddy": "Caddy"}


def reload_steps(plan: Plan) -> str:
    """What `systemctl reload` does, naming the servers and the proxy the service runs: unified mode has
    no Gunicorn, and Daphne alone no proxy either."""
    if plan.mode == "edge":
        return "nginx reloads with the routing read again from the project; each app host reloads on its own"
    kind = proxy_kind(plan)
    steps = [
        *((f"{wsgi_server(plan)} replaces its workers",) if has_gunicorn(plan) else ()),
        asgi_reload_step(plan),
        *((f"{PROXY_NAMES[kind]} reloads if the routing changed",) if kind else ()),
    ]
    return ", ".join(steps)


def asgi_reload_step(plan: Plan) -> str:
    """How a reload replaces the ASGI server the Plan runs: one process at a time (Daphne, uvicorn), or
    Gunicorn's arbiter its ASGI workers."""
    from tandem.exporters.readme import asgi_server

    asgi = asgi_server(plan)
    if any(process.role == "gunicorn-asgi" for process in plan.processes):
        return f"{asgi} replaces its workers, which close their WebSockets with 1012"
    return f"each {asgi} is replaced once its successor answers and closes its WebSockets with 1012"


def reload_note(plan: Plan) -> str:
    text = f"Reload new code without dropping a request ({reload_steps(plan)}):"
    return "\n".join(textwrap.wrap(text, width=105))


def reload_comment(plan: Plan) -> str:
    """The service file's comment above ExecReload: the same steps as the README's."""
    text = f"New code without dropping a request: {reload_steps(plan)}."
    return "\n".join(textwrap.wrap(text, width=105, initial_indent="# ", subsequent_indent="# "))


PER_PROCESS = """
One unit per process, grouped by {name}.target, for systemd to supervise each server itself:
{units}
Install and start:

  sudo cp {files} /etc/systemd/system/
  sudo systemctl daemon-reload
  sudo systemctl enable --now {name}.target
{secrets_note}
{asgi_note}
{app_servers}"""

ASGI_NOTE = """systemd binds the {server} socket ({socket}) once and passes it to every {server} (fd 3), as `tandem serve`
does, so the {server} processes share it and one can restart while the others serve.
Reload: {gunicorn_reload}`sudo systemctl reload {first_unit}` retires that {server} with 1012 and
systemd starts it again with the new code: reload them one after the other."""

ARBITER_NOTE = """systemd binds the socket of {server} ({socket}) once and passes it to its arbiter (fd 3), as
`tandem serve` does; the arbiter's workers share it.
Reload: {gunicorn_reload}`sudo systemctl reload {name}-gunicorn-asgi.service` replaces the ASGI workers
(the old ones close their WebSockets with 1012: clients reconnect)."""


def asgi_note(plan: Plan, options: ExportOptions, socket: str) -> str:
    """How systemd hands the ASGI server its socket, and how to reload it, naming the server the units run."""
    asgi = asgi_commands(commands(plan))
    arbiter = asgi[0].role == "gunicorn-asgi"
    return (ARBITER_NOTE if arbiter else ASGI_NOTE).format(
        server=server_name(asgi[0].name),
        socket=socket,
        name=options.name,
        first_unit=asgi_units(plan, options)[1][0],
        gunicorn_reload=f"`sudo systemctl reload {options.name}-gunicorn.service` replaces Gunicorn's "
        "workers;\n"
        if has_gunicorn(plan)
        else "",
    )


def service_flags(plan: Plan, options: ExportOptions) -> str:
    """--mode and --proxy as the service's ExecStart gives them: in unified mode --proxy is what puts the
    proxy in front of Daphne, so the README names it when the unit has it. An app host or an edge: --role
    and the app hosts' --mode (the Plan's mode is the role's name there)."""
    args = options.serve_args
    if "--role" in args:
        return f"--role {args[args.index('--role') + 1]} --mode {args[args.index('--mode') + 1]}"
    proxy = f" --proxy {args[args.index('--proxy') + 1]}" if "--proxy" in args else ""
    return f"--mode {plan.mode}{proxy}"


def role_note(plan: Plan, options: ExportOptions) -> str:
    """An app host or an edge: where the shared secret goes, and for an edge the host-nginx alternative."""
    if plan.mode not in ("app", "edge"):
        return ""
    edge = plan.mode == "edge"
    args = options.serve_args
    # The app hosts' ports and the upstreams: what the host's nginx needs to send where this unit's does.
    named = ("--http-port", "--ws-port", "--upstream")
    routing = " ".join(f"{arg} {args[i + 1]}" for i, arg in enumerate(args) if arg in named)
    return ROLE_NOTE.format(
        what="nginx alone in front of the app hosts" if edge else "the app servers behind an edge",
        peers="app hosts" if edge else "edge and every app host",
        name=options.name,
        edge=EDGE_NOTE.format(flags=f"{service_flags(plan, options)} {routing}".strip()) if edge else "",
    )


def split_note(plan: Plan) -> str:
    kind = proxy_kind(plan)
    if plan.mode != "split" or kind is None:
        return ""
    return SPLIT_NOTE.format(
        proxy=PROXY_NAMES[kind],
        port=plan.public.port,
        kind=kind,
        flags=topology_flags(plan),
        wsgi=wsgi_server(plan),
        asgi=server_name(asgi_commands(commands(plan))[0].name),
    )


def readme(plan: Plan, options: ExportOptions, files: tuple[File, ...]) -> File:
    from tandem.exporters.procfile import proxy_path
    from tandem.exporters.readme import app_servers_readme

    paths = (
        writable_paths(plan, static=False) if options.per_process else service_writable_paths(plan, options)
    )
    writable = "".join(f"  {path}\n" for path in paths) or "  (nothing)\n"
    if options.per_process:
        units = "".join(f"  {f.path}\n" for f in files)
        shared = plan.proxy.asgi_upstream if plan.proxy is not None else str(plan.public)
        body = PER_PROCESS.format(
            name=options.name,
            units=units,
            files=" ".join(f.path for f in files),
            socket=shared.removeprefix("unix:"),
            app_servers=app_servers_readme(plan, proxy_path=proxy_path(plan)),
            secrets_note=install_note(
                options.name,
                private_commands(plan, None)[1],
                options.user,
                "a unit, whose Environment= `systemctl show` lists to every local user",
            ),
            asgi_note=asgi_note(plan, options, shared.removeprefix("unix:")),
        )
    else:
        body = RECOMMENDED.format(
            name=options.name,
            flags=service_flags(plan, options),
            graceful=f"{graceful_timeout(plan):g}",
            user=options.user,
            runtime_dir=plan.runtime_dir,
            python=launch(plan, options).python,
            reload_note=reload_note(plan),
            split_note=split_note(plan),
            secrets_note=SECRETS_NOTE.format(
                keys=", ".join(key for key, _ in options.secret_env), name=options.name
            )
            if options.secret_env
            else "",
            role_note=role_note(plan, options),
            stopping="nginx finishes the requests in flight"
            if plan.mode == "edge"
            else "WebSockets closed with 1001, requests in flight finish",
        )
    return File(
        "README.txt",
        README.format(
            body=body, name=options.name, user=options.user, runtime_dir=plan.runtime_dir, writable=writable
        ),
    )
