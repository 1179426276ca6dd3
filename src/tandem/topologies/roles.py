"""Past one machine: ``--role app`` runs only the app servers of the chosen mode on a private address,
``--role edge`` runs only nginx in front of several app hosts.

An app host runs the servers chosen as a single host does (``--http-server``, ``--ws-server``; unified:
``--server``) and listens on TCP (``--bind``, ``--http-port`` for the WSGI server, ``--ws-port`` for the ASGI
server; unified: the ASGI server alone on ``--ws-port``) and believes forwarded headers only on requests carrying the shared edge
secret (the runtime wrappers of ``--internal tcp``). The edge routes exactly as split mode's nginx does
(the same ProxySpec, the same template), with one pool per protocol instead of one server each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tandem.config import Config
from tandem.edge import parse_upstreams
from tandem.plan import Address, BoundSocket, Context, Plan, daphne_procs
from tandem.topologies import nginx, split

# The edge's pools, as the ProxySpec names its single upstreams (for status and the route summary).
EDGE_POOL = "edge pool"


def app_sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    asgi = {"asgi": Address(host=config.bind, port=config.ws_port)}
    if config.mode == "unified":
        return asgi
    return {"wsgi": Address(host=config.bind, port=config.http_port), **asgi}


def app_build(ctx: Context) -> Plan:
    """The chosen app servers (split: --http-server and --ws-server; unified: --server), no proxy, no
    managed Redis: group messages cross hosts through the Redis every host names (tandem.E015 refuses
    anything else before this)."""
    from tandem.servers import Slot, chosen, installed, split_processes

    config, project = ctx.config, ctx.project
    http, ws = chosen(config)
    asgi = ctx.sockets["asgi"].address
    if config.mode == "split":
        assert http is not None
        # Static and media files are the edge's: the servers serve neither here (split's slots).
        processes = split_processes(ctx)
        served = f"{http.name} on {ctx.sockets['wsgi'].address}, {ws.name} on {asgi}"
    else:
        installed(ws)
        processes = ws.processes(ctx, Slot("asgi", daphne_procs(config, project, ctx.layer)))
        served = f"{ws.name} on {asgi} (HTTP and WebSocket)"
    return Plan(
        mode="app",
        public=asgi,
        runtime_dir=ctx.runtime_dir,
        processes=processes,
        routes=ctx.routes,
        notes=(f"app host ({config.mode}): {served}; forwarded headers believed only from the edge",),
        layer=ctx.layer,
    )


def edge_sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    # With TLS, --redirect-port's plain-HTTP socket too (split mode's proxy spec renders its server).
    return {"public": Address(host=config.bind, port=config.port), **split.redirect_socket(config)}


def edge_build(ctx: Context) -> Plan:
    """nginx alone: split mode's routing (the same derivation from the project's routes), static files
    from this host's STATIC_ROOT, each protocol to a pool of the app hosts."""
    config = ctx.config
    upstreams = parse_upstreams(config.upstreams, config.http_port, config.ws_port)
    unified = config.mode == "unified"
    wsgi_servers = tuple(u.ws if unified else u.http for u in upstreams)
    asgi_servers = tuple(u.ws for u in upstreams)
    # split's proxy_spec names one server per pool, from sockets the edge does not have: give it the
    # first app host's, then the pools replace them.
    first = upstreams[0]
    pools = {
        "wsgi": BoundSocket(Address(host=first.host, port=first.ws_port if unified else first.http_port)),
        "asgi": BoundSocket(Address(host=first.host, port=first.ws_port)),
    }
    spec_ctx = dataclasses.replace(ctx, sockets={**ctx.sockets, **pools})
    base = split.proxy_spec(spec_ctx, managed=ctx.managed)
    proxy = split.distinct_locations(
        dataclasses.replace(
            base,
            wsgi_upstream=EDGE_POOL,
            asgi_upstream=EDGE_POOL,
            wsgi_servers=wsgi_servers,
            asgi_servers=asgi_servers,
            # Exported too: an edge proves itself to the app hosts with the shared secret.
            proxy_secret=ctx.proxy_secret,
        )
    )
    warnings = list(ctx.routes.warnings) if ctx.routes is not None else []
    warning = split.body_size_warning(config.max_body_size, ctx.project.data_upload_max_memory_size)
    if warning:
        warnings.append(warning)
    hosts = ", ".join(str(u) for u in upstreams)
    return Plan(
        mode="edge",
        public=ctx.sockets["public"].address,
        runtime_dir=ctx.runtime_dir,
        processes=(nginx.nginx_process(ctx),),
        files=(nginx.nginx_file(proxy),),
        proxy=proxy,
        routes=ctx.routes,
        warnings=tuple(warnings),
        notes=(f"edge in front of {len(upstreams)} app host(s) ({config.mode} mode): {hosts}",),
        layer=None,  # the edge runs no app server: the channel layer is the app hosts' business
    )
