"""What a report needs to be read later: the machine, the versions of everything measured, the project."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
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


def count_http_urls(urlconf: object) -> int | None:
    """Leaf URL patterns under the project's ROOT_URLCONF, the admin site's own excluded (it would swamp a
    small project's count while saying nothing about its traffic). None when the URLconf cannot be read:
    an unknown count must not read as "no HTTP routes" (which would make the project WebSocket-only)."""
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
    except Exception:  # reported as unknown, never as zero
        return None


def websocket_route_count(table: RouteTable) -> int:
    return len(table.for_protocol(WEBSOCKET))


def matching_websocket_route(table: RouteTable, path: str) -> bool:
    """Whether some WebSocket route can serve ``path`` (its literal prefix is a prefix of it)."""
    return any(path.startswith(route.prefix) for route in table.for_protocol(WEBSOCKET))


_GROUP_SEND = re.compile(r"\bgroup_send\b")
_GROUP_ANY = re.compile(r"\bgroup_(?:add|send)\b")
_SKIP_DIRS = {"node_modules", "site-packages", "staticfiles", "static", "media", "migrations", "tests"}
MAX_SOURCE_FILES = 2000


def group_usage(root: Path, consumer_modules: set[str]) -> tuple[bool, tuple[str, ...]]:
    """(the project joins or sends to channel-layer groups, the non-consumer files that send to groups).

    A file that calls ``group_send`` but defines no WebSocket consumer is HTTP-side code (a view, a signal,
    a task): in split mode it runs in Gunicorn, so its messages reach Daphne only through a layer that
    crosses processes. Read from the project's own source (bounded), never from its dependencies.
    """
    uses, senders = False, []
    seen = 0
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in _SKIP_DIRS or "venv" in p for p in parts[:-1]):
            continue
        seen += 1
        if seen > MAX_SOURCE_FILES:
            break
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not _GROUP_ANY.search(text):
            continue
        uses = True
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        if _GROUP_SEND.search(text) and module not in consumer_modules:
            senders.append(path.relative_to(root).as_posix())
    return uses, tuple(senders)
