"""Process specs shared by the topologies: how Daphne and Gunicorn are started."""

from __future__ import annotations

import dataclasses
import os
import signal

from tandem.accesslog import AccessLogTarget, gunicorn_log_format
from tandem.config import Config
from tandem.layerchoice import KEPT_MEMORY, MANAGED, URL
from tandem.layers.substitute import TANDEM_MEMORY_SPEC
from tandem.plan import Address, Context, Probe, ProcessSpec
from tandem.pythonpath import environ_value
from tandem.redishosts import read_timeout_for
from tandem.runtime.bootfailure import MARKER_DIR_ENV
from tandem.runtime.limits import Limits
from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH, RuntimeSpec
from tandem.sizes import size_bytes
from tandem.topologies.services import redis_url

GENERATION = "{generation}"
DAPHNE_WEBSOCKET_TIMEOUT = 86400  # Daphne's default --websocket_timeout, which Config's default repeats


def child_env(ctx: Context, spec: RuntimeSpec) -> dict[str, str]:
    env = dict(ctx.environ)
    env.update(
        {
            # The sys.path tandem imported the project with (tandem.pythonpath), the caller's own after it.
            "PYTHONPATH": environ_value(ctx.project.pythonpath, env.get("PYTHONPATH")),
            "DJANGO_SETTINGS_MODULE": ctx.project.settings_module,
            "PYTHONUNBUFFERED": "1",
            **spec.to_env(),
        }
    )
    if ctx.managed:  # Gunicorn workers that fail alike report once (tandem.runtime.bootfailure)
        env[MARKER_DIR_ENV] = str(ctx.runtime_dir)
    return env


def channel_layer_url(ctx: Context) -> str | None:
    """What replaces CHANNEL_LAYERS in the children: the user's --channel-layer URL, the managed
    redis-server's socket, "memory" (the in-memory layer kept) or "tandem-memory" (the in-memory layer as
    tandem.layers.inmemory's class, one process); None keeps the project's own layer."""
    layer = ctx.layer
    if layer is None:
        return ctx.config.channel_layer
    if layer.kind == MANAGED:
        return redis_url(ctx.runtime_dir)
    if layer.tandem_memory:
        return TANDEM_MEMORY_SPEC
    if layer.kind == KEPT_MEMORY:
        return "memory"
    return layer.url if layer.kind == URL else None


def runtime_spec(ctx: Context, app: str, *, serve_static: bool, trust_proxy: bool) -> RuntimeSpec:
    project = ctx.project
    return RuntimeSpec(
        app=app,
        probe_token=ctx.probe_token,
        channel_layer=channel_layer_url(ctx),
        redis_read_timeout=read_timeout_for(ctx.config.keep_redis_timeouts, ctx.config.channel_layer),
        serve_static=serve_static,
        static_url=project.static_url,
        static_root=str(project.static_root) if project.static_root else None,
        override_static_root=project.static_root_embedded,
        media_url=project.media_url,
        media_root=str(project.media_root) if project.media_root else None,
        trust_proxy=trust_proxy,
        proxy_secret=ctx.proxy_secret if trust_proxy else "",
        diagnostic_token=ctx.config.diagnostic_token,
    )


def probe(ctx: Context, address: Address, *, websocket: bool = False) -> Probe:
    return Probe(
        address=address,
        path=PROBE_PATH,
        host_header=ctx.project.probe_host,
        headers={PROBE_HEADER: ctx.probe_token},
        websocket=websocket,
    )


def app_access_log(ctx: Context, *, behind_proxy: bool) -> AccessLogTarget | None:
    """Where an app server writes its access log: behind nginx, which already logs every request, only
    with --app-access-log (one line per request by default)."""
    # Caddy writes no common/combined lines of its own: behind it the app servers log instead.
    quiet = behind_proxy and not ctx.config.app_access_log and ctx.config.proxy != "caddy"
    if ctx.access_log is None or quiet:
        return None
    return ctx.access_log


def _twisted_unix(path: str) -> str:
    return "unix:" + path.replace("\\", "\\\\").replace(":", "\\:")


def daphne_limits_argv(config: Config) -> list[str]:
    """Per-connection limits for tandem's Daphne (tandem.runtime.limits), in both modes: in split mode
    nginx enforces the body size first and the rest apply to what it passes on."""
    message = str(size_bytes(config.ws_max_message_size))
    limits = Limits(
        max_body_size=size_bytes(config.max_body_size),
        header_timeout=config.header_timeout,
        ws_max_queue=config.ws_max_queue,
        ws_write_buffer=size_bytes(config.ws_write_buffer),
        ws_send_timeout=config.ws_send_timeout,
    )
    # Daphne's own options: a larger message or frame is refused (tandem makes it a 1009 close).
    return [*limits.to_argv(), "--websocket-max-message-size", message, "--websocket-max-frame-size", message]


def daphne_processes(
    ctx: Context, count: int, shared: str, *, serve_static: bool, behind_proxy: bool
) -> tuple[ProcessSpec, ...]:
    """``count`` Daphne processes sharing the listening socket ``shared`` (from ``ctx.sockets``).

    Each also listens on a private unix socket of its own, for liveness: a probe through the shared socket
    reaches whichever process the kernel picks. Readiness needs both: the private socket answers, and a
    probe through the shared socket lands on this process (tandem.supervisor.starting).
    """
    config = ctx.config
    spec = runtime_spec(ctx, ctx.project.asgi_app, serve_static=serve_static, trust_proxy=behind_proxy)
    env = child_env(ctx, spec)
    bound = ctx.sockets[shared]
    processes = []
    for index in range(1, count + 1):
        # {generation} is filled in per start: during a reload the old and new process both run.
        private = Address(path=str(ctx.runtime_dir / f"daphne-{index}.{GENERATION}.sock"))
        argv = [ctx.python, "-m", "tandem.runtime.daphne", "--drain-timeout", str(config.graceful_timeout)]
        if bound.fd is not None:
            argv += ["--shared-fd", str(bound.fd)]
        elif bound.address.path:
            argv += ["-u", bound.address.path]
        else:
            argv += ["-b", bound.address.host or "127.0.0.1", "-p", str(bound.address.port)]
        # Twisted creates a unix socket 0666 unless told: this one is for tandem's probes only.
        argv += ["-e", _twisted_unix(private.path or "") + ":mode=600"]
        argv += [
            "--ping-interval", str(config.ping_interval),
            "--ping-timeout", str(config.ping_timeout),
            "--application-close-timeout", "10",
            "--no-server-name",
        ]  # fmt: skip
        argv += daphne_limits_argv(config)
        if config.websocket_timeout != DAPHNE_WEBSOCKET_TIMEOUT:  # Daphne's own default needs no flag
            argv += ["--websocket_timeout", str(config.websocket_timeout)]
        name = f"daphne.{index}" if count > 1 else "daphne"
        # Daphne's own access log (a line per request through sys.stdout, on by default at its verbosity)
        # is off; tandem's server class writes its own, buffered, straight to the target.
        argv += ["--access-log", os.devnull]
        target = app_access_log(ctx, behind_proxy=behind_proxy)
        if target is not None:
            if target.fd is not None:
                argv += ["--access-log-fd", str(target.fd)]
            else:
                argv += ["--access-log-file", target.path or ""]
            argv += ["--access-log-format", target.format, "--access-log-prefix", target.prefix(name)]
        if behind_proxy and not ctx.proxy_secret:
            # nginx overwrites X-Forwarded-For with the peer address, so its left-most value is trusted
            # (the socket is reachable by nginx alone). On a TCP port (a proxy secret is set) the runtime
            # wrapper applies the headers instead, only from nginx (tandem.runtime.asgi.TrustedProxyASGI).
            argv += ["--proxy-headers"]
        argv.append("tandem.runtime.asgi:application")
        processes.append(
            ProcessSpec(
                name=name,
                role="daphne",
                argv=tuple(argv),
                env=env,
                probe=dataclasses.replace(
                    probe(ctx, private, websocket=True), shared=bound.address, shared_fd=bound.fd
                ),
                inherited_fds=((bound.fd,) if bound.fd is not None else ())
                + (target.inherited_fds if target is not None else ()),
                cwd=str(ctx.project.root),
            )
        )
    return tuple(processes)


def gunicorn_process(ctx: Context, workers: int, socket_name: str) -> ProcessSpec:
    config = ctx.config
    spec = runtime_spec(ctx, ctx.project.wsgi_app, serve_static=False, trust_proxy=True)
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
        "--control-socket", str(ctx.runtime_dir / "gunicorn.ctl"),
    ]  # fmt: skip
    target = app_access_log(ctx, behind_proxy=True)
    if target is not None:
        argv += [
            "--access-logfile", target.child_path,
            "--access-logformat", gunicorn_log_format(target.format, target.prefix("gunicorn")),
            # Leaves tandem's probes out of the log.
            "--logger-class", "tandem.runtime.gunicorn_log.TandemLogger",
        ]  # fmt: skip
    if ctx.proxy_secret:
        # On a TCP port any local process connects from 127.0.0.1, which Gunicorn trusts by default for
        # X-Forwarded-Proto: trust no peer; tandem's wrapper believes only requests carrying the secret.
        argv += ["--forwarded-allow-ips", ""]
    argv.append("tandem.runtime.wsgi:application")
    return ProcessSpec(
        name="gunicorn",
        role="gunicorn",
        argv=tuple(argv),
        env=child_env(ctx, spec),
        probe=probe(ctx, bound.address),
        inherited_fds=((bound.fd,) if bound.fd is not None else ())
        + (target.inherited_fds if target is not None else ()),
        cwd=str(ctx.project.root),
        # Gunicorn reopens its log files on USR1 (and on HUP, a reload); the terminal needs no reopening.
        reopen_signal=signal.SIGUSR1 if target is not None and target.path is not None else None,
    )
