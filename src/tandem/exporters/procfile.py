"""``tandem export procfile``: one Procfile line per app server of the Plan (honcho, foreman, Heroku-style
runners), each the command ``tandem serve`` starts, with its environment, plus the proxy's config (nginx's
server block, or Caddy's site with --proxy caddy)."""

from __future__ import annotations

import shlex

from tandem.exporters.common import commands, need_app_servers, need_procs_one, proxy_kind, stop_timeout
from tandem.exporters.readme import app_servers_readme
from tandem.exporters.secrets import private_commands, secrets_file
from tandem.plan import File, Plan
from tandem.runtime.spec import SECRETS_VAR

NGINX_FILE = "nginx/tandem.conf"
SECRETS_FILE = "tandem.secrets"
CADDY_FILE = "caddy/Caddyfile"

README = """\
Procfile exported by django-tandem
==================================

Procfile has one line per app server, for honcho, foreman or any Procfile runner:

  honcho start            # or: foreman start

Your own environment (SECRET_KEY, ...) goes in a .env file next to the Procfile, which both read.
Give the runner at least {stop_timeout} s to stop (e.g. foreman start -t {stop_timeout}): the servers drain\nfirst. The commands name this machine's Python ({python}): export on the host that runs them.
The Procfile holds the probe token: keep it private (it is written 0600).
{secrets_note}
{app_servers}"""

SECRETS_NOTE = """
{secrets_file} holds {keys} (written 0600; never in the Procfile, whose command lines `ps` shows):
each line points TANDEM_RUNTIME_SECRETS at it in the directory the runner starts in, the Procfile's, and
the servers read it themselves. Keep it there, mode 0600, owned by the user running the servers: a server
that finds it missing or readable by others stops with one line saying so.
"""


def procfile_line(name: str, shell: str, cwd: str, *, secrets: bool = False) -> str:
    # Procfile names are [A-Za-z0-9_-]; a runner starts each line with /bin/sh -c: exec keeps the server
    # the process the runner signals. The secrets file is beside the Procfile, where the runner starts
    # the line: its absolute path is taken before the cd (only the path is in the environment).
    prefix = f'export {SECRETS_VAR}="$PWD"/{shlex.quote(SECRETS_FILE)} && ' if secrets else ""
    return f"{name.replace('.', '_')}: {prefix}cd {shlex.quote(cwd)} && exec {shell}"


def procfile_files(plan: Plan) -> tuple[File, ...]:
    need_app_servers(plan, "procfile")
    need_procs_one(plan, "procfile")
    private, secrets = private_commands(plan, None)
    lines = [procfile_line(cmd.name, cmd.shell(), cmd.cwd, secrets=bool(secrets)) for cmd in private]
    files = [File("Procfile", "\n".join(lines) + "\n", 0o600)]
    if secrets:
        files.append(secrets_file(SECRETS_FILE, secrets))
    proxy = proxy_file(plan)
    if proxy is not None:
        files.append(proxy)
    readme = README.format(
        stop_timeout=stop_timeout(plan),
        python=commands(plan)[0].argv[0],
        secrets_note=SECRETS_NOTE.format(secrets_file=SECRETS_FILE, keys=", ".join(secrets))
        if secrets
        else "",
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
