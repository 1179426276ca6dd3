"""Route discovery: walk a project's ASGI application into a table of routes and URL prefixes.

The walk is pure duck typing over the objects Channels builds (``ProtocolTypeRouter.application_mapping``,
middleware ``.inner``/``.application``, ``URLRouter.routes`` holding Django ``path()``/``re_path()``
objects), so nothing here imports Channels and user middleware built the same way is understood.
What the walker cannot see into becomes a warning, never a guess that silently drops a route.

Prefix semantics: the proxy sends a request to Daphne when its path *starts with* a prefix (an nginx prefix
``location``). A prefix is therefore correct when every path the route can match starts with it; a shorter
prefix is always correct, just less selective. That is why a prefix may end mid-segment (``/ws/ch`` for
``^ws/ch(at|ess)/``) and why anything we cannot read literally ends the prefix.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from tandem.patterns import scan

WEBSOCKET = "websocket"
HTTP = "http"

_MAX_DEPTH = 32  # wrappers or nested routers deeper than this are treated as a cycle


@dataclass(frozen=True)
class Route:
    """One route the proxy must send to Daphne."""

    protocol: str  # "websocket" or "http" (an async HTTP consumer under the "http" entry, e.g. SSE)
    pattern: str  # as written, joined across nested URLRouters: "ws/chat/<str:room>/"
    prefix: str  # literal path prefix, always starting with "/"; "/" when there is none
    target: str  # dotted name of the consumer or app, for display


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]
    warnings: tuple[str, ...]

    def for_protocol(self, protocol: str) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.protocol == protocol)

    @property
    def websocket_prefixes(self) -> tuple[str, ...]:
        """The fewest literal prefixes covering every WebSocket route, sorted."""
        return _minimal_prefixes(route.prefix for route in self.for_protocol(WEBSOCKET))

    @property
    def route_by_upgrade(self) -> bool:
        """Some WebSocket route has no literal prefix: the proxy must pick Daphne by the Upgrade header."""
        return any(route.prefix == "/" for route in self.for_protocol(WEBSOCKET))


def _minimal_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):  # sorted: a prefix comes before every string extending it
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return tuple(kept)


# --- patterns joined across nested routers -----------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    text: str
    regex: bool
    endpoint: bool  # Django's is_endpoint: path() is then matched exactly, re_path(...$) with fullmatch

    @property
    def start_anchored(self) -> bool:
        if not self.regex:
            return True  # RoutePattern always compiles to "^..."
        text = self.text
        return text.startswith(("^", "\\A")) or (self.endpoint and text.endswith("$"))


def _segment_of(pattern: object) -> _Segment | None:
    endpoint = bool(getattr(pattern, "_is_endpoint", False))
    route = getattr(pattern, "_route", None)
    if isinstance(route, str):
        return _Segment(route, False, endpoint)
    regex = getattr(pattern, "_regex", None)
    if isinstance(regex, str):
        return _Segment(regex, True, endpoint)
    return None


def _joined_pattern(segments: tuple[_Segment, ...]) -> str:
    parts = [segments[0].text] if segments else []
    for segment in segments[1:]:
        text = segment.text
        if segment.regex:  # the nested router matches the rest of the path: its "^" is redundant here
            text = text[1:] if text.startswith("^") else text[2:] if text.startswith("\\A") else text
        parts.append(text)
    return "".join(parts)


def _joined_literal(segments: Iterable[_Segment | None]) -> tuple[str, bool]:
    """(prefix, exact): exact when the whole chain is literal, so it matches that one path only."""
    parts: list[str] = []
    exact = False
    for segment in segments:
        if segment is None:  # e.g. i18n_patterns' LocalePrefixPattern: varies with the language
            return "/" + "".join(parts).lstrip("/"), False
        literal = scan(segment.text, regex=segment.regex)
        if literal.text and not segment.start_anchored:
            return "/" + "".join(parts).lstrip("/"), False  # matched anywhere: no prefix from here on
        parts.append(literal.text)
        if not literal.whole:
            return "/" + "".join(parts).lstrip("/"), False
        exact = segment.endpoint and (not segment.regex or literal.ends_anchored)
    return "/" + "".join(parts).lstrip("/"), exact


# --- walking the application --------------------------------------------------------------------------


def _dotted(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(module, str) and isinstance(name, str):
        return f"{module}.{name}"
    return repr(obj)


def _target_name(app: object) -> str:
    consumer = getattr(app, "consumer_class", None)  # Consumer.as_asgi()
    if isinstance(consumer, type):
        return _dotted(consumer)
    if isinstance(app, (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return _dotted(app)
    return _dotted(type(app))


def _is_django_handler(app: object) -> bool:
    return any(
        cls.__name__ == "ASGIHandler" and cls.__module__ == "django.core.handlers.asgi"
        for cls in type(app).__mro__
    )


def _is_protocol_router(app: object) -> bool:
    return isinstance(getattr(app, "application_mapping", None), Mapping)


def _is_url_router(app: object) -> bool:
    return not isinstance(app, type) and isinstance(getattr(app, "routes", None), (list, tuple))


def _describe_opaque(app: object) -> str:
    name = _target_name(app)
    if isinstance(app, types.FunctionType) and getattr(app, "consumer_class", None) is None:
        closure = " that closes over other objects" if app.__closure__ else ""
        return f"{name} (a function{closure}; tandem cannot see what it calls)"
    if getattr(app, "consumer_class", None) is not None or isinstance(app, type):
        return f"{name} (a consumer with no URLRouter in front of it)"
    return f"{name} (it exposes no `.inner` or `.application` to unwrap; subclass channels' BaseMiddleware)"


class _Walker:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def unwrap(self, app: object, where: str) -> tuple[object, bool]:
        """Follow middleware ``.inner``/``.application`` down to the app; (app, wrapped by something)."""
        seen: set[int] = set()
        wrapped = False
        while not (_is_protocol_router(app) or _is_url_router(app)):
            if id(app) in seen or len(seen) >= _MAX_DEPTH:
                self.warn(
                    f"{where}: middleware chain loops or is deeper than {_MAX_DEPTH} at {_dotted(type(app))}"
                )
                break
            seen.add(id(app))
            inner = getattr(app, "inner", None)
            if inner is None:
                inner = getattr(app, "application", None)
            if inner is None or not callable(inner) or isinstance(app, type):
                break
            app, wrapped = inner, True
        return app, wrapped

    def walk_root(self, application: object) -> None:
        app, _ = self.unwrap(application, "application")
        if _is_protocol_router(app):
            mapping: Mapping[object, object] = getattr(app, "application_mapping", {})
            for protocol, entry in mapping.items():
                if protocol in (WEBSOCKET, HTTP):
                    self.walk_entry(entry, str(protocol))
                elif protocol != "channel":  # "channel" is for Channels workers; it never reaches the proxy
                    self.warn(
                        f"ProtocolTypeRouter entry {protocol!r} ignored: only http and websocket are served"
                    )
        elif _is_django_handler(app):
            return  # plain Django: no WebSocket routes at all
        elif _is_url_router(app):
            self.warn(
                "application: the top-level app is a URLRouter with no ProtocolTypeRouter, so it receives "
                "every protocol; its routes are listed as websocket routes"
            )
            self.walk_router(app, WEBSOCKET, (), (), "application")
        else:
            self.opaque_websocket(app, "application", "treated as serving every protocol")

    def walk_entry(self, entry: object, protocol: str) -> None:
        where = f"ProtocolTypeRouter[{protocol!r}]"
        app, _ = self.unwrap(entry, where)
        if _is_url_router(app):
            self.walk_router(app, protocol, (), (), where)
        elif _is_django_handler(app):
            if protocol == WEBSOCKET:
                self.warn(f"{where} is Django's ASGIHandler, which rejects WebSocket connections")
        elif protocol == WEBSOCKET:
            self.opaque_websocket(app, where, "every WebSocket path reaches it")
        else:
            self.warn(
                f"{where}: cannot see inside {_describe_opaque(app)}; no HTTP path is routed to Daphne for "
                "it, so in split mode plain HTTP goes to the WSGI server"
            )

    def opaque_websocket(self, app: object, where: str, consequence: str) -> None:
        self.warn(
            f"{where}: cannot see inside {_describe_opaque(app)}; {consequence}, so the proxy must route "
            "WebSockets by the Upgrade header"
        )
        self.routes.append(Route(WEBSOCKET, "", "/", _target_name(app)))

    def walk_router(
        self, router: object, protocol: str, outer: tuple[_Segment, ...], stack: tuple[int, ...], where: str
    ) -> None:
        if id(router) in stack or len(stack) >= _MAX_DEPTH:
            self.warn(f"{where}: URLRouters nest in a loop or deeper than {_MAX_DEPTH}; stopped there")
            return
        stack = (*stack, id(router))
        for route in getattr(router, "routes", ()):
            segment = _segment_of(getattr(route, "pattern", None))
            if segment is None:
                pattern = getattr(route, "pattern", None)
                self.warn(
                    f"{where}: route {route!r} has a pattern tandem cannot read ({_dotted(type(pattern))})"
                )
                continue
            segments = (*outer, segment)
            written = _joined_pattern(segments)
            self.check_segment(segment, first=not outer, written=written, where=where)
            app, wrapped = self.unwrap(getattr(route, "callback", None), f"{where} route '{written}'")
            if _is_url_router(app):
                if wrapped and segment.endpoint and (not segment.regex or segment.text.endswith("$")):
                    self.warn(
                        f"{where} route '{written}': the nested URLRouter is wrapped in middleware, so "
                        "Channels matches this pattern as an endpoint and the routes inside are unreachable; "
                        "put the middleware outside the outer URLRouter or use re_path() without '$'"
                    )
                self.walk_router(app, protocol, segments, stack, where)
            elif _is_django_handler(app):
                if protocol == WEBSOCKET:
                    self.warn(
                        f"{where} route '{written}' goes to Django's ASGIHandler, which rejects WebSockets"
                    )
                # http: Django's own views, served by the WSGI server in split mode
            else:
                prefix, _ = _joined_literal(segments)
                self.routes.append(Route(protocol, written, prefix, _target_name(app)))
                if protocol == HTTP and prefix == "/":
                    self.warn(
                        f"{where} route '{written}' has no literal prefix: the proxy cannot send only its "
                        "requests to Daphne"
                    )

    def check_segment(self, segment: _Segment, *, first: bool, written: str, where: str) -> None:
        if first and segment.text.startswith(("/", "^/", "\\A/")):
            self.warn(
                f"{where} route '{written}' starts with '/': Channels strips the leading slash before "
                "matching, so it never matches"
            )
        if segment.regex and scan(segment.text, regex=True).text and not segment.start_anchored:
            self.warn(
                f"{where} route '{written}' has no leading '^': Django matches it anywhere in the path, "
                "so it gives no path prefix; add '^'"
            )


def discover_routes(application: object) -> RouteTable:
    """Walk an ASGI application (ProtocolTypeRouter -> middleware -> URLRouter ...) into a RouteTable."""
    walker = _Walker()
    walker.walk_root(application)
    return RouteTable(tuple(walker.routes), tuple(walker.warnings))


# --- Django HTTP URLs the proxy would send to Daphne ---------------------------------------------------


def _http_urls(
    resolver: object, outer: tuple[_Segment | None, ...], depth: int
) -> Iterator[tuple[str, str, bool]]:
    """(pattern as written, literal prefix, exact) for every URLPattern under a Django URLResolver."""
    if depth > _MAX_DEPTH:
        return
    for entry in getattr(resolver, "url_patterns", ()):
        segments = (*outer, _segment_of(getattr(entry, "pattern", None)))
        if hasattr(entry, "url_patterns"):  # include()
            yield from _http_urls(entry, segments, depth + 1)
        else:
            unreadable = f"<{_dotted(type(getattr(entry, 'pattern', None)))}>"
            written = "".join(s.text if s else unreadable for s in segments)
            prefix, exact = _joined_literal(segments)
            yield written, prefix, exact


def _path_routed(table: RouteTable) -> list[tuple[str, str, tuple[Route, ...]]]:
    """(protocol, prefix, routes under it) for each prefix the proxy sends to Daphne by path."""
    http_prefixes = _minimal_prefixes(route.prefix for route in table.for_protocol(HTTP))
    ws_prefixes = () if table.route_by_upgrade else table.websocket_prefixes
    return [
        (protocol, prefix, tuple(r for r in table.for_protocol(protocol) if r.prefix.startswith(prefix)))
        for protocol, prefixes in ((WEBSOCKET, ws_prefixes), (HTTP, http_prefixes))
        for prefix in prefixes
    ]


def overlapping_http_urls(table: RouteTable, urlconf: object) -> tuple[str, ...]:
    """Warnings for Django HTTP URLs in ``urlconf`` that the proxy would send to Daphne.

    ``urlconf`` is a urls module, its dotted name, or a URLResolver. Compared with the prefixes the proxy
    routes by path: every WebSocket prefix (unless the table routes by the Upgrade header, in which case no
    plain HTTP request is sent to Daphne for WebSockets) and every HTTP route's prefix.
    """
    resolver: object = urlconf
    if isinstance(urlconf, (str, types.ModuleType)):
        from django.urls.resolvers import RegexPattern, URLResolver  # lazily: no Django needed to import us

        resolver = URLResolver(RegexPattern(r"^/"), urlconf)
    elif not hasattr(urlconf, "url_patterns"):
        raise TypeError(f"urlconf must be a module, its dotted name or a URLResolver, not {urlconf!r}")
    warnings: list[str] = []
    routed = _path_routed(table)
    for written, http_prefix, exact in _http_urls(resolver, (), 0):
        for protocol, prefix, routes in routed:
            sources = ", ".join(f"'{route.pattern}'" for route in routes[:3])
            sources += ", ..." if len(routes) > 3 else ""
            if http_prefix.startswith(prefix):
                warnings.append(
                    f"Django URL '{written}' ({http_prefix}) is under the {protocol} prefix {prefix} "
                    f"({sources}): the proxy sends its requests to Daphne"
                )
            elif not exact and prefix.startswith(http_prefix):
                warnings.append(
                    f"Django URL '{written}' (prefix {http_prefix}) can also match paths under the "
                    f"{protocol} prefix {prefix} ({sources}): the proxy sends those requests to Daphne"
                )
    return tuple(warnings)
