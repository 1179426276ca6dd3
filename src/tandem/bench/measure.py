"""One figure each: HTTP, WebSocket echo, fan-out, concurrent connections, against a running server.

A measurement that fails returns its figure with ``error`` set, so the run goes on with the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.bench.figures import ConnsFigure, EchoFigure, FanoutFigure, HttpFigure
from tandem.bench.http_load import PYTHON, wrk_figure
from tandem.bench.jobs import HeldJob, JobFailed, run_job
from tandem.bench.server import ServeRun

JOB_MARGIN = 60.0  # seconds a job gets beyond its own time bounds before it is killed


@dataclass(frozen=True)
class Load:
    """How hard to push, from the options."""

    duration: float
    warmup: float
    connections: int  # HTTP
    clients: int  # WebSocket echo
    fanout_messages: int
    conns_timeout: float
    wrk: str | None  # wrk's path, or None for the Python fallback


def http_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def ws_url(base: str, path: str) -> str:
    return "ws" + base.rstrip("/").removeprefix("http") + path


def origin_of(base: str) -> str:
    return base.rstrip("/")


def measure_http(target: str, base: str, path: str, load: Load) -> HttpFigure:
    url = http_url(base, path)
    if load.wrk:
        return wrk_figure(
            load.wrk, target, url, duration=load.duration, warmup=load.warmup, connections=load.connections
        )
    job = {
        "kind": "http",
        "url": url,
        "duration": load.duration,
        "warmup": load.warmup,
        "connections": load.connections,
    }
    try:
        out = run_job(job, load.duration + load.warmup + JOB_MARGIN)
    except JobFailed as exc:
        return HttpFigure(target, url, PYTHON, 0.0, None, None, 0, 0, 0.0, load.connections, error=str(exc))
    return HttpFigure(
        target, url, PYTHON, out["requests_per_s"], out["p50_ms"], out["p99_ms"], out["requests"],
        out["errors"], out["duration_s"], load.connections,
    )  # fmt: skip


def measure_echo(target: str, base: str, path: str, load: Load) -> EchoFigure:
    url = ws_url(base, path)
    job = {
        "kind": "echo", "url": url, "origin": origin_of(base), "clients": load.clients,
        "duration": load.duration, "warmup": load.warmup,
    }  # fmt: skip
    try:
        out = run_job(job, load.duration + load.warmup + JOB_MARGIN)
    except JobFailed as exc:
        return EchoFigure(target, url, load.clients, 0, 0.0, None, None, 0, 0, 0.0, error=str(exc))
    return EchoFigure(
        target, url, load.clients, out["connected"], out["messages_per_s"], out["p50_ms"], out["p99_ms"],
        out["messages"], out["errors"], out["duration_s"], out.get("first_failure"),
    )  # fmt: skip


def measure_fanout(base: str, path: str, cookie: str, clients: int, load: Load) -> FanoutFigure:
    url = ws_url(base, path)
    time_bound = 30.0 + clients * 0.05
    message_timeout = 10.0
    job = {
        "kind": "fanout", "url": url, "origin": origin_of(base), "cookie": cookie, "clients": clients,
        "messages": load.fanout_messages, "time_bound": time_bound, "message_timeout": message_timeout,
    }  # fmt: skip
    bound = 2 * time_bound + (load.fanout_messages + 2) * message_timeout + JOB_MARGIN
    try:
        out = run_job(job, bound)
    except JobFailed as exc:
        return FanoutFigure(clients, 0, 0, 0, 0, None, None, None, None, 0.0, error=str(exc))
    # Fewer listeners than asked is a figure, not a failure: `connected` tells how many joined.
    return FanoutFigure(
        clients, out["connected"], out["messages"], out["complete"], out["missing"], out["last_p50_ms"],
        out["last_p99_ms"], out["each_p50_ms"], out["each_p99_ms"], out["connect_s"], out["join_failures"],
        out["first_failure"],
    )  # fmt: skip


def measure_conns(run: ServeRun, target: str, base: str, path: str, asked: int, load: Load) -> ConnsFigure:
    """Idle WebSockets opened until ``asked`` are open, the time bound passes or handshakes keep failing;
    Daphne's resident memory is read before, and while they are all held."""
    url = ws_url(base, path)
    job = {
        "kind": "conns", "url": url, "origin": origin_of(base), "count": asked, "warm": 20,
        "time_bound": load.conns_timeout, "concurrency": 64, "max_failures": max(20, asked // 100),
        "hold_timeout": 120,
    }  # fmt: skip
    before: int | None = None
    held = HeldJob(job)
    try:
        held.next_line(JOB_MARGIN)  # warmed up
        before = run.rss_kb("daphne")
        held.send("go")
        holding = held.next_line(load.conns_timeout + JOB_MARGIN)
        after = run.rss_kb("daphne")
        out = held.release(JOB_MARGIN)
    except JobFailed as exc:
        return ConnsFigure(target, url, asked, 0, 0, 0.0, "", before, None, None, error=str(exc))
    finally:
        held.stop()
    reached = int(holding.get("holding", 0))
    per_conn = (after - before) / reached if reached and after is not None and before is not None else None
    stopped = out["stopped_because"]
    if out.get("still_open", reached) < reached:
        stopped += f"; {reached - out['still_open']} closed while held"
    return ConnsFigure(
        target, url, asked, reached, out["failures"], out["seconds"], stopped, before, after, per_conn
    )
