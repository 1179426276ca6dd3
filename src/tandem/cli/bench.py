"""bench."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from tandem.cli.base import handle_errors, main, options_for


@main.command()
@options_for("bench")
@click.option("--modes", default="unified,split", show_default=True, help="Topologies to measure.")
@click.option(
    "--variants",
    help="Only these variants (comma-separated): unified-1, unified-1-log, unified-n, unified-1-redis, "
    "split-unix, split-unix-log, split-caddy, split-tcp, split-redis; split-tls, split-caddy-tls (split-unix "
    "and split-caddy over https and wss, for what TLS costs; with --tls or --tls-cert/--tls-key, which add "
    "them); the server options (see --servers); handbuilt-split (Gunicorn, Daphne and nginx started by hand "
    "as the Channels docs do, for the ratio; only when named). Default: the first nine, within --modes.",
)
@click.option(
    "--servers",
    is_flag=True,
    help="Also run the other app servers tandem supports, next to Gunicorn + Daphne: split-granian, "
    "split-granian-tcp (Granian also reached directly, for the ratio without nginx against split-tcp), "
    "split-gunicorn-asgi, split-uvicorn, unified-uvicorn, unified-gunicorn-asgi (skipped when the "
    "server's package is not installed).",
)
@click.option(
    "--duration", type=float, default=10.0, show_default=True, help="Seconds per HTTP/echo measurement."
)
@click.option(
    "--warmup", type=float, default=2.0, show_default=True, help="Seconds of unrecorded load before each."
)
@click.option(
    "--http-path",
    help="HTTP path to load. Default: the first of the project's GET routes that answers 2xx ('/' first).",
)
@click.option(
    "--ws-path",
    help="WebSocket route that echoes every text frame. Default: the first route whose consumer or path "
    "says echo; else the echo and connection figures are skipped.",
)
@click.option(
    "--fanout-path",
    help="Route speaking the fan-out protocol (README, Benchmarks); {room} is replaced. Without it there "
    "is no fan-out figure.",
)
@click.option(
    "--repeat",
    type=int,
    default=3,
    show_default=True,
    help="Runs of each HTTP and echo measurement; the median is reported with min-max.",
)
@click.option("--connections", type=int, default=32, show_default=True, help="HTTP connections (wrk -c).")
@click.option("--clients", type=int, default=32, show_default=True, help="WebSocket echo clients.")
@click.option("--fanout", default="100,1000", show_default=True, help="Clients in the room, per fan-out run.")
@click.option(
    "--fanout-messages", type=int, default=20, show_default=True, help="Messages posted per fan-out run."
)
@click.option(
    "--max-conns", type=int, default=8000, show_default=True, help="Idle WebSockets to open (0: skip)."
)
@click.option(
    "--conns-timeout", type=float, default=60.0, show_default=True, help="Seconds allowed to open them."
)
@click.option(
    "--http-tool",
    type=click.Choice(["auto", "wrk", "python"]),
    default="auto",
    show_default=True,
    help="auto: wrk when installed, else the (labelled) Python fallback.",
)
@click.option(
    "--ready-timeout",
    type=float,
    default=90.0,
    show_default=True,
    help="Seconds each topology gets to start.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write every figure here."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report here.",
)
@handle_errors
def bench(**options: Any) -> None:
    """Start each topology for real on this project, measure it, and recommend one."""
    from tandem.bench.main import bench as run_bench

    sys.exit(run_bench(options, os.environ, ["tandem", *sys.argv[1:]]))
