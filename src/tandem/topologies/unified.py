"""Unified: Daphne alone serves HTTP and WebSockets, N processes on one listening socket.

With TLS, an explicit --proxy or --trusted-proxy (``Config.unified_proxy``), split mode's proxy (nginx or
Caddy, the same spec and renderers) stands on the public socket instead: the processes listen on the
internal "asgi" socket, every request goes to them, and the proxy serves static and media files, sets the
client's address and scheme, bounds bodies and terminates TLS.
"""

from __future__ import annotations

from pathlib import Path

from tandem.config import Config, describe_source
from tandem.plan import Address, Context, Plan, daphne_procs
from tandem.servers import unified_processes
from tandem.topologies import split
from tandem.topologies.services import needs_redis, redis_process


def sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    public = {"public": Address(host=config.bind, port=config.port)}
    if not config.unified_proxy:
        return public
    return {
        **public,
        **split.internal_sockets(config, runtime_dir, ("asgi",)),
        **split.redirect_socket(config),
    }


def build(ctx: Context) -> Plan:
    if ctx.config.unified_proxy:
        return build_behind_proxy(ctx)
    count = daphne_procs(ctx.config, ctx.project, ctx.layer)
    notes = []
    project = ctx.project
    if project.static_root and not project.static_root_embedded:
        notes.append(f"static files from {project.static_root} at {project.static_url} (servestatic)")
    elif not project.static_root:
        notes.append(
            "STATIC_ROOT is not set: static files are left to the project (set STATIC_ROOT to serve them)"
        )
    if project.media_root:
        notes.append(f"media files from {project.media_root} at {project.media_url}")
    return Plan(
        mode="unified",
        public=ctx.sockets["public"].address,
        runtime_dir=ctx.runtime_dir,
        processes=(
            *((redis_process(ctx),) if needs_redis(ctx) else ()),
            *unified_processes(ctx, count),  # --server (tandem.servers)
        ),
        routes=ctx.routes,
        notes=tuple(notes),
        layer=ctx.layer,
    )


def build_behind_proxy(ctx: Context) -> Plan:
    config = ctx.config
    count = daphne_procs(config, ctx.project, ctx.layer)
    proxy = split.front_proxy(ctx)
    # Named as the user set it: a PROXY in settings.TANDEM or TANDEM_PROXY also puts a proxy in front here.
    why = (
        "TLS"
        if config.tls_on
        else "--trusted-proxy"
        if config.trusted_proxies
        else describe_source("proxy", config.sources.get("proxy", ""))
    )
    notes = [
        f"{config.proxy} in front ({why}): every request to {config.server} on {proxy.spec.asgi_upstream}"
    ]
    notes += [
        f"{'media' if location.media else 'static'} files from {location.root} at {location.url} ({config.proxy})"
        for location in proxy.spec.static_locations
    ]
    return Plan(
        mode="unified",
        public=ctx.sockets["public"].address,
        runtime_dir=ctx.runtime_dir,
        processes=(
            *((redis_process(ctx),) if needs_redis(ctx) else ()),
            *unified_processes(ctx, count),  # --server (tandem.servers), on the "asgi" socket
            proxy.process,
        ),
        files=(proxy.file,),
        proxy=proxy.spec,
        routes=ctx.routes,
        warnings=tuple(split.proxy_warnings(ctx)),
        notes=tuple(notes),
        layer=ctx.layer,
        scheme="https" if config.tls_on else "http",
    )
