"""Issue 15's figures: the example project on app hosts behind an edge, each host its own network namespace.

    sudo .venv/bin/python docs/bench/multihost.py                 # ~5-8 min; writes docs/bench/<date>-multihost.md
    sudo .venv/bin/python docs/bench/multihost.py --rounds 1 --clients 300 --out /tmp/m.md   # quicker

Root only (it creates network namespaces). The layout is tests/multihost's, built by its own helpers
(``make_net``, ``Net.assert_ready``, ``start_site``): Redis in one namespace, three ``tandem serve --role app
--mode split --workers 2 --procs 1`` hosts in three more, and edges (``tandem serve --role edge``) in the root
namespace on loopback. Every namespace, veth and the bridge are removed on the way out, whatever the way out.
Traffic goes only to the edges this script started on 127.0.0.1, after ``Net.assert_ready`` checked each
namespace, address and route and each edge's ``tandem status`` listed the app hosts it was given as answering.

1. **HTTP req/s through the edge with 1, 2 and 3 app hosts**: three edges, upstreams a1 / a1+a2 / a1+a2+a3,
   ``wrk -t1 -c32 -d10s --latency`` on ``GET /whoami`` (a JSON view, no database), after a 2 s warm-up;
   ``--rounds`` rounds, the order of the three alternating. CPU over each run from psutil: each app host's
   whole tandem process tree (supervisor, Gunicorn, Daphne), the edge's (tandem, nginx), Redis, and the
   machine's total, in % of one core (200% = both cores of this box); "rest" is wrk, this script and
   whatever else runs on the machine.
2. **Broadcast fan-out**: ``tandem.bench.fanout.fanout_load`` (what ``tandem bench --fanout-path`` runs):
   ``--clients`` listeners join a fresh room of the example chat (``ws/chat/<room>/``) through the edge, which
   spreads them with least_conn, one logged-in poster posts ``--messages`` messages (after 2 warm-ups), and
   each is timed from the send until the last listener got it. Through the 3-host edge and the 1-host edge,
   order alternating over ``--fanout-rounds``. The clients live in this process, in one event loop; the
   WebSockets each host holds are read inside its namespace (``ss``) while they are connected.

Everything shares this machine's cores: more hosts cannot mean more throughput here, the figures show what the
layout costs and how the load spreads, not what separate machines would do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the tests package: the multi-host layout is built by its own helpers

import psutil  # noqa: E402

from tandem.bench import fanout as fanout_module  # noqa: E402
from tandem.bench.facts import machine_facts, versions  # noqa: E402
from tandem.bench.fanout import WARMUP_MESSAGES, fanout_load  # noqa: E402
from tandem.bench.http_load import WrkOutput, run_wrk  # noqa: E402
from tests.conftest import (  # noqa: E402
    EXAMPLE,
    PASSWORD,
    Tandem,
    TandemRunner,
    create_user,
    example_env,
    stop_process,
)
from tests.integration.chatload import login  # noqa: E402
from tests.multihost.conftest import Net, make_net  # noqa: E402
from tests.multihost.test_hosts import Site, start_site, status, websocket_clients  # noqa: E402

LABELS = ("a1", "a2", "a3")
BENCH_USER = "bench-poster"


# --- CPU over a span: per process tree, and the machine ---------------------------------------------------


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of a process and its descendants, by pid."""
    seen: dict[int, float] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                seen[proc.pid] = times.user + times.system
    return seen


@dataclass
class CpuSpan:
    """CPU % of one core, per named process tree and for the whole machine, between start() and stop()."""

    trees: dict[str, int]  # name -> root pid
    clients: bool = False  # also this process alone (the WebSocket clients), as "clients"
    before: dict[str, dict[int, float]] = field(default_factory=dict)
    clients_before: float = 0.0
    machine_before: Any = None
    started: float = 0.0
    percent: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def start(self) -> None:
        self.before = {name: tree_cpu(pid) for name, pid in self.trees.items()}
        self.machine_before = psutil.cpu_times()
        self.clients_before = sum(psutil.Process().cpu_times()[:2])
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.started, 1e-6)
        machine = psutil.cpu_times()
        for name, pid in self.trees.items():
            after, before = tree_cpu(pid), self.before[name]
            # A process that left during the span is not counted; one born during it counts from zero.
            used = sum(seconds - before.get(p, 0.0) for p, seconds in after.items())
            self.percent[name] = 100 * used / wall
        if self.clients:
            self.percent["clients"] = (
                100 * (sum(psutil.Process().cpu_times()[:2]) - self.clients_before) / wall
            )
        self.seconds = wall
        idle = (machine.idle + machine.iowait) - (self.machine_before.idle + self.machine_before.iowait)
        total = sum(machine) - sum(self.machine_before)
        cores = psutil.cpu_count() or 1
        self.percent["machine"] = 100 * cores * (1 - idle / total) if total > 0 else 0.0
        self.percent["rest"] = self.percent["machine"] - sum(
            v for k, v in self.percent.items() if k not in ("machine", "rest")
        )
        return self.percent


# --- the site ---------------------------------------------------------------------------------------------


def prepare_project(root: Path) -> Path:
    """The example project, migrated and with static files collected (the edge serves them), in ``root``."""
    target = root / "project"
    shutil.copytree(
        EXAMPLE, target, ignore=shutil.ignore_patterns("db.sqlite3*", "media", "staticfiles", "__pycache__")
    )
    env = example_env(target)
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=target, env=env, check=True, timeout=180)
    # nginx's workers run as www-data: they pass through to STATIC_ROOT as on a real host.
    for step in (target, root):
        step.chmod(step.stat().st_mode | 0o011)
    return target


def start_edge(site: Site, runner: TandemRunner, labels: tuple[str, ...]) -> Tandem:
    upstreams = [arg for label in labels for arg in ("--upstream", site.hosts[label].address)]
    return runner.serve(
        site.project, "--role", "edge", "--mode", "split", *upstreams, "--edge-secret", site.secret,
        env=example_env(site.project),
    )  # fmt: skip


def check_before_sending(net: Net, site: Site, edge: Tandem, labels: tuple[str, ...]) -> None:
    """Nothing is sent unless every namespace, address and route is there, the edge is this script's own
    listener on loopback, and it reports exactly the app hosts it was given, each answering."""
    net.assert_ready()
    if not edge.url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"the edge is not on loopback: {edge.url}")
    hosts = {h["host"]: h["answers"] for h in status(edge)["hosts"]}
    wanted = {site.hosts[label].address for label in labels}
    if set(hosts) != wanted or not all(hosts.values()):
        raise RuntimeError(
            f"edge for {labels}: tandem status shows {hosts}, expected {sorted(wanted)} answering"
        )


# --- 1. HTTP ----------------------------------------------------------------------------------------------


@dataclass
class HttpRun:
    hosts: int
    round: int
    out: WrkOutput
    cpu: dict[str, float]


def measure_http(
    net: Net, site: Site, edges: dict[int, Tandem], wrk: str, args: argparse.Namespace
) -> list[HttpRun]:
    runs: list[HttpRun] = []
    counts = sorted(edges)
    for rnd in range(args.rounds):
        for n in counts if rnd % 2 == 0 else counts[::-1]:
            labels = LABELS[:n]
            edge = edges[n]
            check_before_sending(net, site, edge, labels)
            url = edge.url.rstrip("/") + "/whoami"
            with contextlib.suppress(RuntimeError, ValueError, subprocess.TimeoutExpired):
                run_wrk(wrk, url, duration=2, connections=args.connections, threads=1)  # warm-up
            trees = {label: site.apps[label].proc.pid for label in labels}
            trees.update({"edge": edge.proc.pid, "redis": site.redis.pid})
            span = CpuSpan(trees)
            span.start()
            out = run_wrk(wrk, url, duration=args.duration, connections=args.connections, threads=1)
            cpu = span.stop()
            runs.append(HttpRun(n, rnd, out, cpu))
            print(
                f"  HTTP, {n} app host(s), round {rnd + 1}: {out.requests_per_s:,.0f} req/s, "
                f"p50 {out.p50_ms} ms, p99 {out.p99_ms} ms, errors {out.errors}; CPU % "
                + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()),
                flush=True,
            )
    return runs


# --- 2. fan-out -------------------------------------------------------------------------------------------


@dataclass
class FanoutRun:
    hosts: int
    round: int
    result: dict[str, Any]
    per_host: dict[str, int]  # WebSockets each host held, at the sample where the room was largest
    cpu: dict[str, float]  # over the whole run, joins included
    seconds: float
    full: CpuSpan | None  # over the posts (warm-ups included), until the last was received
    quiet: float | None  # seconds from the end of the joins to the first post (presence settling)


async def _fanout_with_census(
    site: Site, url: str, origin: str, cookie: str, args: argparse.Namespace, trees: dict[str, int]
) -> tuple[dict[str, Any], dict[str, int], CpuSpan | None, float | None]:
    """fanout_load, while a bounded sampler reads each host's WebSocket count (ss, in its namespace) once a
    second. CPU is measured over the posts alone: from the first (a warm-up) until the last was received
    by every listener or timed out, through a wrapper around fanout's ``_post`` that is put back after.
    Also returned: seconds from the end of the joins to the first post, the quiet wait fanout_load makes
    until the room's presence broadcasts have settled."""
    best: dict[str, int] = {}
    done = asyncio.Event()
    posts = CpuSpan(trees, clients=True)
    state = {"posted": 0, "first_post": 0.0}
    real_post = fanout_module._post

    async def timed_post(*post_args: Any, **kwargs: Any) -> float | None:
        if state["posted"] == 0:
            state["first_post"] = time.monotonic()
            posts.start()
        try:
            return await real_post(*post_args, **kwargs)
        finally:
            state["posted"] += 1
            if state["posted"] == WARMUP_MESSAGES + args.messages:
                posts.stop()

    async def census() -> None:
        deadline = time.monotonic() + args.time_bound + 300
        while not done.is_set() and time.monotonic() < deadline:
            counts = await asyncio.gather(
                *(asyncio.to_thread(websocket_clients, site.hosts[label]) for label in LABELS)
            )
            if sum(counts) > sum(best.values()):
                best.clear()
                best.update(zip(LABELS, counts, strict=True))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1.0)

    sampler = asyncio.create_task(census())
    started = time.monotonic()
    fanout_module._post = timed_post
    try:
        result: dict[str, Any] = await fanout_load(
            url, origin, cookie, clients=args.clients, messages=args.messages,
            time_bound=args.time_bound, message_timeout=args.message_timeout,
        )  # fmt: skip
    finally:
        fanout_module._post = real_post
        done.set()
        await sampler
    complete = state["posted"] == WARMUP_MESSAGES + args.messages
    quiet = state["first_post"] - (started + float(result["connect_s"])) if state["posted"] else None
    return result, best, posts if complete else None, quiet


def measure_fanout(
    net: Net, site: Site, edges: dict[int, Tandem], session: str, args: argparse.Namespace
) -> list[FanoutRun]:
    runs: list[FanoutRun] = []
    counts = [3, 1]
    for rnd in range(args.fanout_rounds):
        for n in counts if rnd % 2 == 0 else counts[::-1]:
            labels = LABELS[:n]
            edge = edges[n]
            check_before_sending(net, site, edge, labels)
            base = edge.url.rstrip("/")
            room = f"fanout-{n}h-{rnd}-{os.getpid()}"
            url = base.replace("http://", "ws://", 1) + f"/ws/chat/{room}/"
            trees = {label: site.apps[label].proc.pid for label in LABELS}
            trees.update({"edge": edge.proc.pid, "redis": site.redis.pid})
            span = CpuSpan(trees)
            span.start()
            started = time.monotonic()
            result, per_host, full, quiet = asyncio.run(
                _fanout_with_census(site, url, base, f"sessionid={session}", args, trees)
            )
            cpu = span.stop()
            runs.append(FanoutRun(n, rnd, result, per_host, cpu, time.monotonic() - started, full, quiet))
            print(
                f"  fan-out, {n} app host(s), round {rnd + 1}: {result['connected']} listeners {per_host}, "
                f"last receipt p50 {_num(result['last_p50_ms'])} ms, p99 {_num(result['last_p99_ms'])} ms, "
                f"missing {result['missing']}, join failures {result['join_failures']} "
                f"({time.monotonic() - started:.0f} s; joins {result['connect_s']:.0f} s, then quiet after "
                f"{_num(quiet, 1)} s); CPU % during the posts: "
                + (", ".join(f"{k} {v:.0f}" for k, v in full.percent.items()) if full else "not measured"),
                flush=True,
            )
            time.sleep(3)  # wait-ok: the closed room's leave broadcasts settle before the next room fills
    return runs


# --- report -----------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: list[float]) -> str:
    return f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""


def site_cpu(cpu: dict[str, float]) -> float:
    """The app hosts, the edge and Redis together."""
    return sum(v for k, v in cpu.items() if k not in ("machine", "rest", "clients"))


def http_table(runs: list[HttpRun]) -> list[str]:
    lines = [
        "| app hosts | req/s | p50 / p99 ms | errors | CPU % per app host | edge (nginx) | Redis | site total "
        "| machine | rest | site CPU ms per request |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({r.hosts for r in runs}):
        mine = [r for r in runs if r.hosts == n]
        rates = [r.out.requests_per_s for r in mine]

        def cpu(key: str, mine: list[HttpRun] = mine) -> str:
            return _num(_med([r.cpu[key] for r in mine]))

        p50 = _med([r.out.p50_ms for r in mine if r.out.p50_ms is not None])
        p99 = _med([r.out.p99_ms for r in mine if r.out.p99_ms is not None])
        per_host = " / ".join(f"{label} {cpu(label)}" for label in LABELS[:n])
        lines.append(
            f"| {n} | **{_num(_med(rates))}**{_spread(rates)} | {_num(p50, 1)} / {_num(p99, 1)} | "
            f"{sum(r.out.errors for r in mine)} | {per_host} | {cpu('edge')} | {cpu('redis')} | "
            f"{_num(_med([site_cpu(r.cpu) for r in mine]))} | {cpu('machine')} | {cpu('rest')} | "
            f"{_num(_med([site_cpu(r.cpu) * 10 / r.out.requests_per_s for r in mine if r.out.requests_per_s]), 2)} |"
        )
    return lines


def fanout_table(runs: list[FanoutRun]) -> list[str]:
    lines = [
        "| app hosts | listeners (per host) | last receipt p50 ms | last receipt p99 ms | each receipt p50 ms | "
        "broadcasts complete | receipts missing | join failures | joins / quiet after, s | CPU % during the posts: "
        "per app host | edge | clients | machine | site CPU ms per broadcast |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in sorted(runs, key=lambda r: (-r.hosts, r.round)):
        res = run.result
        spread = ", ".join(f"{k} {v}" for k, v in run.per_host.items())
        full = run.full.percent if run.full else {}

        def pc(key: str, full: dict[str, float] = full) -> str:
            return _num(full.get(key))

        cpu = " / ".join(f"{label} {pc(label)}" for label in LABELS)
        per_broadcast = (
            site_cpu(full) / 100 * run.full.seconds * 1000 / (res["messages"] + WARMUP_MESSAGES)
            if run.full
            else None
        )
        lines.append(
            f"| {run.hosts} | {res['connected']} ({spread}) | {_num(res['last_p50_ms'])} | "
            f"**{_num(res['last_p99_ms'])}** | {_num(res['each_p50_ms'])} | "
            f"{res['complete']} of {res['messages']} | {res['missing']} | {res['join_failures']} | "
            f"{float(res['connect_s']):.0f} / {_num(run.quiet, 1)} | {cpu} | "
            f"{pc('edge')} | {pc('clients')} | {pc('machine')} | {_num(per_broadcast)} |"
        )
    return lines


def short_version(text: str) -> str:
    """nginx's, wrk's and redis-server's version lines, down to the version."""
    for marker in ("nginx/", "wrk debian/", "wrk ", "v="):
        if marker in text:
            return text.split(marker, 1)[1].split()[0]
    return text


def write_report(
    path: Path,
    args: argparse.Namespace,
    http: list[HttpRun],
    fanout: list[FanoutRun],
    facts: dict[str, Any],
    load_after: list[float],
    seconds: float,
    notes: list[str],
) -> None:
    vers = facts["versions"]
    machine = facts["machine"]
    command = "sudo .venv/bin/python docs/bench/multihost.py " + " ".join(args.argv)
    text = [
        f"# Several hosts on one machine: the example behind an edge, {args.date}",
        "",
        f"Command: `{command.strip()}` ({seconds:.0f} s), script: [`multihost.py`](multihost.py).",
        "",
        "**Read this first.** One 2-core box: the three app hosts are network namespaces of the same machine "
        "(Redis in a fourth, the edge and the load generator in the root namespace), so every host, the edge, "
        "wrk and the WebSocket clients share the same two cores. More hosts cannot mean more throughput here; "
        "the figures show what the layout costs and how the load spreads over the hosts, and the CPU columns "
        "show where the cores went. Other engineers ran tests on the machine during this run (load average "
        f"{machine['load_average_at_start']} at the start, {load_after} at the end), so the absolute figures "
        "are noisy; the *rest* column is CPU used by neither the site nor Redis (wrk, the clients, everyone "
        "else).",
        "",
        f"Machine: {machine['cores']} vCPU ({machine['cpu']}), {machine['memory_mb'] // 1024} GiB, "
        f"{machine['os']}, Python {machine['python']}. Versions: "
        + ", ".join(f"{k} {short_version(v)}" for k, v in vers.items() if v)
        + ".",
        "",
        "Layout: `tandem serve --role app --mode split --workers 2 --procs 1 --channel-layer redis://REDIS:6379/0` "
        "on each app host (Gunicorn with 2 workers, one Daphne), `tandem serve --role edge --mode split "
        "--upstream …` in the root namespace, access logs on (tandem's default) on every host and the edge; "
        "the example project with SQLite on the shared disk.",
        "",
        f"## HTTP through the edge: `wrk -t1 -c{args.connections} -d{args.duration}s` on `GET /whoami`",
        "",
        f"Median of {args.rounds} round(s) (min-max), the order of the three edges alternating; each run after "
        "a 2 s warm-up. CPU in % of one core over the run (200 = the whole machine): each app host's tandem "
        "process tree, the edge's (tandem + nginx), Redis, the three together (*site total*), the machine's "
        "total, and the rest; *site CPU ms per request* is the site's CPU over the run divided by the "
        "requests answered, the figure another process's load on the box moves least.",
        "",
        *http_table(http),
        "",
        f"## Broadcast fan-out to {args.clients:,} WebSocket clients",
        "",
        f"`tandem.bench.fanout.fanout_load`, as `tandem bench --fanout-path /ws/chat/{{room}}/`: {args.clients:,} "
        "listeners join a fresh room through the edge (least_conn spreads them over its hosts), a logged-in "
        f"poster, also through the edge, sends {args.messages} chat messages (after {WARMUP_MESSAGES} "
        "warm-ups); a message's time is from its send until the last listener got it (p50/p99 over the "
        "messages); *each receipt* is over every listener's receipts. All clients in this one Python "
        f"process, one event loop: reading {args.clients:,} frames per message is part of the figure. Listeners "
        "per host were read with `ss` inside each host's namespace while the room was full (the poster's "
        "socket is one of them). *joins / quiet after*: seconds until every listener had joined, then until "
        "the room had been silent for half a second (the presence broadcasts of the joins settled) and the "
        f"first post went out. CPU is measured over the posts alone ({WARMUP_MESSAGES} warm-ups included, from "
        "the first send until the last message was received by every listener): each app host's tree, the "
        "edge, *clients* (this script's process) and the machine, in % of one core; *site CPU ms per "
        "broadcast* is the app hosts', the edge's and Redis's CPU over that span divided by the posts, the "
        "figure another process's load on the box moves least.",
        "",
        *fanout_table(fanout),
        "",
    ]
    if notes:
        text += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    path.write_text("\n".join(text))


def print_summary(http: list[HttpRun], fanout: list[FanoutRun]) -> None:
    print("\nHTTP through the edge (median req/s; CPU % of one core: app hosts, edge, machine)")
    print(
        f"{'hosts':>5} {'req/s':>9} {'p99 ms':>8} {'errors':>7}  {'CPU per app host':30} {'edge':>5} {'machine':>8}"
    )
    for n in sorted({r.hosts for r in http}):
        mine = [r for r in http if r.hosts == n]
        hosts = " ".join(f"{lb}={_num(_med([r.cpu[lb] for r in mine]))}" for lb in LABELS[:n])
        print(
            f"{n:>5} {_num(_med([r.out.requests_per_s for r in mine])):>9} "
            f"{_num(_med([r.out.p99_ms for r in mine if r.out.p99_ms is not None]), 1):>8} "
            f"{sum(r.out.errors for r in mine):>7}  {hosts:30} "
            f"{_num(_med([r.cpu['edge'] for r in mine])):>5} {_num(_med([r.cpu['machine'] for r in mine])):>8}"
        )
    print("\nFan-out (time from the send until the last listener got it)")
    print(f"{'hosts':>5} {'listeners':>9} {'per host':28} {'p50 ms':>8} {'p99 ms':>8} {'missing':>8}")
    for run in sorted(fanout, key=lambda r: (-r.hosts, r.round)):
        res = run.result
        print(
            f"{run.hosts:>5} {res['connected']:>9} {run.per_host!s:28} {_num(res['last_p50_ms']):>8} "
            f"{_num(res['last_p99_ms']):>8} {res['missing']:>8}"
        )


# --- main -------------------------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    """This process holds the clients; the app hosts and the edge, started from it, inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if min(target, hard) < needed:
        raise SystemExit(f"the fd limit ({hard}) is below the {needed} this run needs; lower --clients")


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: processes, then namespaces


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="HTTP rounds over the three edges (1-5)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (1-30)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (1-256)")
    parser.add_argument("--clients", type=int, default=1000, help="fan-out listeners (1-3000)")
    parser.add_argument("--messages", type=int, default=15, help="timed broadcasts per fan-out run (1-50)")
    parser.add_argument("--fanout-rounds", type=int, default=1, help="fan-out rounds, 3 hosts then 1 (0-3)")
    parser.add_argument("--time-bound", type=float, default=150.0, help="seconds for one room's joins")
    parser.add_argument("--message-timeout", type=float, default=20.0, help="seconds for one broadcast")
    parser.add_argument("--out", type=Path, help="the report (default: docs/bench/<date>-multihost.md)")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    bounded = (
        1 <= args.rounds <= 5 and 1 <= args.duration <= 30 and 1 <= args.connections <= 256
        and 1 <= args.clients <= 3000 and 1 <= args.messages <= 50 and 0 <= args.fanout_rounds <= 3
        and 1 <= args.time_bound <= 300 and 1 <= args.message_timeout <= 60
    )  # fmt: skip
    if not bounded:
        parser.error("bounded: rounds 1-5, duration 1-30, connections 1-256, clients 1-3000, messages 1-50, "
                     "fanout-rounds 0-3, time-bound 1-300, message-timeout 1-60")  # fmt: skip
    if os.geteuid() != 0:
        print(
            "docs/bench/multihost.py creates network namespaces and veth pairs: run it as root.",
            file=sys.stderr,
        )
        return 2
    missing = [p for p in ("ip", "ss", "wrk", "redis-server", "nginx") if shutil.which(p) is None]
    if missing:
        print(f"missing programs: {', '.join(missing)} (apt-get install iproute2 wrk redis-server nginx-light)",
              file=sys.stderr)  # fmt: skip
        return 2
    wrk = shutil.which("wrk")
    assert wrk is not None
    raise_fd_limit(2 * args.clients + 512)
    args.date = datetime.date.today().isoformat()
    out = args.out or REPO / "docs" / "bench" / f"{args.date}-multihost.md"
    facts = {
        "machine": machine_facts(),
        "versions": versions(nginx=shutil.which("nginx"), wrk=wrk, redis=shutil.which("redis-server")),
    }
    facts["machine"]["platform"] = platform.platform()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    started = time.monotonic()
    notes: list[str] = []
    runner = TandemRunner()
    http: list[HttpRun] = []
    fanout: list[FanoutRun] = []
    site: Site | None = None
    with tempfile.TemporaryDirectory(prefix="tandem-multihost-bench-") as tmp:
        print("preparing the example project (migrate, collectstatic) ...", flush=True)
        project = prepare_project(Path(tmp))
        create_user(project, BENCH_USER, PASSWORD)
        with make_net() as net:  # removes every namespace, veth and the bridge on the way out
            site_gen = cast(Generator[Site, None, None], start_site(net, project, runner))
            try:
                print(f"starting Redis and 3 app hosts in namespaces on {net.subnet}.0/24, and 3 edges ...",
                      flush=True)  # fmt: skip
                site = next(site_gen)  # its edge has all three hosts
                edges: dict[int, Tandem] = {3: site.edge}
                for n in (1, 2):
                    edges[n] = start_edge(site, runner, LABELS[:n])
                for n, edge in edges.items():
                    check_before_sending(net, site, edge, LABELS[:n])
                print(f"ready after {time.monotonic() - started:.0f} s; edges: "
                      + ", ".join(f"{n} host(s) {e.url}" for n, e in sorted(edges.items())), flush=True)  # fmt: skip
                print("1. HTTP through the edge", flush=True)
                http = measure_http(net, site, edges, wrk, args)
                if args.fanout_rounds:
                    print(f"2. fan-out to {args.clients} clients", flush=True)
                    check_before_sending(net, site, edges[3], LABELS)
                    session = login(edges[3].url, BENCH_USER, PASSWORD)
                    fanout = measure_fanout(net, site, edges, session, args)
            finally:
                for run in runner.runs:  # the edges and app hosts, by their pids, before their namespaces go
                    run.cleanup()
                with contextlib.suppress(Exception):
                    site_gen.close()  # start_site's own finally: Redis
                if site is not None and site.redis.poll() is None:
                    stop_process(site.redis)
    load_after = [round(x, 2) for x in os.getloadavg()]
    seconds = time.monotonic() - started
    print_summary(http, fanout)
    errors = sum(r.out.errors for r in http)
    if errors:
        notes.append(f"{errors} HTTP answers were errors or not 2xx (wrk's count); see the table.")
    write_report(out, args, http, fanout, facts, load_after, seconds, notes)
    print(f"\nwrote {out} ({seconds:.0f} s; load average at the end {load_after})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
