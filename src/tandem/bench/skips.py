"""Which figures cannot be measured on this project or machine, and why (pure).

Keys: a figure (``echo``, ``fanout``, ``conns``) or a requirement (``split`` needs nginx, ``redis`` needs
redis-server). The reasons end up in the table, the JSON and the report, so each says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tandem.bench.facts import matching_websocket_route
from tandem.bench.options import BenchOptions
from tandem.bench.variants import CONNS, ECHO, FANOUT, Variant
from tandem.routes import WEBSOCKET, RouteTable

FANOUT_NEEDS_PATH = (
    "runs only with --fanout-path on a route that speaks the fan-out protocol (see the README, Benchmarks): "
    "tandem cannot know how a project's consumers broadcast"
)


def route_list(table: RouteTable) -> str:
    return ", ".join(f"/{r.pattern}" for r in table.for_protocol(WEBSOCKET)) or "none"


def skip_reasons(
    table: RouteTable, options: BenchOptions, *, nginx_found: bool, redis_found: bool
) -> dict[str, str]:
    """``options.ws_path`` is the echo path already resolved (given, or found by ``paths.echo_route``)."""
    skip: dict[str, str] = {}
    if not table.for_protocol(WEBSOCKET):
        skip[ECHO] = skip[FANOUT] = "the project has no WebSocket routes"
    elif options.ws_path is None:
        skip[ECHO] = (
            f"no WebSocket route says it echoes (routes: {route_list(table)}); "
            "pass --ws-path with the path of a route that sends every text frame back"
        )
    elif not matching_websocket_route(table, options.ws_path):
        skip[ECHO] = (
            f"no WebSocket route serves {options.ws_path} (routes: {route_list(table)}); "
            "pass --ws-path with the path of an echo consumer"
        )
    if FANOUT not in skip and options.fanout_path is None:
        skip[FANOUT] = FANOUT_NEEDS_PATH
    if FANOUT not in skip and not options.fanout:
        skip[FANOUT] = "--fanout is empty"
    if (
        FANOUT not in skip
        and options.fanout_path is not None
        and not matching_websocket_route(table, options.fanout_path.format(room="bench"))
    ):
        skip[FANOUT] = (
            f"no WebSocket route serves {options.fanout_path} (routes: {route_list(table)}); "
            "pass --fanout-path with a route that speaks the fan-out protocol"
        )
    if ECHO in skip:
        skip[CONNS] = "needs the echo route (see the WebSocket echo figure)"
    elif options.max_conns == 0:
        skip[CONNS] = "--max-conns 0"
    if not nginx_found:
        skip["split"] = "nginx is not installed (apt-get install nginx-light)"
    if not redis_found:
        skip["redis"] = "redis-server is not installed (apt-get install redis-server)"
    return skip


HANDBUILT_KEY = "handbuilt"  # why handbuilt-split cannot start its own nginx


def server_key(name: str) -> str:
    """The skip key of an app server option, e.g. ``server granian``."""
    return f"server {name}"


def server_skips(variants: Sequence[Variant], installed: Callable[[str], bool]) -> dict[str, str]:
    """Why each server-option variant's server cannot run: its Python package is not importable by the
    interpreter that runs ``tandem serve`` (``installed`` is asked with the package name)."""
    from tandem.servers import server

    skip: dict[str, str] = {}
    for name in sorted({s for v in variants for s in v.servers}):
        found = server(name)
        if not installed(found.module):
            skip[server_key(name)] = (
                f"{name} is not installed (its package {found.module} cannot be imported): "
                f"pip install {found.extra}"
            )
    return skip


def variant_skip(variant: Variant, skip: dict[str, str]) -> str | None:
    """Why ``variant`` cannot run at all, from the run's skip reasons; None: it runs."""
    reason = skip.get(variant.mode) or (skip.get("redis") if variant.redis else None)
    if reason is None and variant.proxy == "caddy":
        reason = skip.get("caddy")
    for name in variant.servers:
        reason = reason or skip.get(server_key(name))
    if reason is None and variant.handbuilt:
        reason = skip.get(HANDBUILT_KEY)
    if reason is None and variant.measure <= {FANOUT} and FANOUT in skip:
        reason = f"it only measures the fan-out, which is skipped: {skip[FANOUT]}"
    return reason
