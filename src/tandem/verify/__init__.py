"""``tandem verify URL``: probe a running deployment from outside, tandem's or hand-built.

Every probe talks to the deployment as a client would (HTTP GETs, WebSocket handshakes, ping control frames,
a static file) and, when a diagnostic token is configured on both sides, asks the app what it saw. Nothing
reaches a consumer but the handshake unless the user names an echo route (``--echo``): verify is safe to
run against production. The result is one row per probe: PASS, FAIL (with what to change), WARN or SKIP,
each saying what it sent.
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
from tandem.verify.project import Discovered, discover
from tandem.verify.results import FAIL, PASS, SKIP, WARN, Result, Target
from tandem.verify.targets import concrete_path

__all__ = ["FAIL", "PASS", "SKIP", "WARN", "Report", "Result", "VerifyOptions", "check_url", "verify"]


@dataclass(frozen=True)
class VerifyOptions:
    url: str
    ws_paths: tuple[str, ...] = ()
    echo_paths: tuple[str, ...] = ()  # routes the user says echo: the only ones sent a data frame
    cookie: str | None = None
    headers: tuple[str, ...] = ()  # "Name: value", sent with every WebSocket handshake
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


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _ws_paths(options: VerifyOptions, patterns: tuple[str, ...]) -> tuple[list[str], list[Result]]:
    """Paths to probe, and SKIP rows for routes no concrete path could be made for."""
    if options.ws_paths:
        paths = [_normalise(p) for p in options.ws_paths]
        return paths + [p for p in map(_normalise, options.echo_paths) if p not in paths], []
    paths, skipped = [_normalise(p) for p in options.echo_paths], []
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


def explain_refusal(
    probe: ws_probes.RouteProbe, found: Discovered, others_accepted: bool, target: Target
) -> Result:
    """A 403 to a handshake from the site's own Origin: the origin validator, or the consumer itself
    (usually a login it requires), decided from what the project says or what the other routes did."""
    refused = probe.refused
    assert refused is not None
    name = f"websocket {probe.path}"
    sent = f"WebSocket handshake (Origin {target.origin}{target.credentials})"
    if refused.status != 403:
        return Result(name, FAIL, refused.detail, refused.hint, sent=sent)
    host = urlsplit(target.url).hostname or ""
    check = found.origin
    if check is not None and not check.accepts_site:
        return Result(
            name,
            FAIL,
            f"refused with 403 by the origin validator: {check.validator} does not accept Origin {target.origin}",
            f"add '{host}' to ALLOWED_HOSTS (or to the validator's allowed origins) where the site runs",
            sent=sent,
        )
    if check is not None or others_accepted:
        why = (
            f"{check.validator} accepts Origin {target.origin}"
            if check is not None and check.validator
            else "the project validates no Origin"
            if check is not None
            else f"another route accepted Origin {target.origin}"
        )
        if target.headers:
            return Result(
                name,
                WARN,
                f"refused with 403 by the consumer even with the credentials given ({why})",
                "are the credentials current? or the consumer rejects this path: pass --ws with one it accepts",
                sent=sent,
            )
        return Result(
            name,
            SKIP,
            f"needs authentication: the consumer refused the handshake before accepting (403; {why})",
            "pass --cookie 'sessionid=...' or --header 'Authorization: ...' to probe it as a logged-in user",
            sent=sent,
        )
    return Result(
        name,
        WARN,
        "refused with 403 before a consumer accepted it: either the origin validator (ALLOWED_HOSTS) or the "
        "consumer (a login it requires) refused it",
        "run verify inside the project to tell which; pass --cookie/--header if the route needs a login",
        sent=sent,
    )


async def _websockets(
    options: VerifyOptions, target: Target, found: Discovered, facts: ws_probes.ServerFacts
) -> list[Result]:
    results: list[Result] = []
    paths, skipped = _ws_paths(options, found.ws_patterns)
    if not paths and not skipped:
        results.append(
            Result(
                "websocket",
                SKIP,
                "no WebSocket routes known",
                "pass --ws /ws/path/ (repeatable), or run verify inside the project",
            )
        )
    echo = {_normalise(p) for p in options.echo_paths}
    echo |= {p for p in map(concrete_path, found.own_patterns) if p is not None}
    probes = [await ws_probes.probe_route(target, p, echo=p in echo, facts=facts) for p in paths]
    accepted = [probe.path for probe in probes if probe.accepted]
    for probe in probes:
        results.append(
            probe.result
            if probe.result is not None
            else explain_refusal(probe, found, bool(accepted), target)
        )
    results.extend(skipped)
    if paths:
        # Independent of what frames did: any route that completed a handshake is checked for hijacking.
        results.append(await ws_probes.probe_origin(target, accepted))
    # A path without filled-in converters first: it is less likely to create state (a chat room) on the site.
    quiet = sorted(accepted, key=lambda p: targets.SAMPLE_TEXT in p)
    idle = await ws_probes.probe_idle(target, quiet[0] if quiet else None, options.idle, facts)
    if idle is not None:
        results.append(idle)
    return results


async def _run(options: VerifyOptions, target: Target, found: Discovered) -> list[Result]:
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
        hsts = http_probes.probe_hsts(target, seen)
        if hsts is not None:
            results.append(hsts)
        facts = ws_probes.ServerFacts(proxy_in_front=seen.proxy_in_front(), uses_redis=found.uses_redis)
        results.extend(await _websockets(options, target, found, facts))
        static_path = options.static_path or found.static_path
        source = "--static-path" if options.static_path else found.static_source
        results.append(await http_probes.probe_static(http, target, seen, static_path, source))
    return results


def parse_headers(cookie: str | None, headers: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``--cookie`` and ``--header 'Name: value'`` as handshake headers; UsageError for a malformed one."""
    parsed = [("Cookie", cookie)] if cookie else []
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t\r\n") or "\n" in value:
            raise UsageError(
                f"--header {header!r}: expected 'Name: value'", hint="e.g. --header 'Authorization: Bearer T'"
            )
        parsed.append((name.strip(), value.strip()))
    return tuple(parsed)


def verify(options: VerifyOptions, environ: Mapping[str, str], *, cwd: Path | None = None) -> Report:
    """Probe ``options.url``. Raises UsageError for a bad URL or options; every finding is a Result."""
    url = check_url(options.url)
    if options.idle < 0 or options.timeout <= 0:
        raise UsageError("--idle must be 0 or more and --timeout more than 0")
    if options.cacert and not Path(options.cacert).is_file():
        raise UsageError(f"--cacert {options.cacert}: no such file")
    credentials = parse_headers(options.cookie, options.headers)
    probe_target = Target(url)
    found = discover(
        environ,
        project_dir=options.project_dir,
        settings_module=options.settings_module,
        cwd=cwd or Path.cwd(),
        site_origin=probe_target.origin,
    )
    token = options.token or environ.get("TANDEM_DIAGNOSTIC_TOKEN") or found.diagnostic_token
    target = Target(
        url,
        timeout=options.timeout,
        token=token,
        cacert=options.cacert,
        insecure=options.insecure,
        headers=credentials,
    )
    results = asyncio.run(_run(options, target, found))
    return Report(url, tuple(results), found.notes)
