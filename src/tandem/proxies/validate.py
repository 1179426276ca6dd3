"""Each proxy's own check of a rendered config, run before it is used: ``nginx -t`` and ``caddy validate``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tandem.config import Config
from tandem.errors import UsageError


def nginx_test(nginx: str, conf: Path, pass_fds: tuple[int, ...] = ()) -> None:
    """``nginx -t`` on the rendered config; its own message on failure. ``pass_fds``: descriptors the
    config names (the access log's /dev/fd/N), which nginx opens to test them."""
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", f"{conf.parent}/", "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        pass_fds=pass_fds,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout).split()) or f"exit code {result.returncode}"
        raise UsageError(f"nginx rejected the generated config: {message}", hint=f"see {conf}")


def caddy_validate(caddy: str, conf: Path) -> None:
    """``caddy validate`` on the rendered Caddyfile (it loads every module as a start would, binding
    nothing); Caddy's own message on failure."""
    result = subprocess.run(
        [caddy, "validate", "--config", str(conf), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=conf.parent,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        message = lines[-1] if lines else f"exit code {result.returncode}"
        raise UsageError(f"caddy rejected the generated config: {message}", hint=f"see {conf}")


def proxy_test(config: Config, conf: Path, pass_fds: tuple[int, ...] = ()) -> None:
    """The proxy's own check of a rendered config: ``caddy validate`` or ``nginx -t``."""
    if config.proxy == "caddy":
        caddy_validate(config.caddy, conf)
    else:
        nginx_test(config.nginx, conf, pass_fds)
