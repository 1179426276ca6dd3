"""One figure each: HTTP, WebSocket echo, fan-out, concurrent connections, against a running server.

A measurement that fails returns its figure with ``error`` set, so the run goes on with the next one. HTTP
and echo are measured ``repeat`` times and reported as the median with min-max; any answer that is not 2xx
(or 101), or any transport error, in any repeat fails the measurement: it then carries no rate at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tandem.bench.figures import ConnsFigure, EchoFigure, FanoutFigure, HttpFigure, combine_echo, combine_http
from tandem.bench.http_load import PYTHON, WRK, wrk_figure, wrk_warmup
from tandem.bench.jobs import HeldJob, JobFailed, run_job
from tandem.bench.server import Servers
from tandem.bench.tlsclient import client_context

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
    repeat: int = 3
    # A TLS variant's certificate the clients trust (tandem.bench.tlsclient); None: over https, unchecked
    # (the user's certificate, loopback only). Set per variant by the runner.
    cafile: str | None = None


def http_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def ws_url(base: str, path: str) -> str:
    return "ws" + base.rstrip("/").removeprefix("http") + path


def origin_of(base: str) -> str:
    return base.rstrip("/")


def check_answer(url: str, timeout: float = 15.0, *, cafile: str | None = None) -> str | None:
    """One GET before any load: why ``url`` is not a page to measure (not 2xx, no answer), or None."""
    tls = client_context(url, cafile)
    try:
        response = httpx.get(
            url, timeout=timeout, follow_redirects=False, trust_env=False, verify=tls if tls else True
        )
    except httpx.HTTPError as exc:
        return f"GET {url} got no answer: {exc or type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return None
    where = f" -> {response.headers['location']}" if "location" in response.headers else ""
    return f"GET {url} answered HTTP {response.status_code}{where}, not 2xx"


def measure_http(target: str, base: str, path: str, load: Load) -> HttpFigure:
    url = http_url(base, path)
    tool = WRK if load.wrk else PYTHON
    refused = check_answer(url, cafile=load.cafile)
    if refused is not None:
        return HttpFigure(target, url, tool, 0.0, None, None, 0, 0, 0.0, load.connections, error=refused)
    if load.wrk:
        wrk_warmup(load.wrk, url, warmup=load.warmup, connections=load.connections)
        runs = [
            wrk_figure(load.wrk, target, url, duration=load.duration, connections=load.connections)
            for _ in range(load.repeat)
        ]
        return combine_http(runs)
    runs = []
    for index in range(load.repeat):
        job = {
            "kind": "http", "url": url, "duration": load.duration,
            "warmup": load.warmup if index == 0 else 0.0, "connections": load.connections,
            "cafile": load.cafile,
        }  # fmt: skip
        try:
            out = run_job(job, load.duration + load.warmup + JOB_MARGIN)
        except JobFailed as exc:
            return HttpFigure(
                target, url, PYTHON, 0.0, None, None, 0, 0, 0.0, load.connections, error=str(exc)
            )
        runs.append(
            HttpFigure(
                target, url, PYTHON, out["requests_per_s"], out["p50_ms"], out["p99_ms"], out["requests"],
                out["errors"], out["duration_s"], load.connections, first_error=out.get("first_error"),
            )
        )  # fmt: skip
    return combine_http(runs)


def measure_echo(target: str, base: str, path: str, load: Load) -> EchoFigure:
    url = ws_url(base, path)
    runs = []
    for index in range(load.repeat):
        job = {
            "kind": "echo", "url": url, "origin": origin_of(base), "clients": load.clients,
            "duration": load.duration, "warmup": load.warmup if index == 0 else 0.0, "cafile": load.cafile,
        }  # fmt: skip
        try:
            out = run_job(job, load.duration + load.warmup + JOB_MARGIN)
        except JobFailed as exc:
            return EchoFigure(target, url, load.clients, 0, 0.0, None, None, 0, 0, 0.0, error=str(exc))
        runs.append(
            EchoFigure(
                target, url, load.clients, out["connected"], out["messages_per_s"], out["p50_ms"],
                out["p99_ms"], out["messages"], out["errors"], out["duration_s"], out.get("first_failure"),
            )
        )  # fmt: skip
    return combine_echo(runs)


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
    return fanout_figure(clients, out, message_timeout)


def fanout_figure(clients: int, out: dict[str, Any], message_timeout: float) -> FanoutFigure:
    """The fan-out job's result as a figure, or as a failed measurement: a listener handshake that did
    not end in 101 (even if a retry filled the room), fewer listeners than asked, or a post that did not
    reach every listener within ``message_timeout`` (a listener's socket dropped, or the server lost it).
    Latencies from only the posts that arrived everywhere would hide the ones that did not."""
    failure = None
    if out["join_failures"]:
        failure = f"{out['join_failures']} listener handshake(s) failed (first: {out['first_failure']})"
    elif out["connected"] < clients:
        failure = f"only {out['connected']} of {clients} listeners joined within the time bound"
    elif out["missing"]:
        failure = (
            f"{out['missing']} receipt(s) never arrived within {message_timeout:g} s: "
            f"{out['complete']} of {out['messages']} posts reached all {out['connected']} listeners"
        )
    if failure is not None:
        return FanoutFigure(
            clients, out["connected"], out["messages"], out["complete"], out["missing"], None, None, None,
            None, out["connect_s"], out["join_failures"], out["first_failure"], error=failure,
            within_bound=out.get("within_bound"),
        )  # fmt: skip
    return FanoutFigure(
        clients, out["connected"], out["messages"], out["complete"], out["missing"], out["last_p50_ms"],
        out["last_p99_ms"], out["each_p50_ms"], out["each_p99_ms"], out["connect_s"], out["join_failures"],
        out["first_failure"], within_bound=out.get("within_bound"),
    )  # fmt: skip


def measure_conns(run: Servers, target: str, base: str, path: str, asked: int, load: Load) -> ConnsFigure:
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
