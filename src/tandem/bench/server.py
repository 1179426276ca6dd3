"""The processes a benchmark starts: one ``tandem serve`` per variant, and a private redis-server.

A variant's servers are known from its supervisor, asked through the control socket (the same ``status``
reply ``tandem status --json`` prints): readiness, the public URL, each process's pid and role, and the
upstreams the proxy forwards to. Nothing is parsed from human-readable output or matched on command lines.
Every process is started in its own session and stopped by its pid: TERM, a bounded wait, then KILL, and
the run is only over once every descendant it had is gone, so variants never overlap.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import psutil

from tandem.bench.processes import kill_processes, stop_processes
from tandem.status import Instance, NotRunning, instances, send

# Only to explain a start that failed: the one-line error tandem prints before exiting.
ERROR = re.compile(r"^tandem: error: (.+)$")
POLL = 0.1


class StartFailed(Exception):
    """A server did not reach Ready; the message says why in one line."""


class ServeRun:
    """A running ``tandem serve --port 0 ...`` with its output collected by a reader thread."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own session: a terminal's Ctrl-C reaches the bench, which stops this run in order.
            start_new_session=True,
        )
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.url: str | None = None
        self.ready_at: float | None = None
        self.instance: Instance | None = None
        self.status: dict[str, Any] = {}
        self.descendants: dict[int, psutil.Process] = {}
        self.output_ended = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Drained so the child never blocks on a full pipe; kept only to explain a failed start.
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.rstrip("\n"))
        self.output_ended = True

    def ask(self) -> dict[str, Any]:
        """The supervisor's status reply (state, url, processes, upstreams), through its control socket."""
        if self.instance is None:
            self.instance = next((i for i in instances() if i.pid == self.proc.pid), None)
            if self.instance is None:
                raise NotRunning(f"tandem serve (pid {self.proc.pid}) has not registered its control socket")
        reply = send(self.instance, "status", timeout=5)
        status: dict[str, Any] = reply.get("status") or {}
        return status

    def wait_ready(self, timeout: float) -> float:
        """Seconds from spawn until the supervisor reports every process ready. Raises StartFailed."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(self.failure_reason())
            try:
                status = self.ask()
            except NotRunning:
                status = {}
            if status.get("state") == "ready":
                self.ready_at = time.monotonic()
                self.status, self.url = status, str(status["url"])
                self.remember_descendants()
                return self.ready_at - self.started
            time.sleep(POLL)  # wait-ok: polling interval of a bounded wait
        raise StartFailed(f"not ready within {timeout:.0f} s (tandem status never said ready)")

    def failure_reason(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for line in reversed(self.lines):
            if match := ERROR.match(line):
                return match.group(1)
        tail = [line for line in self.lines if line.strip()][-1:]
        code = self.proc.returncode
        return f"exited with code {code}" + (f": {tail[0]}" if tail else "")

    def remember_descendants(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)

    def direct_url(self, role: str) -> str | None:
        """http://HOST:PORT/ of the app server the proxy forwards ``role`` traffic to, when it is TCP."""
        upstream = str((self.status.get("upstreams") or {}).get(role) or "")
        if not upstream or upstream.startswith("unix:"):
            return None
        return f"http://{upstream}/"

    def pids(self, role: str) -> list[int]:
        """The supervisor's processes in ``role`` (daphne, gunicorn, nginx), as it reports them now."""
        try:
            processes = self.ask().get("processes") or []
        except NotRunning:
            return []
        return [int(p["pid"]) for p in processes if p.get("role") == role and p.get("pid")]

    def rss_kb(self, role: str = "daphne") -> int | None:
        """Total resident memory of the supervisor's ``role`` processes and their own children."""
        total = 0
        processes = []
        for pid in self.pids(role):
            with contextlib.suppress(psutil.NoSuchProcess):
                processes.append(psutil.Process(pid))
        if not processes:
            return None
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                family = [process, *process.children(recursive=True)]
                for member in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += member.memory_info().rss
        return total // 1024

    def wait_idle(self, *, below: float = 0.15, quiet: float = 0.5, bound: float = 30.0) -> bool:
        """Until the servers together use less than ``below`` of a core for ``quiet`` seconds, at most
        ``bound`` seconds. Measurements then start from idle servers instead of inheriting the tail of
        the previous one (a fan-out's disconnects, say). False when they were still busy at the bound."""
        self.remember_descendants()
        return wait_idle(lambda: self.descendants.values(), below=below, quiet=quiet, bound=bound)

    def stop(self, timeout: float = 30.0) -> list[str]:
        """TERM, bounded wait, KILL; then wait until every descendant is gone. Returns what went wrong.

        Interrupted while waiting (a second Ctrl-C), it kills everything at once rather than leave it.
        """
        return stop_processes({"tandem serve": self.proc}, self._known, timeout, owner="tandem serve")

    def kill(self) -> None:
        kill_processes({"tandem serve": self.proc}, self._known())

    def _known(self) -> list[psutil.Process]:
        self.remember_descendants()
        return list(self.descendants.values())


class Servers(Protocol):
    """What a measurement needs of a variant's running servers (a ServeRun, or the hand-built stack)."""

    url: str | None

    def wait_idle(self, *, below: float = 0.15, quiet: float = 0.5, bound: float = 30.0) -> bool: ...
    def direct_url(self, role: str) -> str | None: ...
    def rss_kb(self, role: str = "daphne") -> int | None: ...


def cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in list(processes):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def wait_idle(
    processes: Callable[[], Iterable[psutil.Process]], *, below: float, quiet: float, bound: float
) -> bool:
    """Until ``processes()`` together use less than ``below`` of a core for ``quiet`` seconds, at most
    ``bound`` seconds; False when they were still busy at the bound."""
    deadline = time.monotonic() + bound
    last_at, last_cpu = time.monotonic(), cpu_seconds(processes())
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        time.sleep(0.2)  # wait-ok: sampling interval of a bounded wait
        now, cpu = time.monotonic(), cpu_seconds(processes())
        busy = (cpu - last_cpu) / max(now - last_at, 1e-3)
        last_at, last_cpu = now, cpu
        if busy >= below:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet:
            return True
    return False


class PrivateRedis:
    """A redis-server on a unix socket in a private directory: no TCP port, no persistence."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.socket = directory / "redis.sock"
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.socket.exists():
                return
            time.sleep(0.05)  # wait-ok: polling interval of a bounded wait
        raise StartFailed(
            "redis-server exited at start"
            if self.proc.poll() is not None
            else "redis-server socket never appeared"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def redis_binary() -> str | None:
    return shutil.which("redis-server")
