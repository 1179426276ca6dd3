"""Which paths a benchmark loads, taken from the project when the user names none.

HTTP: a literal GET route of the project's URLconf that answers 2xx on the running server (``/`` first).
A route that redirects to a login page or 404s would measure the error path, so it is never taken.
WebSocket echo: the first route whose consumer or path says it echoes; the echo measurement itself then
checks every frame comes back unchanged. Nothing here guesses a path the project does not have.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from tandem.routes import WEBSOCKET, RouteTable

MAX_CANDIDATES = 10
# Routes whose GET changes state on many sites: never loaded by a benchmark.
_UNSAFE = re.compile(r"logout|signout|sign-out|delete|remove|unsubscribe", re.IGNORECASE)
_REGEX_SYNTAX = re.compile(r"[\^$()\[\]\\?*+|{}.]")


def _literal(pattern: Any) -> str | None:
    """The literal text of a URL pattern piece, or None when it has converters or regex syntax."""
    route = getattr(pattern, "_route", None)
    if isinstance(route, str):
        return None if "<" in route else route
    regex = getattr(pattern, "_regex", None)
    if isinstance(regex, str):
        text = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
        return None if _REGEX_SYNTAX.search(text) else text
    return None


def literal_paths(patterns: Iterable[Any], prefix: str = "/", depth: int = 0) -> list[str]:
    """Concrete paths of a URLconf's patterns, in order; the admin site and unsafe-looking ones left out."""
    found: list[str] = []
    if depth > 16:
        return found
    for entry in patterns:
        piece = _literal(getattr(entry, "pattern", None))
        if piece is None:
            continue
        path = prefix + piece
        if hasattr(entry, "url_patterns"):
            if getattr(entry, "namespace", None) != "admin":
                found += literal_paths(entry.url_patterns, path, depth + 1)
        elif not _UNSAFE.search(path):
            found.append(path)
    return found


def http_candidates(urlconf: object) -> list[str] | None:
    """Paths worth trying, ``/`` first; None when the URLconf cannot be read."""
    from django.urls import get_resolver

    try:
        paths = literal_paths(get_resolver(urlconf if isinstance(urlconf, str) else None).url_patterns)
    except Exception:  # an unreadable URLconf: the caller says so instead of guessing
        return None
    ordered = ["/"] + [p for p in dict.fromkeys(paths) if p != "/"]
    return ordered[:MAX_CANDIDATES]


def pick_http_path(
    base: str, candidates: list[str], check: Callable[[str], str | None]
) -> tuple[str | None, list[str]]:
    """The first candidate that answers 2xx on the server at ``base`` (``check`` returns why not), and
    what each tried candidate answered."""
    tried: list[str] = []
    for path in candidates:
        refused = check(base.rstrip("/") + path)
        if refused is None:
            return path, tried
        tried.append(refused)
    return None, tried


def echo_route(table: RouteTable) -> str | None:
    """The first WebSocket route that says it echoes (its consumer or its path), as a concrete path."""
    for route in table.for_protocol(WEBSOCKET):
        says_echo = "echo" in route.target.lower() or "echo" in route.pattern.lower()
        if says_echo and "<" not in route.pattern and not _REGEX_SYNTAX.search(route.pattern.strip("^$")):
            return "/" + route.pattern.lstrip("/")
    return None
