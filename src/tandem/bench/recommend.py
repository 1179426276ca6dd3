"""Which topology to run, derived from the measured figures and the project's own facts (pure).

The rules, in order:
1. No WebSocket routes: Daphne has nothing to do that Gunicorn cannot; split (Gunicorn behind nginx).
2. No HTTP routes at all (a WebSocket-only project): unified; the split's HTTP speed buys nothing.
3. Otherwise split when its HTTP rate is at least ``SPLIT_WORTH`` times the best unified variant's, else
   unified (one server is simpler, and the split's advantage is small on this project).
4. Unified with several Daphne processes only when they measured at least ``PROCS_WORTH`` times one.
Caveats carry what the figures say beyond the choice: the channel layer, the proxy hop, fan-out latency,
connection limits, a Python-fallback HTTP figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.bench.figures import GUNICORN_DIRECT, OK, PUBLIC, VariantResult, find

SPLIT_WORTH = 1.5
PROCS_WORTH = 1.3
FANOUT_SLOW_MS = 100.0
REDIS_EXAMPLE = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ProjectFacts:
    websocket_routes: int
    http_routes: int
    layer: str  # e.g. "InMemoryChannelLayer"
    cross_process_layer: bool

    @property
    def websocket_share(self) -> float:
        total = self.websocket_routes + self.http_routes
        return self.websocket_routes / total if total else 0.0


@dataclass(frozen=True)
class Recommendation:
    mode: str  # "split" | "unified" | "undecided"
    command: str
    headline: str
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]


def _best_http(results: Sequence[VariantResult], mode: str) -> tuple[VariantResult, float] | None:
    best: tuple[VariantResult, float] | None = None
    for variant in results:
        figure = variant.http_at(PUBLIC) if variant.status == OK and variant.mode == mode else None
        if (
            figure is not None
            and figure.requests_per_s > 0
            and (best is None or figure.requests_per_s > best[1])
        ):
            best = (variant, figure.requests_per_s)
    return best


def _procs_advice(results: Sequence[VariantResult]) -> tuple[int, str | None]:
    one, many = find(results, "unified-1"), find(results, "unified-n")
    one_http = one.http_at() if one else None
    many_http = many.http_at() if many else None
    if many is None or one_http is None or many_http is None or one_http.requests_per_s <= 0:
        return 1, None
    ratio = many_http.requests_per_s / one_http.requests_per_s
    text = (
        f"{many.procs} Daphne processes served {many_http.requests_per_s:,.0f} req/s, "
        f"{ratio:.2f}x one ({one_http.requests_per_s:,.0f})"
    )
    return (many.procs or 1, text) if ratio >= PROCS_WORTH else (1, text)


def _command(mode: str, procs: int, facts: ProjectFacts) -> str:
    if mode == "split":
        command = "tandem serve --mode split"
        return command if facts.cross_process_layer else f"{command} --channel-layer {REDIS_EXAMPLE}"
    if mode == "unified" and procs > 1:
        command = f"tandem serve --procs {procs}"
        return command if facts.cross_process_layer else f"{command} --channel-layer {REDIS_EXAMPLE}"
    return "tandem serve --procs 1" if mode == "unified" else "tandem bench"


def _layer_caveat(results: Sequence[VariantResult], facts: ProjectFacts) -> str:
    text = (
        f"the project's channel layer is {facts.layer}, which stays inside one process: group messages sent "
        "from a Gunicorn worker or another Daphne process never reach WebSocket clients; use channels_redis"
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
    if (mode == "split" or procs > 1) and not facts.cross_process_layer and facts.websocket_routes:
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


def recommend(results: Sequence[VariantResult], facts: ProjectFacts) -> Recommendation:
    unified, split = _best_http(results, "unified"), _best_http(results, "split")
    share = (
        f"the project has {facts.websocket_routes} WebSocket route(s) and {facts.http_routes} HTTP URL "
        f"pattern(s) ({facts.websocket_share:.0%} WebSocket)"
    )
    reasons = [share]
    procs, procs_text = _procs_advice(results)
    if facts.websocket_routes == 0:
        mode = "split" if split else "undecided"
        headline = "no WebSocket routes: Gunicorn behind nginx serves the whole project"
        if split:
            reasons.append(f"{split[0].name} served {split[1]:,.0f} req/s")
    elif unified is None and split is None:
        mode, headline = "undecided", "no HTTP figures were measured: nothing to compare"
    elif unified is None or split is None:
        only = unified or split
        assert only is not None
        mode = only[0].mode
        headline = f"only {mode} was measured ({only[0].name}: {only[1]:,.0f} req/s)"
    else:
        ratio = split[1] / unified[1]
        versus = (
            f"{split[0].name} served {split[1]:,.0f} req/s, {ratio:.2f}x the best unified variant "
            f"({unified[0].name}: {unified[1]:,.0f} req/s)"
        )
        reasons.append(versus)
        if facts.http_routes == 0:
            mode = "unified"
            headline = (
                "a WebSocket-only project: one server is simpler, and the split's HTTP speed buys nothing"
            )
        elif ratio >= SPLIT_WORTH:
            mode = "split"
            headline = f"split: {ratio:.1f}x the HTTP throughput of unified on this project"
        else:
            mode = "unified"
            headline = f"unified: split is only {ratio:.2f}x faster here (below {SPLIT_WORTH}x), one server is simpler"
    if mode == "unified" and procs_text:
        reasons.append(procs_text)
    procs = procs if mode == "unified" else 1
    caveats = _caveats(results, facts, mode, procs)
    return Recommendation(mode, _command(mode, procs, facts), headline, tuple(reasons), tuple(caveats))
