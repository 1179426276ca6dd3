"""Caddy as split mode's proxy (``--proxy caddy``): a managed child exactly like nginx, its Caddyfile
rendered from the same ProxySpec, its admin API on a unix socket in the runtime directory only."""

from __future__ import annotations

import dataclasses

from tandem.plan import Context, File, ProcessSpec, ProxySpec, Role
from tandem.proxies.caddy import render_caddy
from tandem.topologies.processes import probe

CADDY_DIR = "caddy"
CADDYFILE = "Caddyfile"


def admin_address(prefix: str) -> str:
    return f"unix/{prefix}/admin.sock"


def caddy_process(ctx: Context) -> ProcessSpec:
    prefix = ctx.runtime_dir / CADDY_DIR
    conf = str(prefix / CADDYFILE)
    bound = ctx.sockets["public"]
    env = dict(ctx.environ)
    # Caddy keeps its data (certificates, locks) and autosaved config under XDG dirs: the runtime dir's,
    # never the user's home.
    env.update(XDG_DATA_HOME=str(prefix / "data"), XDG_CONFIG_HOME=str(prefix / "config"))
    caddy = ctx.config.caddy
    admin = admin_address(str(prefix))
    reload_argv = (caddy, "reload", "--config", conf, "--adapter", "caddyfile", "--address", admin)
    return ProcessSpec(
        name="caddy",
        role=Role.CADDY,
        argv=(caddy, "run", "--config", conf, "--adapter", "caddyfile"),
        env=env,
        probe=dataclasses.replace(probe(ctx, bound.address), tls=ctx.config.tls_on),
        # The public socket and, with --redirect-port, the plain-HTTP one (Caddy's bind fd/N).
        inherited_fds=tuple(
            s.fd for s in (bound, ctx.sockets.get("redirect")) if s is not None and s.fd is not None
        ),
        cwd=str(prefix),
        # A changed Caddyfile is loaded through the admin socket; WebSockets stay (stream_close_delay).
        reload_argv=reload_argv,
    )


def caddy_file(spec: ProxySpec) -> File:
    return render_caddy(spec, f"{CADDY_DIR}/{CADDYFILE}")
