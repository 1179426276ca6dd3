"""The figures a benchmark run produces, as plain dataclasses that serialise to JSON unchanged.

Targets and the recommendation are computed from these alone, so tests can build them by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Where a figure was measured: through the public address (nginx in split mode, Daphne in unified mode)
# or at an app server reached directly, bypassing nginx (split over TCP only).
PUBLIC = "public"
GUNICORN_DIRECT = "gunicorn-direct"
DAPHNE_DIRECT = "daphne-direct"

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of unsorted ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class HttpFigure:
    target: str  # PUBLIC | GUNICORN_DIRECT
    url: str
    tool: str  # "wrk" or "python" (the labelled fallback)
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers
    duration_s: float
    connections: int
    error: str | None = None  # the measurement itself failed: why


@dataclass(frozen=True)
class EchoFigure:
    target: str  # PUBLIC | DAPHNE_DIRECT
    url: str
    clients: int
    connected: int
    messages_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    messages: int
    errors: int
    duration_s: float
    error: str | None = None


@dataclass(frozen=True)
class FanoutFigure:
    clients: int  # asked for
    connected: int
    messages: int  # posted and measured
    complete: int  # messages that reached every connected client
    missing: int  # receipts that never arrived within the per-message timeout
    last_p50_ms: float | None  # time from send to the LAST client's receipt, per message
    last_p99_ms: float | None
    each_p50_ms: float | None  # time from send to each client's receipt, over all receipts
    each_p99_ms: float | None
    connect_s: float
    error: str | None = None


@dataclass(frozen=True)
class ConnsFigure:
    target: str
    url: str
    asked: int
    reached: int  # open at the moment of measurement
    failures: int
    seconds: float  # to open them
    stopped_because: str
    daphne_rss_before_kb: int | None
    daphne_rss_after_kb: int | None
    kb_per_conn: float | None
    error: str | None = None


@dataclass
class VariantResult:
    name: str
    mode: str
    description: str
    layer: str  # channel layer the servers ran with, e.g. "InMemoryChannelLayer"
    cross_process_layer: bool
    procs: int | None  # Daphne processes (None: tandem's default)
    status: str = OK  # OK | FAILED | SKIPPED
    reason: str | None = None
    ready_s: float | None = None
    http: list[HttpFigure] = field(default_factory=list)
    echo: list[EchoFigure] = field(default_factory=list)
    fanout: list[FanoutFigure] = field(default_factory=list)
    conns: ConnsFigure | None = None
    notes: list[str] = field(default_factory=list)

    def http_at(self, target: str = PUBLIC) -> HttpFigure | None:
        return next((f for f in self.http if f.target == target and f.error is None), None)

    def echo_at(self, target: str = PUBLIC) -> EchoFigure | None:
        return next((f for f in self.echo if f.target == target and f.error is None), None)

    def fanout_for(self, clients: int) -> FanoutFigure | None:
        return next((f for f in self.fanout if f.clients == clients and f.error is None), None)


def to_data(value: Any) -> Any:
    """Dataclasses (nested) to plain JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3)
    return value


def find(results: Sequence[VariantResult], name: str) -> VariantResult | None:
    return next((r for r in results if r.name == name and r.status == OK), None)
