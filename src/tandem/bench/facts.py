"""What a report needs to be read later: the machine, the versions of everything measured, the project."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from tandem import __version__
from tandem.routes import WEBSOCKET, RouteTable

PACKAGES = ("Django", "channels", "daphne", "gunicorn", "channels-redis", "twisted", "websockets")


def _program_version(argv: list[str]) -> str | None:
    """First line a program prints about its version (nginx -v writes to stderr)."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "cores": os.cpu_count() or 1,
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu": _cpu_model(),
        "memory_mb": psutil.virtual_memory().total // (1024 * 1024),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "fd_limit": {"soft": soft, "hard": hard},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(*, nginx: str | None, wrk: str | None, redis: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {"django-tandem": __version__}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    found["nginx"] = _program_version([nginx, "-v"]) if nginx else None
    found["wrk"] = _program_version([wrk, "-v"]) if wrk else None
    found["redis-server"] = _program_version([redis, "--version"]) if redis else None
    return found


def count_http_urls(urlconf: object) -> int:
    """Leaf URL patterns under the project's ROOT_URLCONF, the admin site's own excluded (it would swamp a
    small project's count while saying nothing about its traffic)."""
    from django.urls import get_resolver

    def walk(resolver: Any, depth: int) -> int:
        if depth > 32:
            return 0
        total = 0
        for entry in getattr(resolver, "url_patterns", ()):
            if hasattr(entry, "url_patterns"):
                if getattr(entry, "namespace", None) != "admin":
                    total += walk(entry, depth + 1)
            else:
                total += 1
        return total

    try:
        return walk(get_resolver(urlconf if isinstance(urlconf, str) else None), 0)
    except Exception:
        return 0


def websocket_route_count(table: RouteTable) -> int:
    return len(table.for_protocol(WEBSOCKET))


def matching_websocket_route(table: RouteTable, path: str) -> bool:
    """Whether some WebSocket route can serve ``path`` (its literal prefix is a prefix of it)."""
    return any(path.startswith(route.prefix) for route in table.for_protocol(WEBSOCKET))
