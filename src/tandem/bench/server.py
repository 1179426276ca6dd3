"""The processes a benchmark starts: one ``tandem serve`` per variant, and a private redis-server.

Every process is started in its own session and stopped by its pid: TERM, a bounded wait, then KILL, and
the run is only over once every descendant it had is gone, so variants never overlap.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

READY = re.compile(r"^Ready: (http://\S+)$")
RUNTIME_DIR = re.compile(r"runtime dir (\S+)\s*$")
ERROR = re.compile(r"^tandem: error: (.+)$")


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
        self.runtime_dir: str | None = None
        self.descendants: dict[int, psutil.Process] = {}
        self.output_ended = False
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            self.lines.append(line)
            if self.url is None and (match := READY.match(line)):
                self.url = match.group(1)
                self.ready_at = time.monotonic()
                self._ready.set()
            elif self.runtime_dir is None and (match := RUNTIME_DIR.search(line)):
                self.runtime_dir = match.group(1)
        self.output_ended = True
        self._ready.set()  # whoever waits learns it will never be ready

    def wait_ready(self, timeout: float) -> float:
        """Seconds from spawn to the Ready line. Raises StartFailed with the reason."""
        self._ready.wait(timeout)  # bounded: returns at Ready, at end of output, or at the timeout
        if self.url is None or self.ready_at is None:
            if not self.output_ended:
                raise StartFailed(f"no 'Ready:' line within {timeout:.0f} s")
            raise StartFailed(self.failure_reason())
        self.remember_descendants()
        return self.ready_at - self.started

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

    def _children_with(self, word: str) -> list[psutil.Process]:
        """Direct children of tandem whose command line names ``word`` (gunicorn, daphne)."""
        found = []
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children():
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    if any(word in part for part in child.cmdline()):
                        found.append(child)
        return found

    def listening_port(self, word: str) -> int | None:
        """The 127.0.0.1 port a child server listens on (split over TCP: Gunicorn's, Daphne's)."""
        for child in self._children_with(word):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                for conn in child.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.ip == "127.0.0.1":
                        return int(conn.laddr.port)
        return None

    def rss_kb(self, word: str = "daphne") -> int | None:
        """Total resident memory of the child servers named ``word`` and their own children."""
        total = 0
        processes = self._children_with(word)
        if not processes:
            return None
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                family = [process, *process.children(recursive=True)]
                for member in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += member.memory_info().rss
        return total // 1024

    def _cpu_seconds(self) -> float:
        total = 0.0
        for process in list(self.descendants.values()):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def wait_idle(self, *, below: float = 0.15, quiet: float = 0.5, bound: float = 30.0) -> bool:
        """Until the servers together use less than ``below`` of a core for ``quiet`` seconds, at most
        ``bound`` seconds. Measurements then start from idle servers instead of inheriting the tail of
        the previous one (a fan-out's disconnects, say). False when they were still busy at the bound."""
        self.remember_descendants()
        deadline = time.monotonic() + bound
        last_at, last_cpu = time.monotonic(), self._cpu_seconds()
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            time.sleep(0.2)  # wait-ok: sampling interval of a bounded wait
            now, cpu = time.monotonic(), self._cpu_seconds()
            busy = (cpu - last_cpu) / max(now - last_at, 1e-3)
            last_at, last_cpu = now, cpu
            if busy >= below:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet:
                return True
        return False

    def stop(self, timeout: float = 30.0) -> list[str]:
        """TERM, bounded wait, KILL; then wait until every descendant is gone. Returns what went wrong.

        Interrupted while waiting (a second Ctrl-C), it kills everything at once rather than leave it.
        """
        try:
            return self._stop(timeout)
        except KeyboardInterrupt:
            self.kill()
            raise

    def kill(self) -> None:
        self.remember_descendants()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for process in self.descendants.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def _stop(self, timeout: float) -> list[str]:
        problems: list[str] = []
        self.remember_descendants()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"tandem serve did not stop within {timeout:.0f} s of TERM: killed")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        alive = [p for p in self.descendants.values() if _alive(p)]
        _, alive = psutil.wait_procs(alive, timeout=10)
        for process in alive:
            problems.append(f"pid {process.pid} outlived tandem serve: killed")
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=5)
        return problems


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
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
