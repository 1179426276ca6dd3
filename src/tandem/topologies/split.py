"""Split: Gunicorn serves WSGI HTTP, Daphne serves WebSockets (and --asgi-prefix paths), nginx in front
routes between them and serves static and media files itself."""

from __future__ import annotations

import os
from pathlib import Path

from tandem.config import Config
from tandem.plan import (
    Address,
    Context,
    File,
    Plan,
    ProcessSpec,
    ProxySpec,
    StaticLocation,
    daphne_procs,
    gunicorn_workers,
    host_for_url,
)
from tandem.proxies.nginx import render_nginx
from tandem.routes import RouteTable
from tandem.topologies.processes import daphne_processes, gunicorn_process, probe

NGINX_DIR = "nginx"


def sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    if config.internal == "tcp":
        internal = {"wsgi": Address(host="127.0.0.1", port=0), "asgi": Address(host="127.0.0.1", port=0)}
    else:
        internal = {
            "wsgi": Address(path=str(runtime_dir / "gunicorn.sock")),
            "asgi": Address(path=str(runtime_dir / "daphne.sock")),
        }
    return {"public": Address(host=config.bind, port=config.port), **internal}


def _is_local_url(url: str | None) -> bool:
    return bool(url) and not str(url).startswith(("http://", "https://", "//"))


def static_locations(ctx: Context) -> tuple[StaticLocation, ...]:
    project = ctx.project
    locations = []
    if project.static_root and _is_local_url(project.static_url):
        locations.append(
            StaticLocation(url=str(project.static_url), root=f"{project.static_root}/", expires="1h")
        )
    if project.media_root and _is_local_url(project.media_url):
        locations.append(
            StaticLocation(
                url=str(project.media_url), root=f"{project.media_root}/", media=True, expires="off"
            )
        )
    return tuple(locations)


def route_summary(routes: RouteTable | None, asgi_prefixes: tuple[str, ...]) -> str:
    if routes is None:
        return "not discovered"
    parts = []
    if routes.route_by_upgrade:
        parts.append("WebSockets by Upgrade header")
    elif routes.websocket_prefixes:
        parts.append("WebSockets at " + ", ".join(routes.websocket_prefixes))
    else:
        parts.append("no WebSocket routes")
    if asgi_prefixes:
        parts.append("ASGI HTTP at " + ", ".join(asgi_prefixes))
    return "; ".join(parts)


def server_names(allowed_hosts: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for host in allowed_hosts:
        if host in ("*", ""):
            return ("_",)
        names.append(host)
    return tuple(names) or ("_",)


def proxy_spec(ctx: Context, *, managed: bool) -> ProxySpec:
    config, routes = ctx.config, ctx.routes
    public = ctx.sockets["public"].address
    listen = f"{host_for_url(public.host or '127.0.0.1')}:{public.port}" if managed else str(public.port)
    return ProxySpec(
        project=ctx.project.settings_module,
        listen=listen,
        server_names=("_",) if managed else server_names(ctx.project.allowed_hosts),
        wsgi_upstream=ctx.sockets["wsgi"].address.nginx(),
        asgi_upstream=ctx.sockets["asgi"].address.nginx(),
        ws_prefixes=() if routes is None or routes.route_by_upgrade else routes.websocket_prefixes,
        route_by_upgrade=routes is not None and routes.route_by_upgrade,
        asgi_prefixes=config.asgi_prefixes,
        static_locations=static_locations(ctx),
        ws_read_timeout=config.proxy_read_timeout,
        ping_interval=config.ping_interval,
        max_body_size=config.max_body_size,
        route_summary=route_summary(routes, config.asgi_prefixes),
        managed=managed,
        prefix=str(ctx.runtime_dir / NGINX_DIR),
        access_log="/dev/stdout" if config.access_log else "off",
        run_as_root=managed and os.geteuid() == 0,
    )


def nginx_process(ctx: Context) -> ProcessSpec:
    prefix = ctx.runtime_dir / NGINX_DIR
    bound = ctx.sockets["public"]
    env = dict(ctx.environ)
    if bound.fd is not None:
        # nginx adopts listening sockets named in $NGINX (its binary-upgrade mechanism), so the port tandem
        # bound (and resolved, for --port 0) is the one nginx serves, bound exactly once.
        env["NGINX"] = f"{bound.fd};"
    return ProcessSpec(
        name="nginx",
        role="nginx",
        argv=(ctx.config.nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", "stderr"),
        env=env,
        probe=probe(ctx, bound.address),
        inherited_fds=(bound.fd,) if bound.fd is not None else (),
        cwd=str(prefix),
    )


def nginx_file(spec: ProxySpec) -> File:
    return render_nginx(spec, f"{NGINX_DIR}/nginx.conf" if spec.managed else f"{NGINX_DIR}/tandem.conf")


def build(ctx: Context) -> Plan:
    config, project = ctx.config, ctx.project
    warnings: list[str] = []
    if not project.static_root:
        warnings.append(
            "STATIC_ROOT is not set: nginx cannot serve static files, so they are left to Django "
            "(set STATIC_ROOT and run collectstatic)"
        )
    if ctx.routes is not None:
        warnings.extend(ctx.routes.warnings)
    proxy = proxy_spec(ctx, managed=ctx.managed)
    processes = (
        gunicorn_process(ctx, gunicorn_workers(config), "wsgi"),
        *daphne_processes(ctx, daphne_procs(config, project), "asgi", serve_static=False, behind_proxy=True),
        nginx_process(ctx),
    )
    return Plan(
        mode="split",
        public=ctx.sockets["public"].address,
        runtime_dir=ctx.runtime_dir,
        processes=processes,
        files=(nginx_file(proxy),),
        proxy=proxy,
        routes=ctx.routes,
        warnings=tuple(warnings),
    )
