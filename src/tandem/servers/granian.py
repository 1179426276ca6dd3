"""Granian as split mode's WSGI server: ``--http-server granian``.

tandem.runtime.granian gives Granian's server the socket tandem bound (Granian has no option to adopt
one); over TCP, one socket per worker on the same port (tandem.sockets.bind_group), so the kernel spreads
connections over the workers. Guarantees: probes and the real client address come from tandem's WSGI
wrapper; the body limit is the proxy's (split mode only); a reload is Granian's HUP, which starts each
new worker before stopping the old one gracefully; a request's headers must arrive within --header-timeout.
Threads are set explicitly: one blocking thread per worker unless --threads says otherwise (Granian's
default opens many, each with its own database connection).

Refused: writing tandem's access-log lines (Granian has its own format on its stdout), so with
--app-access-log, or Caddy in front with the access log on (the app servers log then), choose Gunicorn.
"""

from __future__ import annotations

from tandem.config import Config
from tandem.errors import UsageError
from tandem.plan import Context, ProcessSpec, Role, sibling_name
from tandem.servers import HTTP, Server, Slot
from tandem.topologies.processes import child_env, probe, runtime_spec


def refuse(config: Config, mode: str) -> None:
    if config.access_log and (config.app_access_log or config.proxy == "caddy"):
        why = (
            "--app-access-log"
            if config.app_access_log
            else "--proxy caddy (the app servers write the access log)"
        )
        raise UsageError(
            f"--http-server granian with {why}: Granian cannot write tandem's access-log lines "
            "(its own format, on its stdout)",
            hint="use --http-server gunicorn, --proxy nginx (nginx writes the log), or --no-access-log",
        )


def _processes(ctx: Context, slot: Slot) -> tuple[ProcessSpec, ...]:
    config = ctx.config
    spec = runtime_spec(ctx, ctx.project.wsgi_app, serve_static=False, trust_proxy=True)
    bound = ctx.sockets[slot.socket]
    # Over TCP the launcher bound one socket per worker (reuse_port_groups); the first is slot.socket.
    fds = [bound.fd] + [
        sibling.fd
        for index in range(2, slot.count + 1)
        if (sibling := ctx.sockets.get(sibling_name(slot.socket, index))) is not None
        and sibling.fd is not None
    ]
    if bound.fd is None:
        raise UsageError(
            "--http-server granian runs only under tandem serve (it adopts the socket tandem binds)",
            hint="export systemd (one tandem.service running tandem serve), or use --http-server gunicorn",
        )
    argv = [
        ctx.python, "-m", "tandem.runtime.granian",
        *(arg for fd in fds for arg in ("--fd", str(fd))),
        "--workers", str(slot.count),
        "--blocking-threads", str(config.threads or 1),
        "--header-timeout", str(config.header_timeout or 60),
        "--kill-timeout", str(max(1, int(config.graceful_timeout))),
        "--keep-alive",
        "tandem.runtime.wsgi:application",
    ]  # fmt: skip
    return (
        ProcessSpec(
            name="granian",
            role=Role.GUNICORN,  # the lifecycle of an arbiter: HUP replaces its workers, stops after the proxy
            argv=tuple(argv),
            env=child_env(ctx, spec),
            probe=probe(ctx, bound.address),
            inherited_fds=tuple(fd for fd in fds if fd is not None),
            cwd=str(ctx.project.root),
        ),
    )


SERVER = Server(
    name="granian",
    side=HTTP,
    module="granian",
    extra="'django-tandem[servers]'",
    processes=_processes,
    refuse=refuse,
    summary="Granian's WSGI interface (Rust HTTP, one blocking thread per worker unless --threads)",
    # A Granian worker is more than one busy thread (its Rust I/O runtime beside the Python thread), so one
    # per core: through nginx on 2 cores, 2 workers beat 4 in 9 of 9 paired runs (README, the worker count).
    workers_per_core=1,
)
