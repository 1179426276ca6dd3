"""``tandem export nginx``: the split Plan's nginx server block, plus how to install it."""

from __future__ import annotations

from tandem.errors import UsageError
from tandem.plan import File, Plan

README = """\
nginx configuration exported by django-tandem
=============================================

tandem.conf is a server block for nginx's http {{ }} context, rendered from the same Plan as
`tandem serve --mode split`. It expects:

  Gunicorn (WSGI) listening on   {wsgi}
  Daphne   (ASGI) listening on   {asgi}
{locations}
Install (Debian/Ubuntu):

  sudo cp tandem.conf /etc/nginx/conf.d/{name}.conf
  sudo nginx -t && sudo systemctl reload nginx

nginx's workers run as www-data: the directory {runtime} and the sockets in it must be reachable by
that user (e.g. owned by your app user, group www-data, mode 0750 for the directory and 0660 for the
sockets), and the static and media directories readable by it.

Routing: {summary}.
WebSocket read timeout: {timeout} s, longer than Daphne's ping interval ({ping} s); start Daphne with
--ping-interval {ping} so an idle socket sees a frame before nginx would cut it.
Client address: nginx overwrites X-Real-IP and X-Forwarded-For with the peer address; start Daphne
with --proxy-headers and have Django read X-Real-IP behind Gunicorn (tandem's WSGI wrapper does).
If another proxy or load balancer stands in front of this nginx, add set_real_ip_from/real_ip_header.
"""


def nginx_files(plan: Plan) -> tuple[File, ...]:
    proxy = plan.proxy
    if proxy is None:
        raise UsageError("this plan has no reverse proxy to export", hint="export uses the split topology")
    conf = next(f for f in plan.files if f.path.endswith(".conf"))
    locations = "".join(
        f"  {'uploads' if loc.media else 'static files'} ({loc.url}) served from {loc.root}\n"
        for loc in proxy.static_locations
    )
    readme = README.format(
        wsgi=proxy.wsgi_upstream,
        asgi=proxy.asgi_upstream,
        locations=locations,
        name=proxy.project.split(".", 1)[0],
        runtime=plan.runtime_dir,
        summary=proxy.route_summary,
        timeout=proxy.ws_read_timeout,
        ping=proxy.ping_interval,
    )
    return (File("tandem.conf", conf.content), File("README.txt", readme))
