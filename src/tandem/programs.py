"""Finding the programs tandem drives (nginx, redis-server): ``--nginx``/``--redis-server`` as given when it
is a path, else the name on PATH and then where Debian and source builds put system daemons, which a normal
user's PATH often lacks (/usr/sbin). Each failure is one line naming what was looked for and how to install it.
"""

from __future__ import annotations

import os
import shutil
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
        why="split mode runs nginx in front",
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
