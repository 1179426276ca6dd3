"""Daphne (tandem.runtime.daphne): the default ASGI server, --ws-server daphne / --server daphne.

N single-process Daphnes adopt the socket tandem bound (``--shared-fd``), each with a private unix socket
for its liveness probe; tandem's server class drains (1001 on stop, 1012 when retired by a reload), bounds
bodies, headers and WebSocket queues (tandem.runtime.hardening) and pings every WebSocket.
"""

from __future__ import annotations

import dataclasses
import os

from tandem.config import Config
from tandem.plan import Address, Context, ProcessSpec, Role
from tandem.runtime.limits import Limits
from tandem.servers import WS, Server, Slot, never
from tandem.sizes import size_bytes
from tandem.topologies.processes import (
    DAPHNE_WEBSOCKET_TIMEOUT,
    GENERATION,
    app_access_log,
    child_env,
    probe,
    runtime_spec,
)


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
                role=Role.DAPHNE,
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


def _processes(ctx: Context, slot: Slot) -> tuple[ProcessSpec, ...]:
    return daphne_processes(
        ctx, slot.count, slot.socket, serve_static=slot.serve_static, behind_proxy=slot.behind_proxy
    )


SERVER = Server(
    name="daphne",
    side=WS,
    module="daphne",
    extra="django-tandem",
    processes=_processes,
    refuse=never,
    summary="tandem's Daphne: N processes on one socket, pings, drains with 1001/1012, every limit (default)",
)
