"""``tandem export nginx``: the split Plan's nginx server block, plus how to install it."""

from __future__ import annotations

from tandem.errors import UsageError
from tandem.plan import File, Plan, ProxySpec

README = """\
nginx configuration exported by django-tandem
=============================================

tandem.conf is a server block (with its upstreams and maps) for nginx's http {{ }} context, rendered
from the same Plan as `tandem serve {flags}`. It expects:

{servers}
{locations}
Install (Debian/Ubuntu):

  sudo cp tandem.conf /etc/nginx/conf.d/{name}.conf
  sudo nginx -t && sudo systemctl reload nginx

{hosts_note}{static_note}
The app servers
---------------
Run them as `tandem serve` does, with tandem's entry points (draining, 1012 on reload, ping timeout,
the client address from X-Real-IP, DJANGO_SETTINGS_MODULE in their environment), under a process
manager; tandem writes that configuration from the same Plan as this file, as one systemd unit per
server (recommended here), supervisord programs, or a Procfile for honcho / foreman:

  tandem export systemd --per-process {flags} --out DIR
  tandem export supervisor {flags} --out DIR
  tandem export procfile {flags} --out DIR

(`tandem export systemd {flags}` without --per-process runs
`tandem serve {flags}` with its own nginx, in place of this file.)
The exact commands, each started in {root}:

{commands}
{runtime_note}
Routing: {summary}.
{ping_note}
Client address: nginx replaces X-Real-IP, X-Forwarded-For and X-Forwarded-Proto with its own values
on every request and removes X-Forwarded-Host/-Port/-Ssl/-Protocol, so the app servers may trust
them. {client_address}
If another proxy or load balancer stands in front of this nginx, add set_real_ip_from/real_ip_header.
When {servers_down} does not answer, nginx's 502/503/504 carry a short page saying the application
is restarting (written into tandem.conf itself: no file to install).
"""

UNIX_NOTE = """
nginx's workers run as www-data: the directory {runtime} and the sockets in it must be reachable by
that user (e.g. owned by your app user, group www-data, mode 0750 for the directory and 0660 for the
sockets), and the static and media directories readable by it.
"""

TCP_NOTE = """
Bind the app servers to 127.0.0.1 only: anything that reaches them directly bypasses nginx and can
send its own X-Forwarded-For. The static and media directories must be readable by www-data.
"""


HOSTS_NAMED = """The block answers the host names in ALLOWED_HOSTS ({server_names}). Requests for any other name go
to nginx's default server (on Debian the welcome page in /etc/nginx/sites-enabled/default).
"""

HOSTS_ANY = """The block has server_name _ (ALLOWED_HOSTS has '*', or is empty): it answers only requests nginx's
default server does not take, so remove that default site (/etc/nginx/sites-enabled/default on Debian)
or add your host names to ALLOWED_HOSTS. With DEBUG off, an empty ALLOWED_HOSTS makes Django answer 400
to every request: set it to the names clients use.
"""


STATIC_NOTE = """Static files: {sends}.
`tandem serve` writes those compressed copies after collectstatic; for this deployment, run this after
collectstatic on every deploy:

  cd {root} && {python} -m tandem.precompress {static_root}

Names with a content hash (ManifestStaticFilesStorage's app.<12 hex>.css) are cached for a year as
immutable, other names for an hour; both with X-Content-Type-Options: nosniff.
"""


CLIENT_ADDRESS_SPLIT = """{asgi} takes the client address and scheme from them, and tandem.runtime.wsgi (the application
Gunicorn runs above) sets REMOTE_ADDR from X-Real-IP: Django sees the client's address in both."""
CLIENT_ADDRESS_UNIFIED = (
    "{asgi} takes the client address and scheme from them: Django sees the client's address."
)


def expected_servers(proxy: ProxySpec, asgi: str = "Daphne") -> str:
    """The app servers an exported proxy config sends requests to, as its README lists them."""
    if proxy.asgi_only:  # unified mode behind the proxy
        return f"  {asgi:<8} (ASGI) listening on   {proxy.asgi_upstream}   (every request: unified mode)"
    return (
        f"  Gunicorn (WSGI) listening on   {proxy.wsgi_upstream}\n"
        f"  {asgi:<8} (ASGI) listening on   {proxy.asgi_upstream}"
    )


def static_note(proxy: ProxySpec, python: str, root: str, sends: str) -> str:
    """How the exported deployment gets the .gz/.br siblings serve writes itself; empty without STATIC_ROOT."""
    import shlex

    static = next((loc for loc in proxy.static_locations if not loc.media), None)
    if static is None:
        return ""
    return "\n" + STATIC_NOTE.format(
        sends=sends, root=shlex.quote(root), python=shlex.quote(python), static_root=shlex.quote(static.root)
    )


def _readme(plan: Plan, proxy: ProxySpec) -> str:
    from tandem.exporters.common import commands, topology_flags
    from tandem.exporters.readme import asgi_server, ping_note

    cmds = commands(plan)
    asgi = asgi_server(plan)
    locations = "".join(
        f"  {'uploads' if loc.media else 'static files'} ({loc.url}) served from {loc.root}\n"
        for loc in proxy.static_locations
    )
    unix = proxy.asgi_upstream.startswith("unix:")
    return README.format(
        flags=topology_flags(plan),
        servers=expected_servers(proxy, asgi),
        locations=locations,
        name=proxy.project.split(".", 1)[0],
        hosts_note=(
            HOSTS_ANY
            if proxy.server_names == ("_",)
            else HOSTS_NAMED.format(server_names=" ".join(proxy.server_names))
        ),
        static_note=static_note(
            proxy,
            cmds[0].argv[0],
            cmds[0].cwd,
            "nginx sends a file's .gz sibling to clients that accept gzip (gzip_static)",
        ),
        root=cmds[0].cwd,
        commands="\n".join(f"  {cmd.name}:\n    {cmd.shell()}\n" for cmd in cmds),
        runtime_note=(UNIX_NOTE if unix else TCP_NOTE).format(runtime=plan.runtime_dir),
        client_address=(CLIENT_ADDRESS_UNIFIED if proxy.asgi_only else CLIENT_ADDRESS_SPLIT).format(
            asgi=asgi
        ),
        servers_down=asgi if proxy.asgi_only else f"Gunicorn or {asgi}",
        summary=proxy.route_summary,
        ping_note=ping_note(plan, proxy, "nginx"),
    )


def nginx_files(plan: Plan) -> tuple[File, ...]:
    proxy = plan.proxy
    if proxy is None:
        raise UsageError("this plan has no reverse proxy to export", hint="export uses the split topology")
    from tandem.exporters.roles import edge_readme

    conf = next(f for f in plan.files if f.path.endswith(".conf"))
    readme = edge_readme(plan, proxy) if plan.mode == "edge" else _readme(plan, proxy)
    # An edge's block holds the secret it proves itself with to the app hosts (X-Tandem-Proxy): written
    # readable by its owner only, as it is to be installed (nginx reads its configuration as root).
    mode = 0o600 if proxy.proxy_secret else 0o644
    return (File("tandem.conf", conf.content, mode), File("README.txt", readme))
