"""Gunicorn: the default WSGI server in split mode, --http-server gunicorn (sync workers).

One arbiter adopting the socket tandem bound (``--bind fd://N``) and forking ``--workers`` workers; a
reload is its HUP (new workers with the new code, the old ones finishing their requests).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from tandem.accesslog import gunicorn_log_format
from tandem.plan import Context, ProcessSpec, Role
from tandem.runtime.spec import RuntimeSpec
from tandem.servers import HTTP, Server, Slot, never
from tandem.topologies.processes import app_access_log, child_env, probe, runtime_spec


def gunicorn_process(ctx: Context, workers: int, socket_name: str) -> ProcessSpec:
    spec = runtime_spec(ctx, ctx.project.wsgi_app, serve_static=False, trust_proxy=True)
    threads = ctx.config.threads or 1
    return arbiter_process(
        ctx,
        workers,
        socket_name,
        spec,
        app="tandem.runtime.wsgi:application",
        name="gunicorn",
        role=Role.GUNICORN,
        # More than one thread: Gunicorn's gthread worker (I/O-bound views wait in threads, not workers).
        extra_argv=("--threads", str(threads)) if threads > 1 else (),
    )


def arbiter_process(
    ctx: Context,
    workers: int,
    socket_name: str,
    spec: RuntimeSpec,
    *,
    app: str,
    name: str,
    role: Role,
    behind_proxy: bool = True,
    extra_argv: tuple[str, ...] = (),
    extra_env: Mapping[str, str] | None = None,
) -> ProcessSpec:
    """A Gunicorn arbiter on the socket tandem bound: sync workers (``gunicorn``) or, with a worker class
    in ``extra_argv``, the ASGI worker (tandem.servers.gunicorn_asgi)."""
    config = ctx.config
    bound = ctx.sockets[socket_name]
    bind = f"fd://{bound.fd}" if bound.fd is not None else bound.address.gunicorn()
    argv = [
        ctx.python, "-m", "gunicorn",
        "--bind", bind,
        "--workers", str(workers),
        "--graceful-timeout", str(int(config.graceful_timeout)),
        "--error-logfile", "-",
        "--chdir", str(ctx.project.root),
        "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else str(ctx.runtime_dir),
        # Gunicorn 24+ opens a control socket, by default one per user in ~/.gunicorn: keep ours private.
        "--control-socket", str(ctx.runtime_dir / f"{name}.ctl"),
    ]  # fmt: skip
    argv += extra_argv
    target = app_access_log(ctx, behind_proxy=behind_proxy)
    if target is not None:
        argv += [
            "--access-logfile", target.child_path,
            "--access-logformat", gunicorn_log_format(target.format, target.prefix(name)),
            # Leaves tandem's probes out of the log.
            "--logger-class", "tandem.runtime.gunicorn_log.TandemLogger",
        ]  # fmt: skip
    if ctx.proxy_secret:
        # On a TCP port any local process connects from 127.0.0.1, which Gunicorn trusts by default for
        # X-Forwarded-Proto: trust no peer; tandem's wrapper believes only requests carrying the secret.
        argv += ["--forwarded-allow-ips", ""]
    argv.append(app)
    return ProcessSpec(
        name=name,
        role=role,
        argv=tuple(argv),
        env={**child_env(ctx, spec), **(extra_env or {})},
        probe=probe(ctx, bound.address),
        inherited_fds=((bound.fd,) if bound.fd is not None else ())
        + (target.inherited_fds if target is not None else ()),
        cwd=str(ctx.project.root),
        # Gunicorn reopens its log files on USR1 (and on HUP, a reload); the terminal needs no reopening.
        reopen_signal=signal.SIGUSR1 if target is not None and target.path is not None else None,
    )


def _processes(ctx: Context, slot: Slot) -> tuple[ProcessSpec, ...]:
    return (gunicorn_process(ctx, slot.count, slot.socket),)


SERVER = Server(
    name="gunicorn",
    side=HTTP,
    module="gunicorn",
    extra="django-tandem",
    processes=_processes,
    refuse=never,
    summary="Gunicorn sync workers (default)",
)
