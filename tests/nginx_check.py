"""An exported nginx server block checked the way a server would load it: included from the http {} context
of a minimal nginx.conf, and accepted by the real ``nginx -t``."""

from __future__ import annotations

import subprocess
from pathlib import Path

MIME_TYPES = Path("/etc/nginx/mime.types")


def harness(directory: Path, *includes: Path, extra: str = "") -> Path:
    """A minimal nginx.conf around exported server blocks, as Debian's nginx.conf includes conf.d/*.conf.

    It also holds a ``default_server`` on port 80, as Debian's stock sites-enabled/default does: an
    exported block must live next to it. ``extra`` goes to the main context (e.g. ``user root;``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        extra,
        f'pid "{directory}/nginx.pid";',
        "error_log stderr;",
        "events {}",
        "http {",
        f'    include "{MIME_TYPES}";',
        "    access_log off;",
        *(
            f'    {kind}_temp_path "{directory}/{kind}";'
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "    server { listen 80 default_server; server_name _; return 444; }",
        *(f'    include "{include}";' for include in includes),
        "}",
    ]
    conf = directory / "nginx.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def nginx_t(nginx: str, conf: Path) -> None:
    """``nginx -t`` accepts ``conf``, with the conf's own directory as nginx's prefix."""
    result = subprocess.run(
        [nginx, "-t", "-p", f"{conf.parent}/", "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"nginx -t rejected {conf}:\n{result.stderr}\n{conf.read_text()}"
