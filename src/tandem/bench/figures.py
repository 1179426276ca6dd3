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
# The direct targets keep the seed's names in the JSON (earlier runs' files are read by the same code), but
# the WSGI server reached directly may be Granian and the ASGI one uvicorn: what is printed names the side.
PUBLIC = "public"
GUNICORN_DIRECT = "gunicorn-direct"
DAPHNE_DIRECT = "daphne-direct"
TARGET_LABELS = {
    PUBLIC: "public",
    GUNICORN_DIRECT: "the WSGI server directly",
    DAPHNE_DIRECT: "the ASGI server directly",
}


def target_label(target: str) -> str:
    return TARGET_LABELS.get(target, target)


OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"


class Summarised(Protocol):
    def summary(self) -> str: ...


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def spread(samples: Sequence[float]) -> str:
    """ " (min-max of 3)" for repeated measurements; nothing for one."""
    if len(samples) < 2:
        return ""
    return f" (min-max {min(samples):,.0f}-{max(samples):,.0f} of {len(samples)})"


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _median_or_none(values: Sequence[float | None]) -> float | None:
    return median([v for v in values if v is not None])


def _empty_repeat(rates: Sequence[float]) -> int | None:
    """The number (from 1) of the first repeat that completed nothing, or None. Such a repeat saw no
    failure but measured nothing either (every request still in flight when it ended): a median and a
    min of 0 next to real rates would be a figure from requests that never finished."""
    return next((index for index, rate in enumerate(rates, 1) if rate <= 0), None)


def combine_http(runs: Sequence[HttpFigure]) -> HttpFigure:
    """Repeats of one HTTP measurement as one figure: the median rate (min-max kept in ``samples``) and
    median latencies. Any bad answer or transport error in any repeat fails the whole measurement: a rate
    that includes 404s or resets measures the error path, not the page."""
    first = runs[0]
    failed = next((r for r in runs if r.error), None)
    if failed is not None:
        return failed
    errors = sum(r.errors for r in runs)
    requests = sum(r.requests for r in runs)
    if errors:
        cause = next((r.first_error for r in runs if r.first_error), None) or "a transport error"
        return dataclasses.replace(
            first, requests_per_s=0.0, p50_ms=None, p99_ms=None, requests=requests, errors=errors,
            duration_s=sum(r.duration_s for r in runs), samples=(), first_error=cause,
            error=f"{errors:,} answers were not 2xx or failed, in {requests:,} requests (first: {cause})",
        )  # fmt: skip
    empty = _empty_repeat([r.requests_per_s for r in runs])
    if empty is not None:
        return dataclasses.replace(
            first, requests_per_s=0.0, p50_ms=None, p99_ms=None, requests=requests, errors=0,
            duration_s=sum(r.duration_s for r in runs), samples=(),
            error=f"repeat {empty} of {len(runs)} completed no request: no rate to report (--duration longer?)",
        )  # fmt: skip
    rates = tuple(r.requests_per_s for r in runs)
    return dataclasses.replace(
        first, requests_per_s=median(rates) or 0.0, p50_ms=_median_or_none([r.p50_ms for r in runs]),
        p99_ms=_median_or_none([r.p99_ms for r in runs]), requests=requests, errors=0,
        duration_s=sum(r.duration_s for r in runs), samples=rates,
    )  # fmt: skip


def combine_echo(runs: Sequence[EchoFigure]) -> EchoFigure:
    """Repeats of the echo measurement, as ``combine_http``: a client that could not connect, a frame that
    did not come back unchanged or a dropped connection fails the measurement."""
    first = runs[0]
    failed = next((r for r in runs if r.error), None)
    if failed is not None:
        return failed
    errors = sum(r.errors for r in runs)
    short = next((r for r in runs if r.connected < r.clients), None)
    if errors or short is not None:
        cause = next((r.first_failure for r in runs if r.first_failure), None) or "a connection dropped"
        missing = (
            f"{short.clients - short.connected} of {short.clients} clients could not connect; "
            if short
            else ""
        )
        return dataclasses.replace(
            first, messages_per_s=0.0, p50_ms=None, p99_ms=None, errors=errors, samples=(),
            error=f"{missing}{errors} error(s) (first: {cause})", first_failure=cause,
        )  # fmt: skip
    empty = _empty_repeat([r.messages_per_s for r in runs])
    if empty is not None:
        return dataclasses.replace(
            first, messages_per_s=0.0, p50_ms=None, p99_ms=None, samples=(),
            error=f"repeat {empty} of {len(runs)} echoed no message: no rate to report (--duration longer?)",
        )  # fmt: skip
    rates = tuple(r.messages_per_s for r in runs)
    return dataclasses.replace(
        first, messages_per_s=median(rates) or 0.0, p50_ms=_median_or_none([r.p50_ms for r in runs]),
        p99_ms=_median_or_none([r.p99_ms for r in runs]), messages=sum(r.messages for r in runs),
        duration_s=sum(r.duration_s for r in runs), samples=rates,
    )  # fmt: skip


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
    errors: int  # transport errors plus answers that were not 2xx
    duration_s: float
    connections: int
    error: str | None = None  # the measurement failed: why (then no rate or latency is reported)
    samples: tuple[float, ...] = ()  # req/s of each repeat; requests_per_s is their median
    first_error: str | None = None  # the first bad answer or transport error, e.g. "HTTP 404"

    def summary(self) -> str:
        if self.error:
            return f"HTTP at {target_label(self.target)} failed: {self.error}"
        return (
            f"HTTP at {target_label(self.target)}: {self.requests_per_s:,.0f} req/s{spread(self.samples)}, "
            f"p50 {_ms(self.p50_ms)} ms, p99 {_ms(self.p99_ms)} ms ({self.tool})"
        )

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else self.requests_per_s

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else self.requests_per_s


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
    first_failure: str | None = None  # the first handshake that failed, frame that did not echo, ...
    error: str | None = None
    samples: tuple[float, ...] = ()  # msg/s of each repeat; messages_per_s is their median

    def summary(self) -> str:
        if self.error:
            return f"WebSocket echo at {target_label(self.target)} failed: {self.error}"
        return (
            f"WebSocket echo at {target_label(self.target)}: {self.messages_per_s:,.0f} msg/s{spread(self.samples)}, "
            f"p50 {_ms(self.p50_ms)} ms, p99 {_ms(self.p99_ms)} ms ({self.connected} clients)"
        )

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else self.messages_per_s

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else self.messages_per_s


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
    within_bound: int | None = None  # posts that reached every listener within tandem.bench.capacity's bound

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
    # The app servers it ran (tandem.servers names): split's WSGI server (None in unified mode) and the
    # ASGI server; handbuilt: started by hand as the Channels docs do, a reference never recommended.
    http_server: str | None = "gunicorn"
    ws_server: str = "daphne"
    handbuilt: bool = False
    tls: bool = False  # served over https/wss: what TLS costs, next to its plain twin; never recommended
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

    def failed_measurements(self) -> list[str]:
        """Every measurement of this variant that failed, as "what: why"."""
        failed = [f.summary() for f in self.http if f.error]
        failed += [f.summary() for f in self.echo if f.error]
        failed += [f.summary() for f in self.fanout if f.error]
        if self.conns is not None and self.conns.error:
            failed.append(self.conns.summary())
        return failed


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
