"""The real tools' verdict on exported files, where the tool is on this machine: ``systemd-analyze
verify`` for systemd units (nginx's server block goes through ``nginx -t``, tandem.proxies.nginx_check)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tandem.errors import ConfigError
from tandem.plan import File

UNIT_SUFFIXES = (".service", ".socket", ".target")


def nginx_conf(target: str, files: tuple[File, ...]) -> File | None:
    """The nginx server block among an export's files: ``tandem.conf`` of the nginx export, or
    ``nginx/tandem.conf`` next to the app servers of the others (split mode)."""
    path = "tandem.conf" if target == "nginx" else "nginx/tandem.conf"
    return next((f for f in files if f.path == path), None)


def check_units(files: tuple[File, ...], systemd_analyze: str | None = None) -> str | None:
    """``systemd-analyze verify`` on the units, written to a scratch directory. Raises ConfigError with
    its message when it refuses them; returns a warning when it is not installed."""
    units = [f for f in files if f.path.endswith(UNIT_SUFFIXES)]
    tool = systemd_analyze or shutil.which("systemd-analyze")
    if not units:
        return None
    if tool is None:
        return "the systemd units were not checked: systemd-analyze is not installed here"
    with tempfile.TemporaryDirectory(prefix="tandem-units-") as scratch:
        paths = []
        for unit in units:
            path = Path(scratch) / unit.path
            path.write_text(unit.content, encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(
            [tool, "verify", *paths],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=scratch,
        )
    # verify also reports on units the host lacks that ours only name (nginx.service): only lines about
    # our own files, or a failing exit code, count.
    ours = [
        line.replace(f"{scratch}/", "")
        for line in (result.stderr + result.stdout).splitlines()
        if scratch in line and line.strip()
    ]
    if result.returncode != 0 or ours:
        message = " ".join(ours) or " ".join((result.stderr or result.stdout).split())
        raise ConfigError(f"systemd-analyze verify rejected the units: {message}")
    return None
