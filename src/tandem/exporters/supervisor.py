"""``tandem export supervisor``: one supervisord program per app server of the Plan, each the command
``tandem serve`` starts; the Daphne processes as one fcgi-program, so supervisord binds their shared
socket once and passes it to each (fd 0), as tandem does."""

from __future__ import annotations

from tandem.exporters.common import (
    Command,
    ExportOptions,
    asgi_commands,
    has_gunicorn,
    need_app_servers,
    stop_timeout,
)
from tandem.exporters.procfile import proxy_file, proxy_path
from tandem.exporters.readme import app_servers_readme, server_name
from tandem.exporters.secrets import install_note, installed_path, private_commands, secrets_file
from tandem.plan import File, Plan

README = """\
supervisord configuration exported by django-tandem
===================================================

tandem.conf has {programs}, whose socket
supervisord binds once and hands to {each}. Install it:

  sudo cp tandem.conf /etc/supervisor/conf.d/{name}.conf
  sudo supervisorctl reread && sudo supervisorctl update

Each program runs as user {user}; put your own environment (SECRET_KEY, ...) in an environment= line
of the program or in the environment supervisord starts with. They stop with TERM and supervisord
waits {stop_timeout} s (the graceful timeout plus a margin) before KILL.
Reload new code without dropping requests: {reload_gunicorn}{reload_asgi}
The file holds the probe token: keep it private (it is written 0600).
{secrets_note}
{app_servers}"""


def supervisor_value(text: str) -> str:
    """supervisord expands %(name)s in its values: a literal % is written %%."""
    return text.replace("%", "%%")


def program(name: str, cmd: Command, user: str, stop: int) -> list[str]:
    return [
        f"[program:{name}]",
        f"command={supervisor_value(cmd.shell())}",
        f"directory={supervisor_value(cmd.cwd)}",
        *_common(user, stop),
    ]


def _common(user: str, stop: int) -> list[str]:
    """What every program block shares: who runs it, restarts, and a TERM stop bounded by the graceful time."""
    return [
        f"user={user}",
        "autostart=true",
        "autorestart=true",
        "startsecs=5",
        "stopsignal=TERM",
        f"stopwaitsecs={stop}",
        "killasgroup=true",
        "redirect_stderr=true",
        "",
    ]


def daphne_program(
    name: str, plan: Plan, cmds: tuple[Command, ...], user: str, group: str, stop: int
) -> list[str]:
    """The ASGI server's processes as one fcgi-program: N Daphnes (or uvicorns), or Gunicorn's ASGI
    worker's one arbiter (``--bind fd://0``)."""
    group_daphnes = asgi_commands(cmds)
    first = group_daphnes[0]
    command = supervisor_value(first.shell())
    # Each process gets its own private socket for tandem's probes, numbered like the process
    # (daphne-1.0.sock, uvicorn-1.0.sock; Gunicorn's arbiter has none).
    base = first.name.split(".", 1)[0]
    command = command.replace(f"/{base}-1.0.sock", f"/{base}-%(process_num)d.0.sock")
    shared = plan.proxy.asgi_upstream if plan.proxy is not None else str(plan.public)
    unix = shared.startswith("unix:")
    socket = f"unix://{shared.removeprefix('unix:')}" if unix else f"tcp://{shared}"
    lines = [
        f"[fcgi-program:{name}]",
        f"socket={supervisor_value(socket)}",
    ]
    if unix:
        lines += [f"socket_owner={user}:{group}", "socket_mode=0660"]
    lines += [
        f"process_name={name}.%(process_num)d",
        f"numprocs={len(group_daphnes)}",
        "numprocs_start=1",
        f"command={command}",
        f"directory={supervisor_value(first.cwd)}",
        *_common(user, stop),
    ]
    return lines


def supervisor_files(plan: Plan, options: ExportOptions) -> tuple[File, ...]:
    need_app_servers(plan, "supervisor")
    user, group, name = options.user, options.group or "www-data", options.name
    stop = stop_timeout(plan) + 5
    lines = [f"; supervisord programs for {plan.mode} mode, rendered by django-tandem from the Plan.", ""]
    cmds, secrets = private_commands(plan, installed_path(name))
    for cmd in cmds:
        if cmd.role == "gunicorn":
            lines += program(f"{name}-gunicorn", cmd, user, stop)
    asgi = asgi_commands(cmds)
    arbiter = asgi[0].role == "gunicorn-asgi"
    asgi_program = f"{name}-{'gunicorn-asgi' if arbiter else 'uvicorn' if asgi[0].name.startswith('uvicorn') else 'daphne'}"
    lines += daphne_program(asgi_program, plan, cmds, user, group, stop)
    files = [File("tandem.conf", "\n".join(lines), 0o600)]
    if secrets:
        files.append(secrets_file(f"{name}.secrets", secrets))
    proxy = proxy_file(plan)
    if proxy is not None:
        files.append(proxy)
    gunicorn = has_gunicorn(plan)
    server = server_name(asgi[0].name)
    fcgi = (
        f"an [fcgi-program:] for {server} (one arbiter and its workers)"
        if arbiter
        else f"an [fcgi-program:] for the {server} processes"
    )
    readme = README.format(
        programs=f"a [program:] for Gunicorn and {fcgi}" if gunicorn else fcgi,
        each="its arbiter" if arbiter else "each of them",
        reload_asgi=(
            f"`supervisorctl signal HUP {asgi_program}:{asgi_program}.1`\nreplaces its "
            "workers (they close their WebSockets with 1012: clients reconnect)."
            if arbiter
            else f"`supervisorctl signal USR1 {asgi_program}:{asgi_program}.1`\nretires one process "
            "with 1012 (clients reconnect) and supervisord starts it again; do one at a time."
        ),
        reload_gunicorn=(
            f"`supervisorctl signal HUP {name}-gunicorn` (Gunicorn\nreplaces its workers); for {server}, "
            if gunicorn
            else ""
        ),
        name=name,
        user=user,
        stop_timeout=stop,
        secrets_note=install_note(name, secrets, user, "tandem.conf, whose command lines `ps` shows"),
        app_servers=app_servers_readme(plan, proxy_path=proxy_path(plan)),
    )
    files.append(File("README.txt", readme))
    return tuple(files)
