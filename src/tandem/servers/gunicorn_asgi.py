"""Gunicorn's ASGI worker (``-k asgi``, Gunicorn 27) as the ASGI server: ``--ws-server gunicorn-asgi``
(split) or ``--server gunicorn-asgi`` (unified).

One Gunicorn arbiter on the socket tandem bound, with --procs workers (tandem.runtime.gunicorn_asgi's
worker class) running tandem.runtime.served's application. Guarantees kept: probes (tandem's ASGI wrapper),
draining with 1001 on stop and 1012 when a reload (the arbiter's HUP) retires a worker (the worker closes
each WebSocket itself: Gunicorn's own sends no close frame), the client address only from the proxy
(X-Real-IP), the body limit (413, also in unified mode), WebSocket message size (Gunicorn's
--websocket-max-message-size, 1009) and backpressure (Gunicorn 27 pauses reading and awaits writes).

Not kept, said at start (``gives_up``): Gunicorn sends no WebSocket pings, so an idle socket is kept alive
by nothing (behind the proxy it is closed after --ws-read-timeout of silence) and a dead client is noticed
only by TCP; the application's send() has no timeout (--ws-send-timeout does not apply). No per-connection
header deadline either, so it is refused in unified mode on a non-loopback --bind.
"""

from __future__ import annotations

from tandem.config import Config
from tandem.errors import UsageError
from tandem.plan import Context, ProcessSpec, Role
from tandem.servers import WS, Server, Slot, refuse_public_without_header_deadline, served_runtime
from tandem.sizes import size_bytes

MIN_GUNICORN = (27, 0, 1)


def _gunicorn_version() -> tuple[int, ...]:
    from importlib import metadata

    try:
        text = metadata.version("gunicorn")
    except metadata.PackageNotFoundError:
        return ()
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def refuse(config: Config, mode: str) -> None:
    if _gunicorn_version() < MIN_GUNICORN:
        raise UsageError(
            "--server/--ws-server gunicorn-asgi needs Gunicorn 27.0.1 or later (WebSocket backpressure)",
            hint="pip install 'django-tandem[servers]'",
        )
    refuse_public_without_header_deadline(
        config, mode, "gunicorn-asgi", "Gunicorn's ASGI worker has no deadline for a request's headers"
    )


def _processes(ctx: Context, slot: Slot) -> tuple[ProcessSpec, ...]:
    from tandem.servers.gunicorn import arbiter_process

    config = ctx.config
    spec, served_env = served_runtime(ctx, slot)
    env = {
        **served_env,
        "TANDEM_RELOAD_MARKER": str(ctx.runtime_dir / "gunicorn-asgi.reloaded"),
    }
    extra = (
        "--worker-class", "tandem.runtime.gunicorn_asgi.TandemASGIWorker",
        # The on_reload hook marks a reload, so retired workers close their WebSockets with 1012.
        "--config", "python:tandem.runtime.gunicorn_asgi",
        "--websocket-max-message-size", str(size_bytes(config.ws_max_message_size)),
        "--asgi-lifespan", "off",
    )  # fmt: skip
    process = arbiter_process(
        ctx,
        slot.count,
        slot.socket,
        spec,
        app="tandem.runtime.served:application",
        name="gunicorn-asgi",
        role=Role.GUNICORN_ASGI,
        behind_proxy=slot.behind_proxy,
        extra_argv=extra,
        extra_env=env,
    )
    return (process,)


SERVER = Server(
    name="gunicorn-asgi",
    side=WS,
    module="gunicorn.workers.gasgi",
    extra="'django-tandem[servers]'",
    processes=_processes,
    refuse=refuse,
    summary="Gunicorn 27's ASGI worker: --procs workers under one arbiter; no WebSocket pings",
    gives_up="no WebSocket pings (a dead client is noticed only by TCP) and no WS_SEND_TIMEOUT",
)
