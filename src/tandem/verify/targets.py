"""What to probe: concrete WebSocket paths from route patterns, and a real static asset (from the collected
manifest, a STATIC_ROOT listing, or the assets a page links to). Pure functions; reading the project itself
is in ``verify.project``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

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


def _rank(name: str) -> int:
    suffix = Path(name).suffix.lower()
    return _STATIC_PREFERENCE.index(suffix) if suffix in _STATIC_PREFERENCE else len(_STATIC_PREFERENCE)


def pick_name(names: Iterable[str]) -> str | None:
    """The most telling static file among ``names``: css first, then js, svg, ... (then by name)."""
    usable = [n for n in names if not n.endswith((".gz", ".br")) and not Path(n).name.startswith(".")]
    return min(usable, key=lambda n: (_rank(n), n)) if usable else None


def pick_from_manifest(static_root: Path) -> str | None:
    """The hashed name ``{% static %}`` links to, from ManifestStaticFilesStorage's staticfiles.json."""
    try:
        data = json.loads((static_root / "staticfiles.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, dict) or not paths:
        return None
    chosen = pick_name(str(name) for name in paths)
    return str(paths[chosen]) if chosen is not None else None


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and "stylesheet" in (values.get("rel") or "").lower():
            self.found.append(values.get("href") or "")
        elif tag in ("script", "img"):
            self.found.append(values.get("src") or "")


def pick_from_page(html: str, static_url: str | None = None) -> str | None:
    """A same-origin asset the page links to (stylesheets first), under ``static_url`` when known."""
    parser = _Assets()
    try:
        parser.feed(html[:500_000])
    except Exception:  # a page we cannot parse simply gives no asset
        return None
    local = [u for u in parser.found if u.startswith("/") and not u.startswith("//")]
    if static_url and static_url.startswith("/"):
        local = [u for u in local if u.startswith(static_url)]
    return pick_name(u.split("?")[0].split("#")[0] for u in local)


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
