"""README text the exporters share: how the exported app servers and their proxy (nginx, or Caddy with
--proxy caddy) fit together on a host."""

from __future__ import annotations

from tandem.exporters.common import (
    Command,
    commands,
    graceful_timeout,
    has_gunicorn,
    proxy_kind,
    topology_flags,
)
from tandem.plan import Plan, ProxySpec

APP_SERVERS = """\
What runs
---------
{processes}
Each is the command `tandem serve {flags}` starts, with the same environment
(DJANGO_SETTINGS_MODULE={settings}, PYTHONPATH, and TANDEM_RUNTIME, which tells tandem's wrappers what
to do), so production behaves as the tests prove for `tandem serve`:
{asgi}{gunicorn}  - The health probe at /.tandem/health answers only requests carrying the X-Tandem-Probe token in
    TANDEM_RUNTIME (generated for this export; anyone else gets the project's own 404).
Add your own environment (SECRET_KEY, database settings, ...) where noted below. Start the servers as
the user that owns the project, from any directory (each command sets its own).
{runtime}{nginx}"""

# What the ASGI server's wrapper does, by the server the Plan runs (tandem.servers).
ASGI_BULLETS = {
    "daphne": """  - Daphne runs through tandem.runtime.daphne: on TERM it stops accepting, closes WebSockets with 1001
    and lets requests in flight finish within {graceful} s; on USR1 it does the same with 1012 (service
    restart, clients reconnect) for a reload; it pings idle WebSockets and enforces tandem's limits.
""",
    "uvicorn": """  - uvicorn runs through tandem.runtime.uvicorn: on TERM it stops accepting, closes WebSockets with 1001
    and lets requests in flight finish within {graceful} s; on USR1 it does the same with 1012 (service
    restart, clients reconnect) for a reload; it pings idle WebSockets (uvicorn's own pings).
""",
    "gunicorn-asgi": """  - Gunicorn's ASGI worker runs tandem.runtime.served:application under one arbiter: on TERM its
    workers close WebSockets with 1001 and let requests in flight finish within {graceful} s; on HUP the
    arbiter replaces them, the old ones closing WebSockets with 1012 (clients reconnect). It sends no
    WebSocket pings.
""",
}

GUNICORN = """  - Gunicorn runs tandem.runtime.wsgi:application{real_ip}
"""
REAL_IP = """, which takes REMOTE_ADDR from {proxy}'s X-Real-IP
    (Django sees the client's address, not {proxy}'s) and the scheme from X-Forwarded-Proto."""
NO_PROXY = "."

RUNTIME_UNIX = """
The sockets live in {runtime_dir}: create it before starting the servers, reachable by {reader} (group www-data) and nobody else, e.g. as root:

  install -d -m 0750 -o YOUR_USER -g www-data {runtime_dir}

(/run is emptied at boot: a tmpfiles.d line "d {runtime_dir} 0750 YOUR_USER www-data -" recreates it.)
"""

RUNTIME_APP = """
The servers also use {runtime_dir} for private sockets: create it, owned by the user running them,
mode 0700 (install -d -m 0700 -o YOUR_USER {runtime_dir}). They listen on {host} for the edge, and believe
forwarded headers only on requests carrying the edge secret (the same on the edge and every app host; not
in TANDEM_RUNTIME but in the 0600 secrets file named above): allow their ports only from the edge in the
firewall all the same.
"""

RUNTIME_TCP = """
The servers also use {runtime_dir} for private sockets: create it, owned by the user running them,
mode 0700 (install -d -m 0700 -o YOUR_USER {runtime_dir}). They listen on 127.0.0.1 only.
"""

NGINX = """
nginx
-----
{path} is the server block `tandem export nginx {flags}` writes (checked with nginx -t). Install it in the
host's nginx, which routes {routing}, and serves static and
media files itself:

  sudo cp {path} /etc/nginx/conf.d/{name}.conf
  sudo nginx -t && sudo systemctl reload nginx
"""

CADDY = """
Caddy
-----
{path} is the site `tandem export caddy {flags}` writes (checked with caddy validate; Caddy 2.9 or later, not
Debian 12's 2.6.2). Install it in the host's Caddy, which routes {routing},
and serves static and media files itself; Caddy runs as the caddy user, so add it to the
group that owns the sockets (sudo usermod -aG www-data caddy):

  sudo cp {path} /etc/caddy/Caddyfile      # or `import` it from yours
  caddy validate --config /etc/caddy/Caddyfile && sudo systemctl reload caddy
"""


def app_servers_readme(plan: Plan, *, proxy_path: str) -> str:
    cmds = commands(plan)
    processes = "".join(f"  {cmd.name:<10} {describe(cmd.role, plan, cmd)}\n" for cmd in cmds)
    kind = proxy_kind(plan)
    unix = plan.proxy is not None and (plan.proxy.wsgi_upstream or plan.proxy.asgi_upstream).startswith(
        "unix:"
    )
    reader = "Caddy" if kind == "caddy" else "nginx's\nworkers"  # the line break where nginx's text had it
    if plan.mode == "app":
        runtime = RUNTIME_APP.format(runtime_dir=plan.runtime_dir, host=plan.public.host)
    else:
        runtime = (RUNTIME_UNIX if unix else RUNTIME_TCP).format(runtime_dir=plan.runtime_dir, reader=reader)
    section = CADDY if kind == "caddy" else NGINX
    # Unified mode behind the proxy has no Gunicorn: every request goes to Daphne.
    asgi = asgi_server(plan)
    routing = (
        f"WebSockets to {asgi}, everything else to Gunicorn"
        if plan.mode == "split"
        else f"every request to {asgi}"
    )
    proxy = (
        section.format(
            path=proxy_path,
            flags=f"--mode {plan.mode}",
            name=plan.proxy.project.split(".", 1)[0],
            routing=routing,
        )
        if plan.proxy
        else ""
    )
    real_ip = REAL_IP.format(proxy="Caddy" if kind == "caddy" else "nginx") if kind else NO_PROXY
    return APP_SERVERS.format(
        processes=processes,
        flags=topology_flags(plan),
        settings=cmds[0].env.get("DJANGO_SETTINGS_MODULE", "?"),
        graceful=f"{graceful_timeout(plan):g}",
        # Unified mode has no Gunicorn, so nothing to say about its application.
        asgi=asgi_bullet(plan).format(graceful=f"{graceful_timeout(plan):g}"),
        gunicorn=GUNICORN.format(real_ip=real_ip) if has_gunicorn(plan) else "",
        runtime=runtime,
        nginx=proxy,
    )


# How a README names each app server (a process's name without its ".N" is the server's, tandem.servers).
SERVER_NAMES = {
    "gunicorn": "Gunicorn",
    "granian": "Granian",
    "daphne": "Daphne",
    "uvicorn": "uvicorn",
    "gunicorn-asgi": "Gunicorn's ASGI worker",
}


def server_name(process_name: str) -> str:
    base = process_name.split(".", 1)[0]
    return SERVER_NAMES.get(base, base)


def asgi_bullet(plan: Plan) -> str:
    """The "What runs" bullet for the ASGI server the Plan runs (Daphne's unless it runs another)."""
    for process in plan.processes:
        if process.role in ("daphne", "gunicorn-asgi"):
            return ASGI_BULLETS.get(process.name.split(".", 1)[0], ASGI_BULLETS["daphne"])
    return ASGI_BULLETS["daphne"]


def wsgi_server(plan: Plan) -> str:
    """The WSGI server the Plan runs (--http-server: Gunicorn or Granian), as a README names it."""
    for process in plan.processes:
        if process.role == "gunicorn":
            return server_name(process.name)
    return "Gunicorn"


def asgi_server(plan: Plan) -> str:
    """The ASGI server the Plan runs (--ws-server, unified mode's --server), as a README names it."""
    for process in plan.processes:
        if process.role in ("daphne", "gunicorn-asgi"):
            return server_name(process.name)
    return "Daphne"


def describe(role: str, plan: Plan, cmd: Command | None = None) -> str:
    """One "What runs" line: the server a command runs, named as it is (Daphne, uvicorn, ...), and what it
    answers."""
    asgi = asgi_server(plan)
    name = server_name(cmd.name) if cmd is not None else ("Gunicorn" if role == "gunicorn" else asgi)
    if plan.mode == "app":  # an app host: the edge routes, and reaches each server on its own port
        if role == "gunicorn":
            bind = cmd.argv[cmd.argv.index("--bind") + 1] if cmd and "--bind" in cmd.argv else "?"
            return f"{name} (WSGI) on {bind}: every HTTP request the edge does not route to {asgi}"
        if has_gunicorn(plan):
            return f"{name} (ASGI) on {plan.public}: WebSockets and the HTTP the edge routes to it"
        return f"{name} on {plan.public}: every HTTP and WebSocket request the edge sends"
    if role == "gunicorn" and plan.proxy is not None:
        proxy = "Caddy" if proxy_kind(plan) == "caddy" else "nginx"
        return f"{name} (WSGI) on {plan.proxy.wsgi_upstream}: every HTTP request {proxy} does not route to {asgi}"
    if plan.proxy is not None:
        return f"{name} (ASGI) on {plan.proxy.asgi_upstream}: {plan.proxy.route_summary}"
    return f"{name} on {plan.public}: every HTTP and WebSocket request"


PING_NOTE = """WebSocket read timeout: {timeout} s, longer than {asgi}'s ping interval ({ping} s): {asgi} pings an
idle socket every {ping} s (checked every 2 s), so {proxy} always sees a frame before it would cut it."""

NO_PING_NOTE = """WebSocket read timeout: {timeout} s: {asgi} sends no pings, so {proxy} closes a WebSocket on which
nothing was sent for that long (the client's own pings keep it open)."""


def ping_note(plan: Plan, spec: ProxySpec, proxy: str) -> str:
    """The proxy's WebSocket read timeout against the ASGI server's pings (Gunicorn's ASGI worker sends
    none), for the exported README of ``proxy`` (nginx or Caddy)."""
    pings = not any(process.role == "gunicorn-asgi" for process in plan.processes)
    return (PING_NOTE if pings else NO_PING_NOTE).format(
        timeout=spec.ws_read_timeout, asgi=asgi_server(plan), ping=spec.ping_interval, proxy=proxy
    )
