"""``tandem export nginx``: the split Plan's nginx server block, plus how to install it."""

from __future__ import annotations

from tandem.errors import UsageError
from tandem.plan import File, Plan, ProxySpec

README = """\
nginx configuration exported by django-tandem
=============================================

tandem.conf is a server block (with its upstreams and maps) for nginx's http {{ }} context, rendered
from the same Plan as `tandem serve --mode split`. It expects:

  Gunicorn (WSGI) listening on   {wsgi}
  Daphne   (ASGI) listening on   {asgi}
{locations}
Install (Debian/Ubuntu):

  sudo cp tandem.conf /etc/nginx/conf.d/{name}.conf
  sudo nginx -t && sudo systemctl reload nginx

The block answers the host names in ALLOWED_HOSTS ({server_names}). Requests for any other name go
to nginx's default server (on Debian the welcome page in /etc/nginx/sites-enabled/default); with
server_name _ (ALLOWED_HOSTS = ['*']) remove that default site so this block answers them.

The app servers, started from the project directory (each under your process manager):

  gunicorn --bind {gunicorn_bind} {wsgi_app}
  daphne {daphne_bind} --proxy-headers --ping-interval {ping} {asgi_app}
{runtime_note}
Routing: {summary}.
WebSocket read timeout: {timeout} s, longer than Daphne's ping interval ({ping} s): Daphne pings an
idle socket every {ping} s (checked every 2 s), so nginx always sees a frame before it would cut it.
Client address: nginx replaces X-Real-IP, X-Forwarded-For and X-Forwarded-Proto with its own values
on every request and removes X-Forwarded-Host/-Port/-Ssl/-Protocol, so the app servers may trust
them. Daphne with --proxy-headers takes the client address and scheme from them. Gunicorn reports
its socket peer (nginx) as REMOTE_ADDR: have Django read X-Real-IP (a small middleware; `tandem
serve` does it for you) if your code needs the client's address.
If another proxy or load balancer stands in front of this nginx, add set_real_ip_from/real_ip_header.
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


def _daphne_bind(upstream: str) -> str:
    if upstream.startswith("unix:"):
        return f"-u {upstream.removeprefix('unix:')}"
    host, _, port = upstream.rpartition(":")
    return f"-b {host.strip('[]')} -p {port}"


def _readme(plan: Plan, proxy: ProxySpec) -> str:
    locations = "".join(
        f"  {'uploads' if loc.media else 'static files'} ({loc.url}) served from {loc.root}\n"
        for loc in proxy.static_locations
    )
    unix = proxy.wsgi_upstream.startswith("unix:")
    return README.format(
        wsgi=proxy.wsgi_upstream,
        asgi=proxy.asgi_upstream,
        locations=locations,
        name=proxy.project.split(".", 1)[0],
        server_names=" ".join(proxy.server_names),
        gunicorn_bind=proxy.wsgi_upstream,
        wsgi_app=proxy.wsgi_app,
        daphne_bind=_daphne_bind(proxy.asgi_upstream),
        asgi_app=proxy.asgi_app,
        runtime_note=(UNIX_NOTE if unix else TCP_NOTE).format(runtime=plan.runtime_dir),
        summary=proxy.route_summary,
        timeout=proxy.ws_read_timeout,
        ping=proxy.ping_interval,
    )


def nginx_files(plan: Plan) -> tuple[File, ...]:
    proxy = plan.proxy
    if proxy is None:
        raise UsageError("this plan has no reverse proxy to export", hint="export uses the split topology")
    conf = next(f for f in plan.files if f.path.endswith(".conf"))
    return (File("tandem.conf", conf.content), File("README.txt", _readme(plan, proxy)))
