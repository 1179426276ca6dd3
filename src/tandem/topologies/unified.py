"""Unified: Daphne alone serves HTTP and WebSockets, N processes on one listening socket."""

from __future__ import annotations

from pathlib import Path

from tandem.config import Config
from tandem.plan import Address, Context, Plan, daphne_procs
from tandem.servers import unified_processes
from tandem.topologies.services import needs_redis, redis_process


def sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    return {"public": Address(host=config.bind, port=config.port)}


def build(ctx: Context) -> Plan:
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
