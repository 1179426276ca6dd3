"""``nginx -t`` on an exported server block, the way a production nginx loads it: included from the http {}
context of a minimal nginx.conf (Debian's conf.d/*.conf). Serve tests its whole managed config the same
way before starting nginx; export must not write a config nginx would refuse, or accept with a meaning
other than the one tandem rendered."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tandem.errors import ConfigError, TandemError
from tandem.proxies.nginx import nginx_quote

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def wrapper_conf(directory: Path, include: Path) -> str:
    """A main context with nothing but what ``nginx -t`` needs to run unprivileged in ``directory``:
    pid and temp paths there (nginx creates the temp directories even when only testing)."""
    lines = [
        f"pid {nginx_quote(str(directory / 'nginx.pid'))};",
        "error_log stderr;",
        "events {}",
        "http {",
        *(f"    {kind}_temp_path {nginx_quote(str(directory / kind))};" for kind in TEMP_PATHS),
        f"    include {nginx_quote(str(include))};",
        "}",
    ]
    return "\n".join(lines) + "\n"


def check_server_block(nginx: str, content: str, name: str = "tandem.conf") -> None:
    """Raise ConfigError with nginx's own message when ``nginx -t`` refuses ``content`` (a server block
    with its upstreams and maps) inside the wrapper; the check leaves nothing behind."""
    from tandem.proxies.validate import nginx_test

    with tempfile.TemporaryDirectory(prefix="tandem-nginx-t-") as tmp:
        directory = Path(tmp)
        block = directory / name
        block.write_text(content, encoding="utf-8")
        conf = directory / "nginx.conf"
        conf.write_text(wrapper_conf(directory, block), encoding="utf-8")
        try:
            nginx_test(nginx, conf)
        except TandemError as error:
            raise ConfigError(
                f"{error.message} (checked inside a minimal nginx.conf including {name})",
                hint="nothing was written; this is a bug in tandem's nginx config unless an option above "
                "explains it",
            ) from None
