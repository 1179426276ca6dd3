"""``tandem export procfile``: one Procfile line per app server of the Plan (honcho, foreman, Heroku-style
runners), each the command ``tandem serve`` starts, with its environment, plus the proxy's config (nginx's
server block, or Caddy's site with --proxy caddy)."""

from __future__ import annotations

import shlex

from tandem.exporters.common import commands, need_app_servers, need_procs_one, proxy_kind, stop_timeout
from tandem.exporters.readme import app_servers_readme
from tandem.plan import File, Plan

NGINX_FILE = "nginx/tandem.conf"
CADDY_FILE = "caddy/Caddyfile"

README = """\
Procfile exported by django-tandem
==================================

Procfile has one line per app server, for honcho, foreman or any Procfile runner:

  honcho start            # or: foreman start

Your own environment (SECRET_KEY, ...) goes in a .env file next to the Procfile, which both read.
Give the runner at least {stop_timeout} s to stop (e.g. foreman start -t {stop_timeout}): the servers drain\nfirst. The commands name this machine's Python ({python}): export on the host that runs them.
The Procfile holds the probe token: keep it private (it is written 0600).

{app_servers}"""


def procfile_line(name: str, shell: str, cwd: str) -> str:
    # Procfile names are [A-Za-z0-9_-]; a runner starts each line with /bin/sh -c: exec keeps the server
    # the process the runner signals.
    return f"{name.replace('.', '_')}: cd {shlex.quote(cwd)} && exec {shell}"


def procfile_files(plan: Plan) -> tuple[File, ...]:
    need_app_servers(plan, "procfile")
    need_procs_one(plan, "procfile")
    lines = [procfile_line(cmd.name, cmd.shell(), cmd.cwd) for cmd in commands(plan)]
    files = [File("Procfile", "\n".join(lines) + "\n", 0o600)]
    proxy = proxy_file(plan)
    if proxy is not None:
        files.append(proxy)
    readme = README.format(
        stop_timeout=stop_timeout(plan),
        python=commands(plan)[0].argv[0],
        app_servers=app_servers_readme(plan, proxy_path=proxy_path(plan)),
    )
    files.append(File("README.txt", readme))
    return tuple(files)


def proxy_path(plan: Plan) -> str:
    return CADDY_FILE if proxy_kind(plan) == "caddy" else NGINX_FILE


def proxy_file(plan: Plan) -> File | None:
    """Split mode, or unified mode behind a proxy: the same server block ``tandem export nginx`` writes (or
    the site ``tandem export caddy`` writes, with --proxy caddy), in front of these servers."""
    kind = proxy_kind(plan)
    if kind is None:
        return None
    conf = next(f for f in plan.files if f.path.endswith("Caddyfile" if kind == "caddy" else ".conf"))
    return File(proxy_path(plan), conf.content)
