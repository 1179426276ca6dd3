"""Exports for app hosts and edges (``--role app`` / ``--role edge``): which targets make sense for a
role, and the role's ``tandem serve`` options the exported service repeats (the others:
tandem.exporters.carried). The edge secret is never written into an argument list: the service reads
TANDEM_EDGE_SECRET from its environment file."""

from __future__ import annotations

from tandem.config import Config
from tandem.errors import UsageError
from tandem.plan import Plan, ProxySpec

PROXIES = ("nginx", "caddy")


def role_serve_args(target: str, config: Config) -> list[str]:
    """``--role``, ``--mode`` and the role's own options for ``tandem serve`` in an exported service;
    refuses a target the role has nothing for."""
    if config.role == "single":
        return []
    if config.role == "app" and target in PROXIES:
        raise UsageError(
            f"an app host runs no proxy: export {target} for the edge (--role edge --upstream ...)",
            hint="export systemd, procfile or supervisor for an app host",
        )
    if config.role == "edge" and target == "caddy":
        raise UsageError("--role edge runs nginx only", hint="tandem export nginx --role edge --upstream ...")
    # The ports decide the sockets: an app host's servers listen on them, and an edge's nginx sends to
    # them (an --upstream without ports of its own takes these), so the served Plan is the exported one.
    args = ["--role", config.role, "--mode", config.mode]
    args += ["--http-port", str(config.http_port), "--ws-port", str(config.ws_port)]
    if config.role == "edge":
        args += [arg for upstream in config.upstreams for arg in ("--upstream", upstream)]
    return args


EDGE_README = """\
nginx configuration for an edge, exported by django-tandem
==========================================================

tandem.conf is a server block (with its upstreams and maps) for nginx's http {{ }} context, rendered
from the same Plan as `tandem serve --role edge`. It sends requests to these app hosts, each running
`tandem serve --role app` (or the units of `tandem export systemd --role app`):

{hosts}
HTTP goes to the least busy host (keep-alive to each); WebSockets to the host holding the fewest.
A host that fails to answer is left out for {fail_timeout} s (passive health check: max_fails={max_fails});
a GET or HEAD that failed on it is sent to the next host, so losing a host costs no idempotent request.
A POST is never repeated: one in flight on a host that dies fails.
{locations}
Install (Debian/Ubuntu):

  sudo install -m 600 -o root -g root tandem.conf /etc/nginx/conf.d/{name}.conf
  sudo nginx -t && sudo systemctl reload nginx

The edge secret: tandem.conf holds it (X-Tandem-Proxy), so it is written 0600 and installed 0600 owned by
root, which nginx reads its configuration as (its workers never read the file).
Each app host must be started with the same secret (TANDEM_EDGE_SECRET in its environment file): it
believes X-Forwarded-For/-Proto and X-Real-IP only on requests carrying it. Allow the app hosts' ports
({ports}) only from this edge in the firewall all the same.

Routing: {summary}.
Static files are served from this host's STATIC_ROOT: run collectstatic here on every deploy, then
`python -m tandem.precompress STATIC_ROOT` (the .gz copies nginx sends to clients that accept gzip).
Uploads (MEDIA_ROOT) must be on storage every app host and this edge share, or in object storage.
"""


def edge_readme(plan: Plan, proxy: ProxySpec) -> str:
    hosts = "".join(
        f"  HTTP {http:<28} WebSocket {ws}\n"
        for http, ws in zip(proxy.wsgi_servers, proxy.asgi_servers, strict=True)
    )
    locations = "".join(
        f"  {'uploads' if loc.media else 'static files'} ({loc.url}) served from {loc.root}\n"
        for loc in proxy.static_locations
    )
    ports = sorted({server.rpartition(":")[2] for server in (*proxy.wsgi_servers, *proxy.asgi_servers)})
    return EDGE_README.format(
        hosts=hosts,
        fail_timeout=proxy.fail_timeout,
        max_fails=proxy.max_fails,
        locations=locations and "\n" + locations,
        name=proxy.project.split(".", 1)[0],
        ports=", ".join(ports),
        summary=proxy.route_summary,
    )
