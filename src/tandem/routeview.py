"""What ``tandem routes`` shows: each route the project's ASGI routing declares, each ``--asgi-prefix``, the
static and media locations and the catch-all, with the process that answers it and how a request gets
there. Everything is read from the Plan serve would run (``tandem.launcher.routes_plan``, a Preview target
of ``tandem.plan.build_plan``): its proxy spec decides what the proxy routes where, its process specs which
process listens on that upstream. Nothing here knows a server's name, so a new server or proxy is shown
as it is without a change here. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tandem.plan import Address, Plan, ProcessSpec, ProxySpec
from tandem.routes import WEBSOCKET, RouteTable
from tandem.runtime.spec import ENV_VAR, RuntimeSpec

SCHEMA = 1  # bumped when a key of the --json output changes meaning or goes away (new keys do not bump it)

# How a request reaches the process that answers it.
PATH_PREFIX = "path prefix"  # a prefix location of the proxy (nginx ``location ^~``, Caddy ``handle``)
UPGRADE = "Upgrade header"  # the proxy's catch-all sends ``Upgrade: websocket`` to the ASGI server
CATCH_ALL = "catch-all"  # the proxy's ``location /``: everything no prefix claims
APPLICATION = "application"  # no proxy: one server gets every request, the ASGI routing picks the consumer
EDGE = "the edge"  # --role app: the edge's proxy routes, with split mode's derivation, on another host

# Process roles that are not app servers (they answer no route by themselves).
HELPERS = ("redis",)
PROXIES = ("nginx", "caddy")

# Row kinds, in the order the table shows them.
ROUTE = "route"
ASGI_PREFIX = "asgi-prefix"
STATIC = "static"
MEDIA = "media"
EVERYTHING_ELSE = "catch-all"


@dataclass(frozen=True)
class Row:
    kind: str  # ROUTE, ASGI_PREFIX, STATIC, MEDIA or EVERYTHING_ELSE
    prefix: str  # the URL prefix: "/ws/chat/", "/static/", "/"
    protocol: str  # "websocket" or "http"
    server: str  # the server answering, as --server/--ws-server/--http-server/--proxy name it: "daphne"
    processes: tuple[str, ...]  # the Plan's names of the processes answering it: ("daphne.1", "daphne.2")
    routed_by: str  # PATH_PREFIX, UPGRADE, CATCH_ALL, APPLICATION or EDGE
    pattern: str  # the route as written; for the others what put it there: "(--asgi-prefix)"
    target: str  # the consumer, the app ("module:attr") or the directory files are served from

    @property
    def processes_text(self) -> str:
        names = self.processes
        if len(names) > 3:
            return f"{names[0]} .. {names[-1]}"
        return ", ".join(names) or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "prefix": self.prefix,
            "protocol": self.protocol,
            "server": self.server,
            "processes": list(self.processes),
            "routed_by": self.routed_by,
            "pattern": self.pattern,
            "target": self.target,
        }


@dataclass(frozen=True)
class RouteView:
    mode: str  # the Plan's: "unified", "split", "app" or "edge"
    public_url: str
    proxy: str  # the proxy process ("nginx", "caddy"), "" when none runs here
    rows: tuple[Row, ...]
    # How a WebSocket reaches its server: PATH_PREFIX, UPGRADE, CATCH_ALL (unified behind the proxy),
    # APPLICATION, EDGE; "none"
    websocket_by: str
    websocket_prefixes: tuple[str, ...]  # the proxy's WebSocket locations (none when by Upgrade or no proxy)
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The --json schema (``schema`` says which): ``routes`` holds the discovered routes, the
        --asgi-prefix paths and the catch-all "/" last; ``static`` the static and media locations."""
        return {
            "schema": SCHEMA,
            "mode": self.mode,
            "public_url": self.public_url,
            "proxy": self.proxy or None,
            "route_by": self.websocket_by,
            "websocket_prefixes": list(self.websocket_prefixes),
            "routes": [row.to_json() for row in self.rows if row.kind not in (STATIC, MEDIA)],
            "static": [row.to_json() for row in self.rows if row.kind in (STATIC, MEDIA)],
            "warnings": list(self.warnings),
        }


# --- which process listens where --------------------------------------------------------------------------


class _Answer(NamedTuple):
    server: str
    processes: tuple[str, ...]


def _answer(processes: Iterable[ProcessSpec]) -> _Answer:
    """A server's name is its processes' without the number: "daphne" for daphne.1 and daphne.2."""
    names = tuple(p.name for p in processes)
    servers = sorted({re.sub(r"\.\d+$", "", name) for name in names})
    return _Answer(", ".join(servers) or "-", names)


def _listens_on(process: ProcessSpec) -> Address:
    """The socket a process serves clients on: the shared one (Daphne, uvicorn: each also has a private
    probe socket), else the one its probe reaches."""
    return process.probe.shared or process.probe.address


def _app_servers(plan: Plan) -> tuple[ProcessSpec, ...]:
    return tuple(p for p in plan.processes if p.role not in HELPERS + PROXIES)


def _upstream(plan: Plan, spec: ProxySpec, *, asgi: bool) -> _Answer:
    """The processes behind one of the proxy's upstreams, or an edge's pool of app hosts."""
    upstream = spec.asgi_upstream if asgi else spec.wsgi_upstream
    local = [p for p in _app_servers(plan) if _listens_on(p).nginx() == upstream]
    if local:
        return _answer(local)
    pool = spec.asgi_servers if asgi else spec.wsgi_servers
    return _Answer("app hosts" if pool else upstream, tuple(pool) or (upstream,))


def _runtime(processes: Iterable[ProcessSpec]) -> RuntimeSpec | None:
    """What tandem's wrapper runs in these processes: the app, whether it serves static files."""
    for process in processes:
        if ENV_VAR in process.env:
            return RuntimeSpec.from_env(process.env)
    return None


def _local(url: str | None) -> bool:
    return bool(url) and not str(url).startswith(("http://", "https://", "//"))


# --- the rows ---------------------------------------------------------------------------------------------


class _Wanted(NamedTuple):
    """A row before it is placed: what asks for a prefix."""

    kind: str
    prefix: str
    protocol: str
    pattern: str
    target: str

    def row(self, answer: _Answer, routed_by: str) -> Row:
        return Row(self.kind, self.prefix, self.protocol, *answer, routed_by, self.pattern, self.target)


def _wanted(routes: RouteTable, asgi_prefixes: tuple[str, ...]) -> list[_Wanted]:
    wanted = [_Wanted(ROUTE, r.prefix, r.protocol, r.pattern, r.target) for r in routes.routes]
    wanted += [_Wanted(ASGI_PREFIX, p, "http", "(--asgi-prefix)", "-") for p in asgi_prefixes]
    return wanted


def _through_proxy(spec: ProxySpec, prefix: str, protocol: str) -> tuple[str, str]:
    """(where, how) the proxy sends a request under ``prefix``: where is "asgi", "wsgi" or "files".
    Prefix locations win by the longest match (nginx's rule for prefix locations, and the order the
    Caddyfile's handle blocks are tried in); then the catch-all, by Upgrade header when that is on."""
    locations = [(loc.url, "files") for loc in spec.static_locations]
    locations += [(p, "asgi") for p in (*spec.ws_prefixes, *spec.asgi_prefixes)]
    matching = [loc for loc in locations if prefix.startswith(loc[0])]
    if matching:
        return max(matching, key=lambda loc: len(loc[0]))[1], PATH_PREFIX
    if spec.asgi_only:  # unified mode behind the proxy: its catch-all is the ASGI server
        return "asgi", CATCH_ALL
    if protocol == WEBSOCKET and spec.route_by_upgrade:
        return "asgi", UPGRADE
    return "wsgi", CATCH_ALL


def _proxied_rows(plan: Plan, spec: ProxySpec, wanted: list[_Wanted]) -> list[Row]:
    proxy = _answer(p for p in plan.processes if p.role in PROXIES)
    answers = {"asgi": _upstream(plan, spec, asgi=True), "files": proxy}
    answers["wsgi"] = answers["asgi"] if spec.asgi_only else _upstream(plan, spec, asgi=False)
    rows = []
    for item in wanted:
        where, how = _through_proxy(spec, item.prefix, item.protocol)
        rows.append(item.row(answers[where], how))
    for location in spec.static_locations:
        kind, setting = (MEDIA, "MEDIA_ROOT") if location.media else (STATIC, "STATIC_ROOT")
        rows.append(
            _Wanted(kind, location.url, "http", f"({setting})", location.root).row(proxy, PATH_PREFIX)
        )
    app = spec.asgi_app if spec.asgi_only else spec.wsgi_app
    everything = _Wanted(EVERYTHING_ELSE, "/", "http", "(everything else)", app or "-")
    rows.append(everything.row(answers["wsgi"], CATCH_ALL))
    return rows


def _direct_rows(plan: Plan, wanted: list[_Wanted]) -> list[Row]:
    """No proxy here: unified mode's one server gets everything; an app host's servers are routed to by
    the edge (ASGI routes to the server on the ASGI socket, the rest to the WSGI one)."""
    asgi = [p for p in _app_servers(plan) if _listens_on(p) == plan.public]
    others = [p for p in _app_servers(plan) if p not in asgi]
    wsgi = others or asgi
    how = EDGE if others else APPLICATION
    rows = [item.row(_answer(asgi), how) for item in wanted]
    runtime = _runtime(asgi)
    if runtime is not None and runtime.serve_static:  # served by tandem's handler inside the server
        for kind, setting, url, root in (
            (STATIC, "STATIC_ROOT", runtime.static_url, runtime.static_root),
            (MEDIA, "MEDIA_ROOT", runtime.media_url, runtime.media_root),
        ):
            if root and url and _local(url):
                static = _Wanted(kind, url, "http", f"({setting})", root.rstrip("/") + "/")
                rows.append(static.row(_answer(asgi), PATH_PREFIX))
    served = _runtime(wsgi)
    everything = _Wanted(EVERYTHING_ELSE, "/", "http", "(everything else)", served.app if served else "-")
    rows.append(everything.row(_answer(wsgi), how))
    return rows


def route_view(plan: Plan, routes: RouteTable, asgi_prefixes: tuple[str, ...]) -> RouteView:
    """``routes``: the project's discovered routes (discovered in every mode, though only split mode's proxy
    needs them); ``asgi_prefixes``: the Config's --asgi-prefix values."""
    spec = plan.proxy
    wanted = _wanted(routes, asgi_prefixes)
    rows = _proxied_rows(plan, spec, wanted) if spec is not None else _direct_rows(plan, wanted)
    if not routes.for_protocol(WEBSOCKET):
        by = "none"
    elif spec is not None and spec.asgi_only:
        by = CATCH_ALL
    elif spec is not None:
        by = UPGRADE if spec.route_by_upgrade else PATH_PREFIX
    else:
        by = rows[-1].routed_by
    proxy = next((p.name for p in plan.processes if p.role in PROXIES), "")
    return RouteView(
        mode=plan.mode,
        public_url=plan.public_url,
        proxy=proxy,
        rows=tuple(rows),
        websocket_by=by,
        websocket_prefixes=spec.ws_prefixes if spec is not None else (),
        warnings=tuple(dict.fromkeys((*routes.warnings, *plan.warnings))),
    )
