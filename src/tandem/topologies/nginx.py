"""nginx as the proxy in front (split mode, unified mode behind a proxy, an edge): its process, started
from the runtime directory on the sockets tandem bound, and its config file rendered from the ProxySpec.
Caddy's counterpart is tandem.topologies.caddy."""

from __future__ import annotations

import dataclasses
import signal
from typing import Any

from tandem import accesslog
from tandem.plan import Context, File, Probe, ProcessSpec, ProxySpec, Role
from tandem.proxies.nginx import render_nginx
from tandem.topologies.processes import probe
from tandem.workeruser import nginx_workers

NGINX_DIR = "nginx"


def proxy_probe(ctx: Context) -> Probe:
    """The proxy answers on the public port; over TLS when that port speaks it."""
    return dataclasses.replace(probe(ctx, ctx.sockets["public"].address), tls=ctx.config.tls_on)


def worker_fields(ctx: Context) -> tuple[str, str]:
    """The ``user`` directive of the managed nginx when tandem runs as root (tandem.workeruser): (user,
    group), or empty strings for none."""
    user = nginx_workers(ctx.config.nginx_user) if ctx.managed else None
    return (user.name, user.group) if user is not None else ("", "")


def nginx_access_log(ctx: Context, name: str) -> dict[str, Any]:
    """nginx writes the one access line per request in split mode; the app servers stay quiet unless
    --app-access-log."""
    target = ctx.access_log
    # Caddy writes no common/combined lines: behind it the app servers log each request instead
    # (tandem.topologies.processes.app_access_log).
    if target is None or not ctx.managed or ctx.config.proxy == "caddy":
        return {"access_log": "off"}
    return {
        "access_log": target.child_path,
        "access_log_format": accesslog.nginx_log_format(
            target.format, f"${name}_upstream_name", target.prefix("nginx")
        ),
        "access_log_json": target.format == "json",
        "access_log_buffer": target.buffer,
        "probe_token": ctx.probe_token,
        **upstream_labels(ctx),
    }


def upstream_labels(ctx: Context) -> dict[str, str]:
    """The server each pool runs, as the access line names it: split mode's --http-server and --ws-server;
    unified mode's one --server (an edge's unified app hosts answer both pools with it)."""
    config = ctx.config
    if config.mode == "unified":
        return {"wsgi_label": config.server, "asgi_label": config.server}
    return {"wsgi_label": config.http_server, "asgi_label": config.ws_server}


def nginx_process(ctx: Context) -> ProcessSpec:
    prefix = ctx.runtime_dir / NGINX_DIR
    bound = ctx.sockets["public"]
    env = dict(ctx.environ)
    target = ctx.access_log
    access_fds = target.inherited_fds if target is not None else ()
    listen_fds = tuple(
        s.fd for s in (bound, ctx.sockets.get("redirect")) if s is not None and s.fd is not None
    )
    if listen_fds:
        # nginx adopts listening sockets named in $NGINX (its binary-upgrade mechanism), so the port tandem
        # bound (and resolved, for --port 0) is the one nginx serves, bound exactly once.
        env["NGINX"] = "".join(f"{fd};" for fd in listen_fds)
    return ProcessSpec(
        name="nginx",
        role=Role.NGINX,
        argv=(ctx.config.nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", "stderr"),
        env=env,
        probe=proxy_probe(ctx),
        inherited_fds=listen_fds + access_fds,
        cwd=str(prefix),
        # nginx reopens its log files on USR1; the terminal needs no reopening.
        reopen_signal=signal.SIGUSR1 if target is not None and target.path is not None else None,
    )


def nginx_file(spec: ProxySpec) -> File:
    return render_nginx(spec, f"{NGINX_DIR}/nginx.conf" if spec.managed else f"{NGINX_DIR}/tandem.conf")
