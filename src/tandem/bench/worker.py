"""The load-generator process: ``python -m tandem.bench.worker``, one job per run.

The job arrives as one JSON line on stdin (not argv: the fan-out job carries a session cookie), the
result leaves as one JSON line on stdout: ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error":
"..."}``. Running load in its own process keeps the CLI's progress display and the figures apart, and lets
the runner bound it with a timeout and kill it. The ``conns`` job talks in steps so the runner can read
Daphne's memory in between: it prints ``{"warmed": N}`` and waits for a line, then opens its connections,
prints ``{"holding": N}`` and keeps them until another line arrives (or ``hold_timeout`` passes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from tandem.bench.fanout import fanout_load
from tandem.bench.http_load import python_load
from tandem.bench.ws_load import close_all, describe, echo_load, open_count, open_many


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: thousands of sockets are the point of some jobs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


class Commands:
    """Lines the runner writes to stdin after the job, read by one daemon thread for the whole job.

    A daemon thread, not an executor: a thread blocked in readline() must not hold up asyncio.run()'s
    shutdown when the runner never writes.
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()

        def read() -> None:
            for line in sys.stdin:
                self._put(loop, line.strip())
            self._put(loop, None)

        threading.Thread(target=read, daemon=True).start()

    def _put(self, loop: asyncio.AbstractEventLoop, line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone already
            loop.call_soon_threadsafe(self.lines.put_nowait, line)

    async def wait(self, seconds: float) -> None:
        """Until the runner writes a line or closes stdin, at most ``seconds``."""
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self.lines.get(), seconds)


async def conns_job(job: dict[str, Any]) -> dict[str, Any]:
    """Warm up with a few connections (first-use imports and caches are not per-connection memory), say
    so and wait; then open the connections, say how many are open and hold them until released."""
    commands = Commands()
    hold = float(job.get("hold_timeout", 60))
    url, origin = job["url"], job["origin"]
    warm = await open_many(
        url, origin, int(job.get("warm", 20)), concurrency=20, time_bound=30, max_failures=20
    )
    await close_all(warm.conns)
    emit({"warmed": len(warm.conns)})
    await commands.wait(hold)
    opened = await open_many(
        url,
        origin,
        int(job["count"]),
        concurrency=int(job.get("concurrency", 64)),
        time_bound=float(job["time_bound"]),
        max_failures=int(job.get("max_failures", 50)),
    )
    try:
        reached = open_count(opened.conns)
        emit({"holding": reached})
        await commands.wait(hold)
        still_open = open_count(opened.conns)
    finally:
        await close_all(opened.conns)
    return {
        "reached": reached,
        "still_open": still_open,
        "failures": opened.failures,
        "seconds": opened.seconds,
        "stopped_because": opened.stopped_because,
        "first_error": opened.first_error,
    }


def _jobs() -> dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]]:
    async def http(job: dict[str, Any]) -> dict[str, Any]:
        return await python_load(
            job["url"], duration=job["duration"], warmup=job["warmup"], connections=job["connections"],
            cafile=job.get("cafile"),
        )  # fmt: skip

    async def echo(job: dict[str, Any]) -> dict[str, Any]:
        return await echo_load(
            job["url"], job["origin"], clients=job["clients"], duration=job["duration"], warmup=job["warmup"],
            cafile=job.get("cafile"),
        )  # fmt: skip

    async def fanout(job: dict[str, Any]) -> dict[str, Any]:
        return await fanout_load(
            job["url"],
            job["origin"],
            job["cookie"],
            clients=job["clients"],
            messages=job["messages"],
            time_bound=job["time_bound"],
            message_timeout=job["message_timeout"],
        )

    return {"http": http, "echo": echo, "fanout": fanout, "conns": conns_job}


def main() -> None:
    try:
        job = json.loads(sys.stdin.readline())
        run = _jobs()[job["kind"]]
        job["fd_limit"] = raise_fd_limit()
        result: dict[str, Any] = asyncio.run(run(job))
    except Exception as exc:
        emit({"ok": False, "error": describe(exc)})
        return
    result["fd_limit"] = job["fd_limit"]
    emit({"ok": True, "result": result})


if __name__ == "__main__":
    main()
