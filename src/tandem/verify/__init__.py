"""``tandem verify URL``: probe a running deployment from outside, tandem's or hand-built.

Every probe talks to the deployment as a client would (HTTP, WebSocket handshakes and frames, a static
file) and, when a diagnostic token is configured on both sides, asks the app what it saw. The result is
one row per probe: PASS, FAIL (with what to change), WARN or SKIP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tandem.errors import UsageError
from tandem.verify import http_probes, targets, ws_probes
from tandem.verify.results import FAIL, PASS, SKIP, WARN, Result, Target
from tandem.verify.targets import concrete_path, discover

__all__ = ["FAIL", "PASS", "SKIP", "WARN", "Report", "Result", "VerifyOptions", "check_url", "verify"]


@dataclass(frozen=True)
class VerifyOptions:
    url: str
    ws_paths: tuple[str, ...] = ()
    static_path: str | None = None
    token: str | None = None
    idle: float = 0.0
    timeout: float = 5.0
    cacert: str | None = None
    insecure: bool = False
    project_dir: Path | None = None
    settings_module: str | None = None


@dataclass(frozen=True)
class Report:
    url: str
    results: tuple[Result, ...]
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return any(r.status == FAIL for r in self.results)

    def counts(self) -> dict[str, int]:
        return {
            status: sum(1 for r in self.results if r.status == status) for status in (PASS, FAIL, WARN, SKIP)
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": not self.failed,
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
            "notes": list(self.notes),
        }


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {url!r}", hint="e.g. tandem verify https://chat.example.com/")
    return url if parts.path else url + "/"


def _ws_paths(options: VerifyOptions, patterns: tuple[str, ...]) -> tuple[list[str], list[Result]]:
    """Paths to probe, and SKIP rows for routes no concrete path could be made for."""
    if options.ws_paths:
        return [p if p.startswith("/") else "/" + p for p in options.ws_paths], []
    paths, skipped = [], []
    for pattern in patterns:
        path = concrete_path(pattern)
        if path is None:
            skipped.append(
                Result(
                    f"websocket {pattern}",
                    SKIP,
                    "cannot make a concrete path from this regex",
                    "pass --ws PATH for it",
                )
            )
        elif path not in paths:
            paths.append(path)
    return paths, skipped


async def _run(
    options: VerifyOptions, target: Target, patterns: tuple[str, ...], static_path: str | None
) -> list[Result]:
    results: list[Result] = []
    seen = http_probes.Observed()
    async with http_probes.client(target) as http:
        root = await http_probes.probe_root(http, target, seen)
        results.append(root)
        if root.status == FAIL and seen.root is None:
            return results  # nothing answers at all: every other probe would say the same
        results.append(await http_probes.probe_diagnostic(http, target, seen))
        results.append(await http_probes.probe_client_address(http, target, seen))
        scheme = http_probes.probe_scheme(target, seen)
        if scheme is not None:
            results.append(scheme)
        paths, skipped = _ws_paths(options, patterns)
        if not paths and not skipped:
            results.append(
                Result(
                    "websocket",
                    SKIP,
                    "no WebSocket routes known",
                    "pass --ws /ws/path/ (repeatable), or run verify inside the project",
                )
            )
        accepted = []
        for path in paths:
            result = await ws_probes.probe_route(target, path)
            results.append(result)
            if result.status != FAIL:
                accepted.append(path)
        results.extend(skipped)
        if paths:
            results.append(await ws_probes.probe_origin(target, accepted))
        # A path without filled-in converters first: it is less likely to create state (a chat room) on the site.
        quiet = sorted(accepted, key=lambda p: targets.SAMPLE_TEXT in p)
        idle = await ws_probes.probe_idle(target, quiet[0] if quiet else None, options.idle)
        if idle is not None:
            results.append(idle)
        results.append(await http_probes.probe_static(http, target, seen, static_path))
    return results


def verify(options: VerifyOptions, environ: Mapping[str, str], *, cwd: Path | None = None) -> Report:
    """Probe ``options.url``. Raises UsageError for a bad URL or options; every finding is a Result."""
    url = check_url(options.url)
    if options.idle < 0 or options.timeout <= 0:
        raise UsageError("--idle must be 0 or more and --timeout more than 0")
    if options.cacert and not Path(options.cacert).is_file():
        raise UsageError(f"--cacert {options.cacert}: no such file")
    found = discover(
        environ,
        project_dir=options.project_dir,
        settings_module=options.settings_module,
        cwd=cwd or Path.cwd(),
    )
    token = options.token or environ.get("TANDEM_DIAGNOSTIC_TOKEN") or found.diagnostic_token
    target = Target(
        url, timeout=options.timeout, token=token, cacert=options.cacert, insecure=options.insecure
    )
    static_path = options.static_path or found.static_path
    results = asyncio.run(_run(options, target, found.ws_patterns, static_path))
    return Report(url, tuple(results), found.notes)
