"""What to probe: concrete WebSocket paths from route patterns, a static file from STATIC_ROOT, and the
project's own values when ``tandem verify`` runs inside it. Pure functions apart from ``discover``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tandem.errors import TandemError

SAMPLE_TEXT = "tandem-verify"
# A value each built-in path converter accepts; unknown converters get the text sample.
CONVERTER_SAMPLES = {
    "str": SAMPLE_TEXT,
    "slug": SAMPLE_TEXT,
    "path": SAMPLE_TEXT,
    "int": "1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_SYNTAX = re.compile(r"[\^$()\[\]\\?*+|{}]")
_ANCHORS = re.compile(r"^(?:\^|\\A)|(?:\$|\\Z)$")
_STATIC_PREFERENCE = (".css", ".js", ".svg", ".png", ".txt")
_MAX_STATIC_SCAN = 5000


def concrete_path(pattern: str) -> str | None:
    """A path the route matches: converters replaced by sample values; None for a regex we cannot fill.

    ``ws/chat/<str:room>/`` -> ``/ws/chat/tandem-verify/``; ``^ws/echo/$`` -> ``/ws/echo/``.
    """
    if (
        "<" in pattern
        and _CONVERTER.search(pattern)
        and not _REGEX_SYNTAX.search(_CONVERTER.sub("", pattern))
    ):
        filled = _CONVERTER.sub(
            lambda m: CONVERTER_SAMPLES.get(m.group("converter") or "str", SAMPLE_TEXT), pattern
        )
        return "/" + filled.lstrip("/")
    literal = _ANCHORS.sub("", pattern)
    literal = re.sub(r"\\([^A-Za-z0-9])", r"\1", literal) if "\\" in literal else literal
    if _REGEX_SYNTAX.search(literal.replace("\\", "")) or "\\" in literal:
        return None
    return "/" + literal.lstrip("/")


def static_url_for(static_url: str, relative: str) -> str:
    """STATIC_URL (``/static/``, ``static/`` or an absolute URL) joined with a file's path under STATIC_ROOT."""
    base = static_url if static_url.endswith("/") else static_url + "/"
    if not base.startswith(("/", "http://", "https://", "//")):
        base = "/" + base  # Django prefixes a relative STATIC_URL with SCRIPT_NAME, "/" at the root
    return base + relative.lstrip("/")


def pick_static_file(static_root: Path) -> str | None:
    """A small collected file under STATIC_ROOT, as a relative posix path; css preferred, then js, ..."""
    candidates: list[tuple[int, int, str]] = []
    seen = 0
    for directory, dirs, files in os.walk(static_root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            seen += 1
            if seen > _MAX_STATIC_SCAN:
                break
            if name.startswith(".") or name.endswith((".gz", ".br")) or name == "staticfiles.json":
                continue
            path = Path(directory) / name
            suffix = path.suffix.lower()
            rank = (
                _STATIC_PREFERENCE.index(suffix) if suffix in _STATIC_PREFERENCE else len(_STATIC_PREFERENCE)
            )
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size == 0:
                continue
            candidates.append((rank, 0 if size < 65536 else 1, path.relative_to(static_root).as_posix()))
        if seen > _MAX_STATIC_SCAN:
            break
    return min(candidates)[2] if candidates else None


@dataclass(frozen=True)
class Discovered:
    ws_patterns: tuple[str, ...] = ()  # WebSocket route patterns, as written
    static_path: str | None = None
    diagnostic_token: str | None = None
    notes: tuple[str, ...] = ()


def discover(
    environ: Mapping[str, str],
    *,
    project_dir: Path | None,
    settings_module: str | None,
    cwd: Path,
) -> Discovered:
    """The project's WebSocket routes, a static file and the configured token, when run inside a project.

    Outside a project (no manage.py and no --project) nothing is discovered. A project that fails to
    load raises when --project named it, and is a note otherwise: verify probes the URL either way.
    """
    explicit = project_dir is not None or settings_module is not None
    if not explicit and not (cwd / "manage.py").is_file():
        return Discovered(
            notes=(
                "not run inside a Django project: WebSocket routes and a static file come from --ws and --static-path",
            )
        )
    try:
        return _discover(environ, project_dir, settings_module, cwd)
    except TandemError as exc:
        if explicit:
            raise
        return Discovered(notes=(f"could not read the project in {cwd}: {exc}",))


def _discover(
    environ: Mapping[str, str], project_dir: Path | None, settings_module: str | None, cwd: Path
) -> Discovered:
    from tandem.launcher import discover_project_routes, load

    loaded = load({}, environ, project_dir=project_dir, settings_module=settings_module, cwd=cwd)
    table = discover_project_routes(loaded.project, loaded.settings)
    patterns = tuple(route.pattern for route in table.for_protocol("websocket"))
    static_path = None
    project = loaded.project
    notes = []
    if project.static_root and project.static_url:
        picked = pick_static_file(project.static_root) if project.static_root.is_dir() else None
        if picked:
            static_path = static_url_for(project.static_url, picked)
        else:
            notes.append(
                f"no collected static file in {project.static_root}: run collectstatic or pass --static-path"
            )
    return Discovered(patterns, static_path, loaded.config.diagnostic_token, tuple(notes))
