"""Which topology to run, derived from the measured figures and what the project does (pure).

No recommendation rests on a failed measurement: when any variant failed (to start, or in a measurement),
the result is "undecided" and says which. Otherwise, in order:
1. No WebSocket routes: Daphne has nothing to do that Gunicorn cannot; split (Gunicorn behind nginx).
2. No HTTP routes at all (a WebSocket-only project): unified; the split's HTTP speed buys nothing. An HTTP
   route count that could not be read is unknown, never zero.
3. Otherwise split when its HTTP rate is ``SPLIT_WORTH`` times the best unified variant's *beyond the
   run-to-run spread* (split's slowest repeat against unified's fastest), unified when even split's fastest
   repeat is below that against unified's slowest, and undecided in between: a margin inside the noise
   decides nothing.
4. Unified with several Daphne processes only when they beat one by ``PROCS_WORTH`` beyond the spread.
5. Another app server (``--servers``) only when it beats tandem's default in the chosen mode by
   ``SERVER_WORTH`` beyond the spread, on the figure it serves: split's ``--http-server`` on HTTP against
   split-unix (Gunicorn), ``--ws-server`` on echo against split-unix (Daphne); unified's ``--server`` on
   echo or HTTP against unified-1 (one Daphne) without being slower beyond the spread on the other. Only
   figures without a single failed answer count, and handbuilt-split (started by hand, a reference) is
   never chosen.
The TLS variants (``--tls``) are left out entirely, failed or not: they measure what https costs on a
proxy, not which topology to run.
A channel layer that crosses processes (Redis) is advised only when the chosen topology spans processes and
the project uses groups over WebSocket routes; never for a project without WebSocket routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.bench.figures import (
    GUNICORN_DIRECT,
    OK,
    PUBLIC,
    SKIPPED,
    EchoFigure,
    HttpFigure,
    VariantResult,
    find,
)
from tandem.bench.ratios import over_tcp_variants

SPLIT_WORTH = 1.5
PROCS_WORTH = 1.3
SERVER_WORTH = 1.3
FANOUT_SLOW_MS = 100.0
REDIS_EXAMPLE = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ProjectFacts:
    websocket_routes: int
    http_routes: int | None  # None: the URLconf could not be read
    layer: str  # e.g. "InMemoryChannelLayer"
    cross_process_layer: bool
    uses_groups: bool = True  # the project joins or sends to groups (True when unknown: the safe side)
    http_group_senders: tuple[str, ...] = ()  # non-consumer files that call group_send (views, tasks)

    @property
    def needs_shared_layer(self) -> bool:
        """Group messages must cross processes once the topology has more than one."""
        return self.websocket_routes > 0 and self.uses_groups and not self.cross_process_layer


@dataclass(frozen=True)
class Recommendation:
    mode: str  # "split" | "unified" | "undecided"
    command: str
    headline: str
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]


def _best_http(results: Sequence[VariantResult], mode: str) -> tuple[VariantResult, HttpFigure] | None:
    best: tuple[VariantResult, HttpFigure] | None = None
    for variant in results:
        # The mode is decided on the default servers (what `tandem serve --mode ...` runs); another server
        # is added on top by _servers only where it beats them.
        default = variant.http_server in (None, "gunicorn") and variant.ws_server == "daphne"
        ours = variant.status == OK and variant.mode == mode and not variant.handbuilt and default
        figure = variant.http_at(PUBLIC) if ours else None
        better = figure is not None and (best is None or figure.requests_per_s > best[1].requests_per_s)
        if figure is not None and figure.low > 0 and better:  # low: divided by, beyond the spread
            best = (variant, figure)
    return best


def _range(figure: HttpFigure) -> str:
    return f"{figure.requests_per_s:,.0f} req/s" + (
        f" (min-max {figure.low:,.0f}-{figure.high:,.0f})" if len(figure.samples) > 1 else ""
    )


def _procs_advice(results: Sequence[VariantResult]) -> tuple[int, str | None]:
    one, many = find(results, "unified-1"), find(results, "unified-n")
    one_http = one.http_at() if one else None
    many_http = many.http_at() if many else None
    if many is None or one_http is None or many_http is None or one_http.low <= 0:
        return 1, None
    ratio = many_http.requests_per_s / one_http.requests_per_s
    text = f"{many.procs} Daphne processes served {_range(many_http)}, {ratio:.2f}x one ({_range(one_http)})"
    worth = many_http.low / one_http.high >= PROCS_WORTH
    return (many.procs or 1, text) if worth else (1, text + ": not beyond the run-to-run spread")


def _command(mode: str, procs: int, server_args: str = "") -> str:
    # No --channel-layer: where the processes need a shared layer, tandem serve starts a Redis of its own
    # (the layer caveat says so and names --channel-layer for one the user runs). A URL here would send
    # users to a Redis that may not exist.
    if mode == "split":
        return "tandem serve --mode split" + server_args
    if mode == "unified":
        return f"tandem serve --procs {procs}" + server_args
    return "tandem bench"


Figure = HttpFigure | EchoFigure


def _public(variant: VariantResult, kind: str) -> Figure | None:
    """The variant's public HTTP or echo figure; None when not measured or when any answer failed."""
    figure: Figure | None = variant.http_at(PUBLIC) if kind == "HTTP" else variant.echo_at(PUBLIC)
    return figure if figure is not None and _rate_of(figure) > 0 else None


def _rate_of(figure: Figure) -> float:
    return figure.requests_per_s if isinstance(figure, HttpFigure) else figure.messages_per_s


def _beats(top: Figure, base: Figure) -> bool:
    return top.low / base.high >= SERVER_WORTH


def _server_choice(
    results: Sequence[VariantResult],
    candidates: Sequence[VariantResult],
    base_name: str,
    kinds: Sequence[str],
) -> tuple[VariantResult | None, list[str]]:
    """The candidate that beats ``base_name`` by SERVER_WORTH beyond the spread on one of ``kinds`` and is
    not slower beyond the spread on the others (the fastest such), with a reason per candidate measured."""
    base = find(results, base_name)
    chosen: tuple[VariantResult, float] | None = None
    reasons = []
    for variant in candidates:
        if variant.status != OK or base is None:
            continue
        pairs = [(kind, _public(variant, kind), _public(base, kind)) for kind in kinds]
        measured = [
            (kind, top, bottom) for kind, top, bottom in pairs if top is not None and bottom is not None
        ]
        if len(measured) < len(kinds):
            continue
        texts = [
            f"{kind} {_rate_of(top) / _rate_of(bottom):.2f}x ({_rate_of(top):,.0f} vs {_rate_of(bottom):,.0f})"
            for kind, top, bottom in measured
        ]
        wins = [kind for kind, top, bottom in measured if _beats(top, bottom)]
        slower = [kind for kind, top, bottom in measured if top.high < bottom.low]
        verdict = (
            "beyond the spread"
            if wins and not slower
            else f"not beyond {SERVER_WORTH}x and the run-to-run spread"
        )
        if wins and slower:
            verdict = f"slower on {', '.join(slower)}"
        reasons.append(f"{variant.name} vs {base_name}: {', '.join(texts)}: {verdict}")
        score = _rate_of(measured[0][1]) / _rate_of(measured[0][2])
        if wins and not slower and (chosen is None or score > chosen[1]):
            chosen = (variant, score)
    return (chosen[0] if chosen else None), reasons


def _servers(results: Sequence[VariantResult], mode: str, procs: int) -> tuple[str, list[str], bool]:
    """(the serve options for the servers chosen in ``mode``, the reasons, whether unified left Daphne).
    In unified mode another server must beat the Daphne setup that would otherwise be recommended (several
    processes when ``procs`` > 1), since it runs as one process."""
    ours = [v for v in results if v.mode == mode and not v.handbuilt]
    if mode == "split":
        # The command recommended keeps tandem's unix sockets: a server is judged over the same transport
        # as split-unix (split-granian-tcp is there for the ratios over TCP and without nginx).
        over_tcp = over_tcp_variants()
        http = [v for v in ours if v.http_server not in (None, "gunicorn") and v.name not in over_tcp]
        ws = [v for v in ours if v.ws_server != "daphne"]
        http_pick, http_reasons = _server_choice(results, http, "split-unix", ("HTTP",))
        ws_pick, ws_reasons = _server_choice(results, ws, "split-unix", ("echo",))
        args = (f" --http-server {http_pick.http_server}" if http_pick else "") + (
            f" --ws-server {ws_pick.ws_server}" if ws_pick else ""
        )
        return args, http_reasons + ws_reasons, False
    others = [v for v in ours if v.ws_server != "daphne"]
    daphne = "unified-n" if procs > 1 and find(results, "unified-n") else "unified-1"
    pick, reasons = _server_choice(results, others, daphne, ("echo", "HTTP"))
    return (f" --server {pick.ws_server}" if pick else ""), reasons, pick is not None


def _layer_caveat(results: Sequence[VariantResult], facts: ProjectFacts) -> str:
    where = (
        f"; HTTP-side code sends to groups ({', '.join(facts.http_group_senders)}), and in split mode it runs "
        "in Gunicorn"
        if facts.http_group_senders
        else ""
    )
    text = (
        f"the project's channel layer is {facts.layer}, which stays inside one process: group messages sent "
        f"from a Gunicorn worker or another Daphne process never reach WebSocket clients{where}; "
        "tandem serve starts a Redis of its own for them (in production give yours: --channel-layer "
        f"{REDIS_EXAMPLE})"
    )
    memory, redis = find(results, "unified-1"), find(results, "unified-1-redis")
    if memory and redis:
        for clients in sorted({f.clients for f in redis.fanout}, reverse=True):
            a, b = memory.fanout_for(clients), redis.fanout_for(clients)
            if a and b and a.last_p99_ms is not None and b.last_p99_ms is not None:
                return text + (
                    f" (fan-out to {clients:,} clients on one Daphne: p99 {a.last_p99_ms:.1f} ms in-memory, "
                    f"{b.last_p99_ms:.1f} ms with Redis)"
                )
    return text


def _caveats(results: Sequence[VariantResult], facts: ProjectFacts, mode: str, procs: int) -> list[str]:
    caveats: list[str] = []
    if (mode == "split" or procs > 1) and facts.needs_shared_layer:
        caveats.append(_layer_caveat(results, facts))
    tcp = find(results, "split-tcp")
    via, direct = (tcp.http_at(PUBLIC), tcp.http_at(GUNICORN_DIRECT)) if tcp else (None, None)
    if via and direct and direct.requests_per_s > 0:
        cost = 1 - via.requests_per_s / direct.requests_per_s
        caveats.append(
            f"the nginx hop costs {cost:.0%} of Gunicorn's direct rate "
            f"({via.requests_per_s:,.0f} vs {direct.requests_per_s:,.0f} req/s)"
        )
    for variant in results:
        if variant.status != OK:
            continue
        slow = [f for f in variant.fanout if f.last_p99_ms is not None and f.last_p99_ms >= FANOUT_SLOW_MS]
        if slow:
            worst = max(slow, key=lambda f: f.clients)
            caveats.append(
                f"{variant.name}: fan-out to {worst.clients:,} clients took p99 {worst.last_p99_ms:.0f} ms "
                "to reach the last client"
            )
        if variant.conns and variant.conns.error is None and variant.conns.reached < variant.conns.asked:
            caveats.append(
                f"{variant.name}: {variant.conns.reached:,} of {variant.conns.asked:,} concurrent WebSockets "
                f"opened ({variant.conns.stopped_because})"
            )
    tools = {f.tool for v in results for f in v.http if f.error is None}
    if "python" in tools:
        caveats.append(
            "HTTP figures come from the Python fallback, not wrk: the load generator is the bottleneck, so "
            "absolute rates are low and ratios understate the difference; install wrk for real figures"
        )
    return caveats


def _undecided(headline: str, reasons: list[str]) -> Recommendation:
    return Recommendation("undecided", "tandem bench", headline, tuple(reasons), ())


def recommend(results: Sequence[VariantResult], facts: ProjectFacts) -> Recommendation:
    # The TLS variants answer what https costs on a proxy, not which topology: neither their figures nor
    # their failures decide (the table and the TLS ratios show them).
    results = [v for v in results if not v.tls]
    routes = (
        "unknown (the URLconf could not be read)" if facts.http_routes is None else str(facts.http_routes)
    )
    reasons = [
        f"the project has {facts.websocket_routes} WebSocket route(s) and {routes} HTTP URL pattern(s)"
    ]
    failed = [v for v in results if v.status not in (OK, SKIPPED)]
    if failed:
        first = failed[0]
        return _undecided(f"no recommendation: {first.name} failed ({first.reason})", reasons)
    unified, split = _best_http(results, "unified"), _best_http(results, "split")
    procs, procs_text = _procs_advice(results)
    if facts.websocket_routes == 0:
        if split is None:
            return _undecided("no WebSocket routes, but no split variant was measured", reasons)
        mode = "split"
        headline = "no WebSocket routes: Gunicorn behind nginx serves the whole project"
        reasons.append(f"{split[0].name} served {_range(split[1])}")
    elif unified is None and split is None:
        return _undecided("no HTTP figures were measured: nothing to compare", reasons)
    elif unified is None or split is None:
        only = unified or split
        assert only is not None
        return _undecided(
            f"only {only[0].mode} was measured ({only[0].name}: {_range(only[1])}): nothing to compare",
            reasons,
        )
    else:
        ratio = split[1].requests_per_s / unified[1].requests_per_s
        reasons.append(
            f"{split[0].name} served {_range(split[1])}, {ratio:.2f}x the best unified variant "
            f"({unified[0].name}: {_range(unified[1])})"
        )
        if facts.http_routes == 0:
            mode = "unified"
            headline = (
                "a WebSocket-only project: one server is simpler, and the split's HTTP speed buys nothing"
            )
        elif split[1].low / unified[1].high >= SPLIT_WORTH:
            mode = "split"
            headline = f"split: {ratio:.1f}x the HTTP throughput of unified on this project"
        elif split[1].high / unified[1].low < SPLIT_WORTH:
            mode = "unified"
            headline = f"unified: split is only {ratio:.2f}x faster here (below {SPLIT_WORTH}x), one server is simpler"
        else:
            return _undecided(
                f"split measured {ratio:.2f}x unified, but the repeats' spread straddles the {SPLIT_WORTH}x "
                "threshold: run longer (--duration) or more often (--repeat)",
                reasons,
            )
    server_args, server_reasons, left_daphne = _servers(results, mode, procs)
    if mode == "unified" and procs_text and not left_daphne:
        reasons.append(procs_text)
    # The several-processes figure is Daphne's: with another unified server, the measured one process.
    procs = procs if mode == "unified" and not left_daphne else 1
    reasons.extend(server_reasons)
    if server_args:
        headline += f"; with{server_args}"
    caveats = _caveats(results, facts, mode, procs)
    return Recommendation(mode, _command(mode, procs, server_args), headline, tuple(reasons), tuple(caveats))
