"""App servers, one strategy module each, chosen by name from a table (``--http-server``, ``--ws-server``,
``--server``). Every one keeps tandem's guarantees or is refused where it cannot:

- one listening socket bound by tandem and passed down (fd), never bound by the server itself;
- readiness and liveness probes answered by tandem's wrappers (tandem.runtime.asgi / wsgi), which every
  server runs instead of the user's application;
- draining: WebSockets closed with 1001 on stop and 1012 when a reload retires the process;
- a reload without a failed request (one process at a time, or the arbiter's graceful HUP);
- the client address only from tandem's proxy; the body limit; WebSocket message size and backpressure.

A server's ``refuse`` names the guarantee it cannot keep for a configuration and raises; ``processes``
builds its ProcessSpecs from the Context.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from tandem.config import Config
from tandem.errors import UsageError
from tandem.plan import Context, ProcessSpec
from tandem.runtime.served import BODY_LIMIT_ENV, REAL_IP_ENV
from tandem.runtime.spec import RuntimeSpec
from tandem.sizes import size_bytes

HTTP = "http"  # split mode's WSGI side
WS = "ws"  # split mode's ASGI side, and unified mode's only server

DEFAULT_HTTP = "gunicorn"
DEFAULT_WS = "daphne"

# How the supervisor treats each process role: an arbiter that replaces its own workers on HUP, or single
# processes tandem replaces one at a time (SIGUSR1: drain with 1012). Daphne and uvicorn are the latter.
HUP_RELOAD_ROLES = ("gunicorn", "gunicorn-asgi")
ASGI_ROLES = ("daphne", "gunicorn-asgi")  # processes that run the ASGI application


@dataclass(frozen=True)
class Slot:
    """Where a server runs in a topology: the socket (a name in ``ctx.sockets``), how many processes or
    workers, whether it serves static files (unified) and whether tandem's proxy is in front."""

    socket: str
    count: int
    serve_static: bool = False
    behind_proxy: bool = True


@dataclass(frozen=True)
class Server:
    name: str
    side: str  # HTTP or WS
    module: str  # the Python package it needs (checked before anything starts)
    extra: str  # how to install it
    processes: Callable[[Context, Slot], tuple[ProcessSpec, ...]]
    refuse: Callable[[Config, str], None]  # raises UsageError for a mode/option combination it cannot keep
    summary: str  # one line for --help, the README and the startup notes
    gives_up: str = ""  # the guarantees it does not keep, said at start (a note) when it runs
    # --workers auto: this many workers per core (split mode's WSGI servers; measured, see the README).
    workers_per_core: int = 2


def gives_up_notes(process_names: tuple[str, ...]) -> tuple[str, ...]:
    """A startup note for each server of the Plan (by its processes' names: ``uvicorn.2``, ``gunicorn-asgi``)
    that does not keep every guarantee tandem's Daphne keeps."""
    return tuple(
        f"{found.name}: {found.gives_up}"
        for found in _servers().values()
        if found.gives_up and any(n == found.name or n.startswith(found.name + ".") for n in process_names)
    )


def _servers() -> dict[str, Server]:
    from tandem.servers import daphne, granian, gunicorn, gunicorn_asgi, uvicorn

    return {
        s.name: s
        for s in (gunicorn.SERVER, granian.SERVER, daphne.SERVER, gunicorn_asgi.SERVER, uvicorn.SERVER)
    }


HTTP_SERVERS = ("gunicorn", "granian")
WS_SERVERS = ("daphne", "gunicorn-asgi", "uvicorn")


def server(name: str) -> Server:
    return _servers()[name]


def chosen(config: Config) -> tuple[Server | None, Server]:
    """(the WSGI server or None in unified mode, the ASGI server) for ``config``, refused combinations
    raised as UsageError naming the option and the guarantee."""
    if config.mode == "unified":
        if config.http_server != DEFAULT_HTTP:
            raise UsageError(
                f"--http-server {config.http_server} is for split mode: unified mode runs no WSGI server",
                hint="add --mode split, or choose the unified server with --server",
            )
        if config.ws_server != DEFAULT_WS:
            raise UsageError(
                f"--ws-server {config.ws_server} is for split mode; unified mode's one server is --server",
                hint=f"use --server {config.ws_server}",
            )
        ws = server(config.server)
        # Behind tandem's proxy (unified mode with TLS, --proxy or --trusted-proxy) the server stands where
        # split mode's ASGI server does: the proxy bounds headers and bodies on the public port, so split's
        # rules apply.
        # An app host (--role app) stands behind the edge's nginx, which bounds headers and bodies too.
        ws.refuse(config, "split" if config.unified_proxy or config.role == "app" else "unified")
        return None, ws
    if config.server != DEFAULT_WS:
        raise UsageError(
            f"--server {config.server} is for unified mode; split mode has --http-server and --ws-server",
            hint=f"use --ws-server {config.server}",
        )
    http, ws = server(config.http_server), server(config.ws_server)
    http.refuse(config, "split")
    ws.refuse(config, "split")
    return http, ws


def installed(found: Server) -> None:
    """Refuses a server whose package is missing, with the install line, before anything starts."""
    import importlib.util

    if importlib.util.find_spec(found.module) is None:
        raise UsageError(f"{found.name} is not installed", hint=f"pip install {found.extra}")


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def refuse_public_without_header_deadline(config: Config, mode: str, name: str, why: str) -> None:
    """Unified mode on a non-loopback --bind, for a server that bounds no request's headers (``why``): a
    public port would be open to slow clients holding every connection. Behind a proxy the proxy bounds them."""
    if mode == "unified" and not loopback(config.bind):
        raise UsageError(
            f"--server {name} on --bind {config.bind}: {why}, so a public port is open to slow clients "
            "holding every connection (tandem's Daphne bounds it)",
            hint=f"use --mode split (the proxy bounds headers) with --ws-server {name}, or --server daphne",
        )


def served_runtime(ctx: Context, slot: Slot) -> tuple[RuntimeSpec, dict[str, str]]:
    """The RuntimeSpec and the environment of tandem.runtime.served's application (uvicorn's and Gunicorn's
    ASGI worker's): the body limit, and X-Real-IP believed only behind tandem's proxy without a secret."""
    from tandem.topologies.processes import runtime_spec

    spec = runtime_spec(
        ctx, ctx.project.asgi_app, serve_static=slot.serve_static, trust_proxy=slot.behind_proxy
    )
    return spec, {
        BODY_LIMIT_ENV: str(size_bytes(ctx.config.max_body_size)),
        REAL_IP_ENV: "1" if slot.behind_proxy and not ctx.proxy_secret else "0",
    }


def never(config: Config, mode: str) -> None:
    """``refuse`` for a server that keeps every guarantee in both modes."""


def reuse_port_groups(config: Config) -> dict[str, int]:
    """How many sockets the launcher binds on one TCP address, by socket name, where the server takes one
    per worker: Granian's WSGI side (split mode, and an app host's). Unix sockets stay one."""
    from tandem.plan import wsgi_workers

    if config.mode != "split" or config.http_server != "granian":
        return {}
    return {"wsgi": wsgi_workers(config, server("granian").workers_per_core)}


def split_processes(ctx: Context) -> tuple[ProcessSpec, ...]:
    """Split mode's app servers: the WSGI server on the "wsgi" socket, the ASGI server on "asgi"."""
    from tandem.plan import daphne_procs, wsgi_workers

    http, ws = chosen(ctx.config)
    assert http is not None
    for found in (http, ws):
        installed(found)
    count = daphne_procs(ctx.config, ctx.project, ctx.layer)
    return (
        *http.processes(ctx, Slot("wsgi", wsgi_workers(ctx.config, http.workers_per_core))),
        *ws.processes(ctx, Slot("asgi", count)),
    )


def unified_processes(ctx: Context, count: int) -> tuple[ProcessSpec, ...]:
    """Unified mode's one server: alone on the public socket, serving static files; or, with tandem's proxy
    in front (``Config.unified_proxy``), on the internal "asgi" socket, the proxy serving the files."""
    _, ws = chosen(ctx.config)
    installed(ws)
    if ctx.config.unified_proxy:
        return ws.processes(ctx, Slot("asgi", count))
    return ws.processes(ctx, Slot("public", count, serve_static=True, behind_proxy=False))
