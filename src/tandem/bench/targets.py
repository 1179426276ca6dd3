"""tandem's own development targets (issues 6 and 16) for its defaults, checked against one run's figures.

Not part of ``tandem bench``'s output or report: they are goals for tandem's developers, not facts about a
user's project. Developers check a run's JSON with ``python -m tandem.bench.targets bench.json`` (see
docs/bench/README.md). Every ratio compares two figures from the same run on the same machine; a target
whose figures were not measured is reported as such (``met`` None), never as met; one whose measurement
failed is reported as not met, with the failure as its basis.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tandem.bench.figures import (
    DAPHNE_DIRECT,
    GUNICORN_DIRECT,
    PUBLIC,
    ConnsFigure,
    EchoFigure,
    FanoutFigure,
    HttpFigure,
    VariantResult,
    find,
)

SPLIT_OVER_UNIFIED = 7.0
PROXY_HOP = 0.95
TWO_PROCS = 1.8
WS_PROXY_HOP = 0.95
CONCURRENT_WS = 8000
FANOUT_CLIENTS = 1000
FANOUT_P99_MS = 100.0  # issue 6, on one Daphne
FANOUT_DAPHNE_P99_MS = 250.0  # issue 16, on one Daphne
FANOUT_FASTEST_P99_MS = 150.0  # issue 16, on one process of the fastest server
ONE_PROCESS_SERVERS = ("unified-1", "unified-uvicorn", "unified-gunicorn-asgi")
HTTP_SERVER_OVER_GUNICORN = 2.0  # issue 16: best --http-server vs Gunicorn sync in split
WS_SERVER_OVER_DAPHNE = 1.5  # issue 16: best --ws-server echo vs Daphne

SPLIT_PREFERENCE = ("split-unix", "split-tcp", "split-redis")


@dataclass(frozen=True)
class Target:
    key: str
    title: str
    wanted: str  # ">= 7.00x"
    measured: float | None
    shown: str  # the measured value as displayed: "7.85x" or "not measured"
    met: bool | None  # None: not measured
    basis: str  # the numbers behind it, or why it was not measured


def _ratio_target(
    key: str,
    title: str,
    threshold: float,
    top: tuple[str, float] | None,
    bottom: tuple[str, float] | None,
    unit: str,
    missing: str,
) -> Target:
    wanted = f">= {threshold:.2f}x"
    if top is None or bottom is None or bottom[1] <= 0:
        return Target(key, title, wanted, None, "not measured", None, missing)
    ratio = top[1] / bottom[1]
    basis = f"{top[0]} {top[1]:,.0f} {unit} / {bottom[0]} {bottom[1]:,.0f} {unit}"
    return Target(key, title, wanted, ratio, f"{ratio:.2f}x", ratio >= threshold, basis)


def _rate(results: Sequence[VariantResult], name: str, target: str, kind: str) -> tuple[str, float] | None:
    """(label, rate) of a variant's HTTP req/s or echo msg/s at ``target``; None when not measured."""
    variant = find(results, name)
    if variant is None:
        return None
    if kind == "http":
        http = variant.http_at(target)
        rate = http.requests_per_s if http else 0.0
    else:
        echo = variant.echo_at(target)
        rate = echo.messages_per_s if echo else 0.0
    if rate <= 0:
        return None
    return (name if target == PUBLIC else f"{name} {target}"), rate


def _http(results: Sequence[VariantResult], name: str, target: str = PUBLIC) -> tuple[str, float] | None:
    return _rate(results, name, target, "http")


def _echo(results: Sequence[VariantResult], name: str, target: str = PUBLIC) -> tuple[str, float] | None:
    return _rate(results, name, target, "echo")


def check_targets(
    results: Sequence[VariantResult], *, max_conns: int, fanout_counts: Sequence[int]
) -> list[Target]:
    split = next((s for s in (_http(results, n) for n in SPLIT_PREFERENCE) if s is not None), None)
    many = find(results, "unified-n")
    many_label = f"unified with {many.procs} Daphne" if many else "unified with 2 Daphne"
    targets = [
        _ratio_target(
            "split_over_unified",
            "split HTTP req/s vs unified with 1 Daphne",
            SPLIT_OVER_UNIFIED,
            split,
            _http(results, "unified-1"),
            "req/s",
            "needs unified-1 and a split variant with HTTP figures",
        ),
        _ratio_target(
            "proxy_hop_http",
            "split through nginx vs Gunicorn reached directly",
            PROXY_HOP,
            _http(results, "split-tcp"),
            _http(results, "split-tcp", GUNICORN_DIRECT),
            "req/s",
            "needs split-tcp (Gunicorn is reachable directly only over TCP)",
        ),
        _ratio_target(
            "unified_two_procs",
            f"{many_label} vs 1",
            TWO_PROCS,
            _http(results, "unified-n"),
            _http(results, "unified-1"),
            "req/s",
            "needs unified-1 and unified-n (unified-n needs redis-server)",
        ),
        _ratio_target(
            "proxy_hop_ws",
            "WebSocket echo through nginx vs Daphne reached directly",
            WS_PROXY_HOP,
            _echo(results, "split-tcp"),
            _echo(results, "split-tcp", DAPHNE_DIRECT),
            "msg/s",
            "needs split-tcp with WebSocket figures",
        ),
        _conns_target(results, max_conns),
        *_fanout_targets(results, fanout_counts),
        *_server_targets(results),
    ]
    return targets


def _server_targets(results: Sequence[VariantResult]) -> list[Target]:
    """Issue 16's server ratios, from the same figures ``tandem bench --servers`` prints."""
    from tandem.bench.ratios import DIRECT_HTTP_SERVER_TITLE, TCP_HTTP_SERVER_TITLE, server_ratios

    ratios = {r.title: r for r in server_ratios(results)}
    plain = "needs tandem bench --servers with split-unix"
    wanted = (
        ("http_server_over_gunicorn", "best --http-server vs Gunicorn sync (split, HTTP)",
         HTTP_SERVER_OVER_GUNICORN, "req/s", plain),
        ("http_server_over_gunicorn_tcp", TCP_HTTP_SERVER_TITLE, HTTP_SERVER_OVER_GUNICORN, "req/s",
         "needs tandem bench --servers with split-tcp (split-granian-tcp)"),
        # The same servers without nginx: on a small machine nginx and the load generator share its cores.
        ("http_server_over_gunicorn_direct", DIRECT_HTTP_SERVER_TITLE, HTTP_SERVER_OVER_GUNICORN, "req/s",
         "needs tandem bench --servers with split-tcp (split-granian-tcp reaches Granian directly)"),
        ("ws_server_over_daphne", "best --ws-server vs Daphne (split, echo)", WS_SERVER_OVER_DAPHNE, "msg/s",
         plain),
    )  # fmt: skip
    targets = []
    for key, title, threshold, unit, needs in wanted:
        ratio = ratios.get(title)
        top = (ratio.top, ratio.top_rate) if ratio and ratio.top and ratio.top_rate else None
        bottom = (ratio.bottom, ratio.bottom_rate) if ratio and ratio.bottom and ratio.bottom_rate else None
        missing = ratio.missing if ratio and ratio.missing else needs
        targets.append(_ratio_target(key, title, threshold, top, bottom, unit, missing))
    return targets


def _conns_target(results: Sequence[VariantResult], max_conns: int) -> Target:
    title = "concurrent WebSockets through nginx"
    wanted = f">= {CONCURRENT_WS:,}"
    best = None
    for variant in results:
        conns = variant.conns if variant.status == "ok" and variant.mode == "split" else None
        if conns is not None and conns.error is None and (best is None or conns.reached > best[1]):
            best = (variant.name, conns.reached, conns.stopped_because)
    if best is None:
        return Target(
            "concurrent_ws",
            title,
            wanted,
            None,
            "not measured",
            None,
            "needs split-unix with WebSocket figures",
        )
    name, reached, why = best
    if max_conns < CONCURRENT_WS and reached >= max_conns:
        return Target(
            "concurrent_ws", title, wanted, float(reached), f"{reached:,}", None,
            f"{name}: reached all {max_conns:,} asked for; --max-conns is below the target",
        )  # fmt: skip
    return Target(
        "concurrent_ws", title, wanted, float(reached), f"{reached:,}", reached >= CONCURRENT_WS,
        f"{name}: {reached:,} of {max_conns:,} asked for ({why})",
    )  # fmt: skip


def _fanout_target(
    results: Sequence[VariantResult],
    fanout_counts: Sequence[int],
    key: str,
    title: str,
    names: Sequence[str],
    threshold_ms: float,
) -> Target:
    """The lowest last-receipt p99 for 1,000 clients among ``names`` (one process each, in-memory layer)."""
    wanted = f"< {threshold_ms:.0f} ms"
    if FANOUT_CLIENTS not in fanout_counts:
        return Target(
            key, title, wanted, None, "not measured", None, f"--fanout does not include {FANOUT_CLIENTS}"
        )
    measured = []
    failed = []
    for name in names:
        variant = find(results, name)
        if variant is None or variant.cross_process_layer:
            continue
        # A failed fan-out (a post that did not reach every listener, a handshake that failed) is the
        # target not met: skipped, it would read "not measured", or "met" from another server's figure.
        failed += [
            f"{name}: failed: {f.error}" for f in variant.fanout if f.clients == FANOUT_CLIENTS and f.error
        ]
        figure = variant.fanout_for(FANOUT_CLIENTS)
        if figure is not None and figure.last_p99_ms is not None:
            measured.append((figure.last_p99_ms, name, figure))
    if failed:
        return Target(key, title, wanted, None, "failed", False, "; ".join(failed))
    if not measured:
        return Target(
            key, title, wanted, None, "not measured", None,
            f"needs {' or '.join(names)} with the in-memory channel layer and a fan-out to {FANOUT_CLIENTS:,}",
        )  # fmt: skip
    p99, name, figure = min(measured, key=lambda item: item[0])
    basis = (
        f"{name}: last receipt p50 {figure.last_p50_ms or 0:.1f} ms, p99 {p99:.1f} ms over "
        f"{figure.complete} messages to {figure.connected:,} clients"
    )
    if figure.missing:
        basis += f"; {figure.missing} receipts missing"
    met = p99 < threshold_ms and figure.connected >= FANOUT_CLIENTS and figure.missing == 0
    return Target(key, title, wanted, p99, f"{p99:.1f} ms", met, basis)


def _fanout_targets(results: Sequence[VariantResult], fanout_counts: Sequence[int]) -> list[Target]:
    clients = f"{FANOUT_CLIENTS:,} clients"
    return [
        _fanout_target(
            results, fanout_counts, "fanout_1000", f"fan-out to {clients}, p99 (in-memory layer, 1 process)",
            ("unified-1",), FANOUT_P99_MS,
        ),
        _fanout_target(
            results, fanout_counts, "fanout_1000_daphne", f"fan-out to {clients} on one Daphne, p99 (issue 16)",
            ("unified-1",), FANOUT_DAPHNE_P99_MS,
        ),
        _fanout_target(
            results, fanout_counts, "fanout_1000_fastest",
            f"fan-out to {clients} on one process of the fastest server, p99 (issue 16)",
            ONE_PROCESS_SERVERS, FANOUT_FASTEST_P99_MS,
        ),
    ]  # fmt: skip


def _build(kind: type[Any], data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
    return kind(**values)


def variants_from_json(data: dict[str, Any]) -> list[VariantResult]:
    """The variants of a ``tandem bench --json`` file, as the dataclasses the checks read."""
    results = []
    for raw in data.get("variants", []):
        variant = _build(
            VariantResult, {k: v for k, v in raw.items() if k not in ("http", "echo", "fanout", "conns")}
        )
        variant.http = [_build(HttpFigure, f) for f in raw.get("http", [])]
        variant.echo = [_build(EchoFigure, f) for f in raw.get("echo", [])]
        variant.fanout = [_build(FanoutFigure, f) for f in raw.get("fanout", [])]
        variant.conns = _build(ConnsFigure, raw["conns"]) if raw.get("conns") else None
        variant.notes = list(raw.get("notes", []))
        results.append(variant)
    return results


def main(argv: list[str]) -> int:
    """``python -m tandem.bench.targets BENCH.json``: one line per target, for tandem's developers."""
    if len(argv) != 1:
        print("usage: python -m tandem.bench.targets BENCH.json", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    options = data.get("options", {})
    for target in check_targets(
        variants_from_json(data),
        max_conns=int(options.get("max_conns", 0)),
        fanout_counts=tuple(options.get("fanout", ())),
    ):
        result = "not measured" if target.met is None else ("met" if target.met else "NOT MET")
        print(f"{target.title}: wanted {target.wanted}, measured {target.shown} ({result}); {target.basis}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))  # a developer's script: its exit status is the result
