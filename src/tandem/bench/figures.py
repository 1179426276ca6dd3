"""The figures a benchmark run produces, as plain dataclasses that serialise to JSON unchanged.

Targets and the recommendation are computed from these alone, so tests can build them by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Where a figure was measured: through the public address (nginx in split mode, Daphne in unified mode)
# or at an app server reached directly, bypassing nginx (split over TCP only).
PUBLIC = "public"
GUNICORN_DIRECT = "gunicorn-direct"
DAPHNE_DIRECT = "daphne-direct"

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"


class Summarised(Protocol):
    def summary(self) -> str: ...


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


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

    def summary(self) -> str:
        if self.error:
            return f"HTTP at {self.target} failed: {self.error}"
        return (
            f"HTTP at {self.target}: {self.requests_per_s:,.0f} req/s, p50 {_ms(self.p50_ms)} ms, "
            f"p99 {_ms(self.p99_ms)} ms ({self.tool}, {self.errors} errors)"
        )


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
    first_failure: str | None = None  # why a client could not connect, when some could not
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"WebSocket echo at {self.target} failed: {self.error}"
        text = (
            f"WebSocket echo at {self.target}: {self.messages_per_s:,.0f} msg/s, p50 {_ms(self.p50_ms)} ms, "
            f"p99 {_ms(self.p99_ms)} ms ({self.connected} clients)"
        )
        if self.connected < self.clients:
            text += f"; {self.clients - self.connected} could not connect (first: {self.first_failure})"
        return text


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
    join_failures: int = 0  # listeners whose handshake failed
    first_failure: str | None = None
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"fan-out to {self.clients} failed: {self.error}"
        text = (
            f"fan-out to {self.connected}/{self.clients} clients: last receipt p50 {_ms(self.last_p50_ms)} ms, "
            f"p99 {_ms(self.last_p99_ms)} ms ({self.complete}/{self.messages} complete, {self.missing} missing)"
        )
        if self.join_failures:
            text += f"; {self.join_failures} could not join (first: {self.first_failure})"
        return text


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

    def summary(self) -> str:
        if self.error:
            return f"concurrent WebSockets failed: {self.error}"
        memory = f", {self.kb_per_conn:.1f} KB each in Daphne" if self.kb_per_conn is not None else ""
        return (
            f"{self.reached:,} of {self.asked:,} concurrent WebSockets in {self.seconds:.1f} s{memory} "
            f"({self.stopped_because})"
        )


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
