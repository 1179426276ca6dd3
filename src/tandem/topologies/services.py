"""Managed helpers that are ordinary Plan processes: redis-server as the embedded channel layer.

Like the managed nginx it lives in the private runtime directory: a unix socket only (no TCP port to
collide with or expose), no persistence (groups are transient by nature), probed with PING.
"""

from __future__ import annotations

from pathlib import Path

from tandem.layerchoice import MANAGED
from tandem.plan import Address, Context, Probe, ProcessSpec, Role

REDIS_SOCKET = "redis.sock"
REDIS_DIR = "redis"


def redis_address(runtime_dir: Path) -> Address:
    return Address(path=str(runtime_dir / REDIS_SOCKET))


def redis_url(runtime_dir: Path) -> str:
    return f"unix://{runtime_dir / REDIS_SOCKET}"


def needs_redis(ctx: Context) -> bool:
    return ctx.managed and ctx.layer is not None and ctx.layer.kind == MANAGED


def redis_process(ctx: Context) -> ProcessSpec:
    address = redis_address(ctx.runtime_dir)
    workdir = ctx.runtime_dir / REDIS_DIR
    argv = (
        ctx.redis_server,
        "--port", "0",  # no TCP listener at all
        "--unixsocket", str(address.path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", "",  # to stdout, which tandem prefixes with the process name
    )  # fmt: skip
    return ProcessSpec(
        name="redis",
        role=Role.REDIS,
        argv=argv,
        env=dict(ctx.environ),
        probe=Probe(address=address, path="", host_header="", protocol="redis"),
        cwd=str(workdir),
    )
