"""Split: Gunicorn serves WSGI HTTP, Daphne serves WebSockets (and --asgi-prefix paths), nginx in front
routes between them and serves static and media files itself.

The proxy in front (its spec, process and config file) is also unified mode's when TLS or --proxy asks for
one (tandem.topologies.unified): the same derivation, with every request sent to the ASGI server."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from tandem.config import Config
from tandem.errors import ConfigError, UsageError
from tandem.plan import (
    Address,
    Context,
    File,
    Plan,
    ProcessSpec,
    ProxySpec,
    StaticLocation,
    host_for_url,
)
from tandem.proxies.nginx import nginx_literal, nginx_name
from tandem.routes import RouteTable
from tandem.servers import split_processes
from tandem.sizes import size_bytes
from tandem.tls import tls_files
from tandem.topologies.caddy import CADDY_DIR, caddy_file, caddy_process
from tandem.topologies.nginx import (
    NGINX_DIR,
    nginx_access_log,
    nginx_file,
    nginx_process,
    worker_fields,
)
from tandem.topologies.services import needs_redis, redis_process

# The app servers' sockets behind the proxy, by name, for --internal unix.
INTERNAL_SOCKET_FILES = {"wsgi": "gunicorn.sock", "asgi": "daphne.sock"}


def internal_sockets(config: Config, runtime_dir: Path, names: tuple[str, ...]) -> dict[str, Address]:
    """The app servers' sockets only the proxy reaches: unix sockets in the runtime directory, or
    --internal tcp loopback ports (port 0: bound and read back)."""
    if config.internal == "tcp":
        return {name: Address(host="127.0.0.1", port=0) for name in names}
    return {name: Address(path=str(runtime_dir / INTERNAL_SOCKET_FILES[name])) for name in names}


def sockets(config: Config, runtime_dir: Path) -> dict[str, Address]:
    return {
        "public": Address(host=config.bind, port=config.port),
        **internal_sockets(config, runtime_dir, ("wsgi", "asgi")),
        **redirect_socket(config),
    }


def redirect_socket(config: Config) -> dict[str, Address]:
    """--redirect-port: a second public socket, answering plain HTTP with a redirect to https."""
    if config.redirect_port is None:
        return {}
    return {"redirect": Address(host=config.bind, port=config.redirect_port)}


def _is_local_url(url: str | None) -> bool:
    return bool(url) and not str(url).startswith(("http://", "https://", "//"))


def _directory(setting: str, path: Path, root: Path) -> str:
    """An absolute directory for nginx's ``alias``, ending with "/".

    A relative path is relative to the project root, where tandem runs the app servers. "$" is refused
    here, naming the setting: nginx would read it as the start of a variable and has no escape for it.
    """
    full = path if path.is_absolute() else root / path
    text = str(full).rstrip("/") + "/"
    return nginx_literal(
        setting, text, hint=f"move {setting} to a directory whose path has no such character"
    )


def _url_prefix(setting: str, url: str) -> str:
    # Django requires STATIC_URL/MEDIA_URL to end with "/"; without it "location /static" + alias would
    # also answer /static../secret from the parent directory.
    return nginx_literal(setting, url if url.endswith("/") else url + "/")


# sun_path holds 108 bytes with the terminating NUL; nginx (and the app servers) refuse a longer path.
UNIX_PATH_MAX = 107


def runtime_dir_for_nginx(ctx: Context) -> str:
    """The runtime directory as nginx's config names it (pid, temp paths, the app servers' sockets): a
    clear refusal, naming --runtime-dir, for a path nginx's config cannot carry or a socket path too long
    for a unix socket, instead of nginx's own message (or, unquoted, another upstream: issue 12, P4)."""
    text = nginx_literal("--runtime-dir", str(ctx.runtime_dir), hint="choose a directory without it")
    for name in INTERNAL_SOCKET_FILES:
        path = ctx.sockets[name].address.path if name in ctx.sockets else None
        if path is not None and len(os.fsencode(path)) > UNIX_PATH_MAX:
            raise ConfigError(
                f"--runtime-dir {text!r} is too long: the socket path {path!r} is "
                f"{len(os.fsencode(path))} bytes, and a unix socket path holds at most {UNIX_PATH_MAX}",
                hint="choose a shorter directory (or --internal tcp)",
            )
    return text


def body_size_bytes(size: str) -> int:
    """nginx's size syntax (``10m``, ``512k``, ``0`` = unlimited) in bytes (tandem.sizes, the one reading
    of it); anything else is refused, as the value goes into the config unquoted."""
    try:
        return size_bytes(size)
    except ValueError:
        raise ConfigError(
            f"max_body_size {size!r} is not an nginx size",
            hint="use a number of bytes with an optional k, m or g suffix, e.g. 10m",
        ) from None


def body_size_warning(size: str, project_limit: int | None) -> str | None:
    limit = body_size_bytes(size)
    if limit == 0 or project_limit is None or project_limit <= limit:
        return None
    return (
        f"nginx's client_max_body_size {size} is below DATA_UPLOAD_MAX_MEMORY_SIZE ({project_limit} bytes): "
        "requests Django would accept get 413 from nginx (raise TANDEM_MAX_BODY_SIZE)"
    )


def static_locations(ctx: Context) -> tuple[StaticLocation, ...]:
    project = ctx.project
    locations = []
    if project.static_root and project.static_url and _is_local_url(project.static_url):
        locations.append(
            StaticLocation(
                url=_url_prefix("STATIC_URL", project.static_url),
                root=_directory("STATIC_ROOT", project.static_root, project.root),
                expires="1h",
            )
        )
    if project.media_root and project.media_url and _is_local_url(project.media_url):
        locations.append(
            StaticLocation(
                url=_url_prefix("MEDIA_URL", project.media_url),
                root=_directory("MEDIA_ROOT", project.media_root, project.root),
                media=True,
                expires="off",
            )
        )
    return tuple(locations)


def asgi_prefixes(
    requested: tuple[str, ...], ws_prefixes: tuple[str, ...], static: tuple[StaticLocation, ...]
) -> tuple[str, ...]:
    """--asgi-prefix values as nginx locations: each once, none that a WebSocket prefix already sends
    to Daphne (nginx refuses a duplicate location), none that is a static or media URL, not "/"."""
    kept: list[str] = []
    for prefix in requested:
        nginx_literal("--asgi-prefix", prefix)
        if prefix == "/":
            raise UsageError(
                "--asgi-prefix / would send every request to Daphne, leaving Gunicorn nothing to serve",
                hint="serve everything with Daphne in unified mode (--mode unified), or name narrower prefixes",
            )
        for location in static:
            if prefix.rstrip("/") == location.url.rstrip("/"):
                kind = "MEDIA_URL" if location.media else "STATIC_URL"
                raise UsageError(
                    f"--asgi-prefix {prefix} is the {kind} {location.url}, which nginx serves from disk",
                    hint="choose another prefix",
                )
        if prefix in kept or prefix in ws_prefixes:
            continue
        kept.append(prefix)
    return tuple(kept)


def routed_http_prefixes(routes: RouteTable | None) -> tuple[str, ...]:
    """HTTP routes the ASGI app itself routes to consumers (a URLRouter under "http", e.g. server-sent
    events): only Daphne can serve them. Django's own views stay with Gunicorn."""
    if routes is None:
        return ()
    return tuple(sorted({r.prefix for r in routes.for_protocol("http") if r.prefix != "/"}))


# The route summary of unified mode behind the proxy, whose routing needs no discovered routes.
ASGI_ONLY_SUMMARY = "every request, HTTP and WebSocket, to the ASGI server (unified mode)"


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


# An ALLOWED_HOSTS entry nginx's server_name reads as the same name Django does: a domain (a leading "."
# matches subdomains in both) or a bracketed IPv6 literal. nginx would read "~..." as a regular
# expression and "*" inside a name as its own wildcard; Django matches neither, nor spaces or quotes.
_HOST = re.compile(r"\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\]")


def server_names(allowed_hosts: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for host in allowed_hosts:
        if host in ("*", ""):
            return ("_",)
        if not _HOST.fullmatch(host):
            raise ConfigError(
                f"ALLOWED_HOSTS entry {host!r} is not a host name nginx's server_name reads as Django does",
                hint='use host names (".example.com" for subdomains) or bracketed IPv6 addresses',
            )
        names.append(host)
    return tuple(names) or ("_",)


def distinct_locations(spec: ProxySpec) -> ProxySpec:
    """nginx refuses a second location with the same prefix ("duplicate location"): say which values
    collide, before anything is written."""
    seen: dict[str, str] = {"/": "the catch-all location / (the app server)"}
    named = [
        *((loc.url, "MEDIA_URL" if loc.media else "STATIC_URL") for loc in spec.static_locations),
        *((prefix, "the WebSocket route prefix") for prefix in spec.ws_prefixes),
        *((prefix, "--asgi-prefix (or an HTTP route of the ASGI app)") for prefix in spec.asgi_prefixes),
    ]
    for url, what in named:
        if url in seen:
            raise ConfigError(
                f"{what} {url} and {seen[url]} would be the same nginx location", hint="make them differ"
            )
        seen[url] = f"{what} {url}"
    return spec


def proxy_spec(ctx: Context, *, managed: bool) -> ProxySpec:
    """What the proxy routes where. Split mode: WebSocket prefixes (or the Upgrade header) and ASGI HTTP
    routes to Daphne, the rest to Gunicorn. Unified mode behind the proxy (no "wsgi" socket): everything
    to the ASGI server, so no route needs discovering. Static and media from disk in both."""
    config = ctx.config
    asgi_only = "wsgi" not in ctx.sockets
    routes = None if asgi_only else ctx.routes
    public = ctx.sockets["public"].address
    listen = f"{host_for_url(public.host or '127.0.0.1')}:{public.port}" if managed else str(public.port)
    ws_prefixes = () if routes is None or routes.route_by_upgrade else routes.websocket_prefixes
    static = static_locations(ctx)
    return ProxySpec(
        project=ctx.project.settings_module,
        listen=listen,
        server_names=("_",) if managed else server_names(ctx.project.allowed_hosts),
        wsgi_upstream="" if asgi_only else ctx.sockets["wsgi"].address.nginx(),
        asgi_upstream=ctx.sockets["asgi"].address.nginx(),
        ws_prefixes=ws_prefixes,
        route_by_upgrade=routes is not None and routes.route_by_upgrade,
        asgi_prefixes=()
        if asgi_only
        else asgi_prefixes(config.asgi_prefixes + routed_http_prefixes(routes), ws_prefixes, static),
        static_locations=static,
        ws_read_timeout=config.proxy_read_timeout,
        ping_interval=config.ping_interval,
        max_body_size=config.max_body_size,
        route_summary=ASGI_ONLY_SUMMARY if asgi_only else route_summary(routes, config.asgi_prefixes),
        asgi_only=asgi_only,
        managed=managed,
        prefix=str(ctx.runtime_dir / (CADDY_DIR if config.proxy == "caddy" else NGINX_DIR)),
        listen_fd=ctx.sockets["public"].fd if managed else None,
        graceful_timeout=config.graceful_timeout,
        public_url=config.public_url or "",
        **tls_fields(ctx, managed=managed),
        # Per project, so two exported projects can share one nginx (upstream and map names are global).
        name=nginx_name(f"tandem_{ctx.project.package}"),
        wsgi_app=ctx.project.wsgi_app,
        asgi_app=ctx.project.asgi_app,
        worker_user=worker_fields(ctx)[0],
        worker_group=worker_fields(ctx)[1],
        proxy_secret=ctx.proxy_secret if managed else "",
        **nginx_access_log(ctx, nginx_name(f"tandem_{ctx.project.package}")),
    )


def tls_fields(ctx: Context, *, managed: bool) -> dict[str, Any]:
    """TLS at the proxy (tandem.tls), its redirect port, HSTS, and the proxies trusted in front."""
    config = ctx.config
    fields: dict[str, Any] = {"trusted_proxies": config.trusted_proxies}
    files = tls_files(config, ctx.runtime_dir)
    if files is None:
        return fields
    fields.update(tls_cert=files.cert, tls_key=files.key, hsts=config.hsts)
    redirect = ctx.sockets.get("redirect")
    if redirect is not None:
        address = redirect.address
        fields["redirect_listen"] = (
            f"{host_for_url(address.host or '127.0.0.1')}:{address.port}" if managed else str(address.port)
        )
        fields["redirect_fd"] = redirect.fd if managed else None
    return fields


def proxy_warnings(ctx: Context) -> list[str]:
    """What the proxy in front cannot do for this project (split mode, and unified behind the proxy)."""
    config, project = ctx.config, ctx.project
    warnings: list[str] = []
    if not project.static_root:  # only when exported: serve gives a project without one tandem's own
        warnings.append(
            f"STATIC_ROOT is not set: {config.proxy} serves no static files, so static URLs are left to "
            "Django, which serves them only if the project's urls.py does (set STATIC_ROOT and tandem "
            f"collects them and {config.proxy} serves them)"
        )
    too_small = body_size_warning(config.max_body_size, project.data_upload_max_memory_size)
    if too_small:
        warnings.append(too_small)
    return warnings


@dataclasses.dataclass(frozen=True)
class FrontProxy:
    """The proxy in front of the app servers, as a topology adds it to its Plan."""

    spec: ProxySpec
    process: ProcessSpec
    file: File


def front_proxy(ctx: Context) -> FrontProxy:
    """nginx or Caddy (--proxy) on the public socket, routing to the app servers' internal sockets."""
    runtime_dir_for_nginx(ctx)
    spec = distinct_locations(proxy_spec(ctx, managed=ctx.managed))
    if ctx.config.proxy == "caddy":
        return FrontProxy(spec, caddy_process(ctx), caddy_file(spec))
    return FrontProxy(spec, nginx_process(ctx), nginx_file(spec))


def build(ctx: Context) -> Plan:
    config = ctx.config
    warnings = proxy_warnings(ctx)
    if ctx.routes is not None:
        warnings.extend(ctx.routes.warnings)
    proxy = front_proxy(ctx)
    processes = (
        *((redis_process(ctx),) if needs_redis(ctx) else ()),
        *split_processes(ctx),  # --http-server and --ws-server (tandem.servers)
        proxy.process,
    )
    return Plan(
        mode="split",
        public=ctx.sockets["public"].address,
        runtime_dir=ctx.runtime_dir,
        processes=processes,
        files=(proxy.file,),
        proxy=proxy.spec,
        routes=ctx.routes,
        warnings=tuple(warnings),
        layer=ctx.layer,
        scheme="https" if config.tls_on else "http",
    )
