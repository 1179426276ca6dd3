"""uvicorn as the ASGI server: ``--ws-server uvicorn`` (split) or ``--server uvicorn`` (unified).

N single uvicorn processes (tandem.runtime.uvicorn), managed exactly like tandem's Daphne: each adopts
the socket tandem bound and listens on a private unix socket for its probe, readiness proves it accepts
on the shared socket, a reload replaces them one at a time (SIGUSR1: 1012), a stop drains with 1001.
Limits: uvicorn's --ws-max-size (1009 above --ws-max-message-size), --ws-max-queue (reading pauses), its
WebSocket pings (--ping-interval/--ping-timeout), the keep-alive timeout; the body limit and the real
client address from tandem.runtime.served. Not kept, said at start (``gives_up``): --ws-write-buffer and
--ws-send-timeout (a send waits on the websockets library's own write buffer, without a deadline). No
per-request header deadline either (uvicorn bounds idle keep-alive time only), so it is refused in unified
mode on a non-loopback --bind. tandem's access log is written as tandem's Daphne writes it, to the same
target (``app_access_log``: unified mode, --app-access-log, or Caddy in front).
"""

from __future__ import annotations

import dataclasses

from tandem.config import Config
from tandem.errors import UsageError
from tandem.plan import Address, Context, ProcessSpec, Role
from tandem.servers import WS, Server, Slot, refuse_public_without_header_deadline, served_runtime
from tandem.sizes import size_bytes
from tandem.topologies.processes import GENERATION, app_access_log, child_env, probe


def refuse(config: Config, mode: str) -> None:
    refuse_public_without_header_deadline(
        config, mode, "uvicorn", "uvicorn has no deadline for a request's headers"
    )


def _processes(ctx: Context, slot: Slot) -> tuple[ProcessSpec, ...]:
    config = ctx.config
    spec, served_env = served_runtime(ctx, slot)
    env = {**child_env(ctx, spec), **served_env}
    bound = ctx.sockets[slot.socket]
    if bound.fd is None:
        raise UsageError(
            "--server/--ws-server uvicorn runs only under tandem serve or a process manager that binds its "
            "socket (it adopts one; it cannot bind its own)",
            hint="export systemd (with or without --per-process) or supervisor, or use the default "
            "--ws-server/--server daphne",
        )
    target = app_access_log(ctx, behind_proxy=slot.behind_proxy)
    processes = []
    for index in range(1, slot.count + 1):
        private = Address(path=str(ctx.runtime_dir / f"uvicorn-{index}.{GENERATION}.sock"))
        name = f"uvicorn.{index}" if slot.count > 1 else "uvicorn"
        argv = [
            ctx.python, "-m", "tandem.runtime.uvicorn",
            "--shared-fd", str(bound.fd),
            "--private", private.path or "",
            "--ping-interval", str(config.ping_interval),
            "--ping-timeout", str(config.ping_timeout),
            "--ws-max-size", str(size_bytes(config.ws_max_message_size)),
            "--ws-max-queue", str(config.ws_max_queue),
            "--drain-timeout", str(config.graceful_timeout),
            "--header-timeout", str(config.header_timeout),
        ]  # fmt: skip
        if target is not None:  # as tandem's Daphne takes it (tandem.servers.daphne)
            if target.fd is not None:
                argv += ["--access-log-fd", str(target.fd)]
            else:
                argv += ["--access-log-file", target.path or ""]
            argv += ["--access-log-format", target.format, "--access-log-prefix", target.prefix(name)]
        argv.append("tandem.runtime.served:application")
        processes.append(
            ProcessSpec(
                name=name,
                role=Role.DAPHNE,  # the lifecycle of tandem's Daphne: replaced one at a time, SIGUSR1 retires
                argv=tuple(argv),
                env=env,
                probe=dataclasses.replace(
                    probe(ctx, private, websocket=True), shared=bound.address, shared_fd=bound.fd
                ),
                inherited_fds=(bound.fd,) + (target.inherited_fds if target is not None else ()),
                cwd=str(ctx.project.root),
            )
        )
    return tuple(processes)


SERVER = Server(
    name="uvicorn",
    side=WS,
    module="uvicorn",
    extra="'django-tandem[servers]'",
    processes=_processes,
    refuse=refuse,
    summary="uvicorn: N processes on one socket like Daphne, its own pings and size limits",
    gives_up="no WS_WRITE_BUFFER or WS_SEND_TIMEOUT (a send to a client that does not read waits, no deadline)",
)
