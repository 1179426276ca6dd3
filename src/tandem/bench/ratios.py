"""The ratios ``--servers`` and ``handbuilt-split`` are run for, each from two figures of the same run (pure).

- the best ``--http-server`` against Gunicorn (sync) in split mode, HTTP req/s through nginx, each against
  Gunicorn over the same transport: over unix sockets (split-granian against split-unix, tandem's default),
  over TCP (split-granian-tcp against split-tcp: Gunicorn's sync worker closes every connection, so nginx
  opens a TCP connection per request, where Granian keeps them); and the same servers each reached
  directly over TCP (split-granian-tcp against split-tcp), without nginx taking its share of the cores;
- the best ``--ws-server`` against Daphne in split mode, and the best unified ``--server`` against one
  Daphne (unified-1), WebSocket echo msg/s (and HTTP req/s for unified, where the one server serves both);
- tandem's split-unix against the same servers started by hand as the Channels docs do (handbuilt-split),
  HTTP and echo;
- with ``--tls``, each TLS variant against its plain twin (split-tls vs split-unix, split-caddy-tls vs
  split-caddy), HTTP and echo: what https and wss cost on that proxy.

A ratio appears only when the run included a variant it needs; one whose figures were not measured says
why instead of a number. Only figures without a single failed answer count (``http_at``/``echo_at``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from tandem.bench.figures import GUNICORN_DIRECT, OK, PUBLIC, VariantResult
from tandem.bench.variants import variant_table

HTTP = "http"
ECHO = "echo"
UNITS = {HTTP: "req/s", ECHO: "msg/s"}
SPLIT_DEFAULT = "split-unix"
SPLIT_TCP = "split-tcp"  # Gunicorn reached directly over TCP
UNIFIED_DEFAULT = "unified-1"
HANDBUILT = "handbuilt-split"
TCP_HTTP_SERVER_TITLE = "best --http-server vs Gunicorn sync, both over TCP (split, HTTP)"
DIRECT_HTTP_SERVER_TITLE = (
    "best --http-server vs Gunicorn sync, each reached directly (split, HTTP, no nginx)"
)


@dataclass(frozen=True)
class Ratio:
    title: str  # e.g. "best --http-server vs Gunicorn sync (split, HTTP)"
    kind: str  # HTTP | ECHO
    top: str | None  # the variant on top of the ratio
    top_rate: float | None
    bottom: str | None  # the baseline
    bottom_rate: float | None
    missing: str | None = None  # why there is no ratio

    @property
    def ratio(self) -> float | None:
        if self.top_rate is None or not self.bottom_rate:
            return None
        return self.top_rate / self.bottom_rate

    def summary(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return f"{self.title}: not measured ({self.missing})"
        unit = UNITS[self.kind]
        return (
            f"{self.title}: {ratio:.2f}x ({self.top} {self.top_rate:,.0f} {unit} vs {self.bottom} "
            f"{self.bottom_rate:,.0f} {unit})"
        )


def _rate(variant: VariantResult, kind: str, target: str = PUBLIC) -> float | None:
    """The variant's req/s or msg/s at ``target``; None when not measured or when any answer failed."""
    if kind == HTTP:
        http = variant.http_at(target)
        rate = http.requests_per_s if http else 0.0
    else:
        echo = variant.echo_at(PUBLIC)
        rate = echo.messages_per_s if echo else 0.0
    return rate if rate > 0 else None


def _best(
    title: str,
    kind: str,
    candidates: Sequence[VariantResult],
    baseline_name: str,
    results: Sequence[VariantResult],
    target: str = PUBLIC,
) -> Ratio | None:
    if not candidates:
        return None  # none of the variants this ratio is about was in the run
    measured = [(v, r) for v in candidates if v.status == OK and (r := _rate(v, kind, target)) is not None]
    baseline = next((v for v in results if v.name == baseline_name and v.status == OK), None)
    base_rate = _rate(baseline, kind, target) if baseline is not None else None
    if not measured:
        names = ", ".join(v.name for v in candidates)
        return Ratio(title, kind, None, None, baseline_name, base_rate, f"no {kind} figure from {names}")
    top, rate = max(measured, key=lambda pair: pair[1])
    if base_rate is None:
        return Ratio(
            title, kind, top.name, rate, baseline_name, None, f"needs {baseline_name}'s {kind} figure"
        )
    return Ratio(title, kind, top.name, rate, baseline_name, base_rate)


def over_tcp_variants() -> frozenset[str]:
    """The variants whose app servers sit behind the proxy on 127.0.0.1 TCP ports (--internal tcp)."""
    return frozenset(
        v.name
        for v in variant_table(1)
        if any(a == "--internal" and b == "tcp" for a, b in zip(v.serve_args, v.serve_args[1:], strict=False))
    )


def server_ratios(results: Sequence[VariantResult]) -> list[Ratio]:
    """Every ratio the run has variants for, in a fixed order."""
    tandem = [v for v in results if not v.handbuilt]
    split = [v for v in tandem if v.mode == "split"]
    unified = [v for v in tandem if v.mode == "unified"]
    http_servers = [v for v in split if v.http_server not in (None, "gunicorn")]
    over_tcp = over_tcp_variants()
    unix_servers = [v for v in http_servers if v.name not in over_tcp]
    tcp_servers = [v for v in http_servers if v.name in over_tcp]
    # Those whose WSGI server was also reached directly (split over TCP): their figure at GUNICORN_DIRECT.
    direct_servers = [v for v in tcp_servers if any(f.target == GUNICORN_DIRECT for f in v.http)]
    split_ws = [v for v in split if v.ws_server != "daphne"]
    unified_ws = [v for v in unified if v.ws_server != "daphne"]
    handbuilt = [v for v in results if v.handbuilt]
    found = [
        _best(
            "best --http-server vs Gunicorn sync (split, HTTP)", HTTP, unix_servers, SPLIT_DEFAULT, results
        ),
        _best(TCP_HTTP_SERVER_TITLE, HTTP, tcp_servers, SPLIT_TCP, results),
        _best(DIRECT_HTTP_SERVER_TITLE, HTTP, direct_servers, SPLIT_TCP, results, GUNICORN_DIRECT),
        _best("best --ws-server vs Daphne (split, echo)", ECHO, split_ws, SPLIT_DEFAULT, results),
        _best("best --server vs Daphne (unified, echo)", ECHO, unified_ws, UNIFIED_DEFAULT, results),
        _best("best --server vs Daphne (unified, HTTP)", HTTP, unified_ws, UNIFIED_DEFAULT, results),
    ]
    if handbuilt:
        # tandem on top: above 1x, tandem's split is faster than the same servers set up by hand.
        tandem_split = [v for v in split if v.name == SPLIT_DEFAULT]
        for kind in (HTTP, ECHO):
            title = f"tandem split-unix vs by hand as the Channels docs ({kind})"
            found.append(
                _best(title, kind, tandem_split, HANDBUILT, results)
                or Ratio(title, kind, None, None, HANDBUILT, None, f"needs {SPLIT_DEFAULT} in the same run")
            )
    found.extend(tls_ratios(results))
    return [r for r in found if r is not None]


def tls_ratios(results: Sequence[VariantResult]) -> list[Ratio]:
    """Each TLS variant of the run over its plain twin: below 1x, TLS costs that share of the rate."""
    twins = {v.name: v.tls_of for v in variant_table(1) if v.tls_of}
    found = []
    for variant in results:
        base = twins.get(variant.name)
        if not variant.tls or base is None:
            continue
        for kind in (HTTP, ECHO):
            title = f"TLS cost: {variant.name} (https, wss) vs {base} ({kind})"
            ratio = _best(title, kind, [variant], base, results)
            assert ratio is not None  # one candidate given
            if ratio.missing and not any(v.name == base for v in results):
                ratio = dataclasses.replace(ratio, missing=f"needs {base} in the same run")
            found.append(ratio)
    return found
