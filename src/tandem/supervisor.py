"""Runs a Plan: start every process, wait until each answers its probe, restart what dies, stop cleanly.

Signal handlers only enqueue; the loop dispatches events to ``handle_<kind>`` methods. A process is
ready when it answers its probe, not when its pid exists. A process that never became ready at start
halts everything (no respawn loop); one that keeps dying after start is declared flapping.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from tandem.errors import BootError, RuntimeFailure
from tandem.events import Event, Kind
from tandem.plan import Plan, ProcessSpec
from tandem.policy import RestartPolicy
from tandem.probes import http_status

# How each server stops gracefully: Gunicorn and Daphne finish in-flight work on TERM; nginx on QUIT.
STOP_SIGNALS = {"gunicorn": signal.SIGTERM, "daphne": signal.SIGTERM, "nginx": signal.SIGQUIT}
LAST_LINES = 40

Spawn = Callable[..., "subprocess.Popen[bytes]"]


@dataclass
class Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    state: str = "new"  # new | starting | ready | backoff | stopping | exited
    started_at: float = 0.0
    ready_at: float = 0.0
    restarts: int = 0
    exits: list[float] = field(default_factory=list)
    last_lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=LAST_LINES))
    restart_at: float | None = None
    generation: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(
        self,
        plan: Plan,
        *,
        listeners: tuple[Callable[[Event], None], ...] = (),
        ready_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn = subprocess.Popen,
        on_ready: Callable[[Plan], None] | None = None,
    ) -> None:
        self.plan = plan
        self.listeners = listeners
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.spawn = spawn
        self.on_ready = on_ready
        self.events: queue.Queue[Event] = queue.Queue()
        self.children = [Child(spec) for spec in plan.processes]
        self.booted = False
        self.stopping = False
        self.force = False
        self.failure: Exception | None = None
        self.stop_deadline = 0.0

    # --- events ---------------------------------------------------------------------------------------

    def emit(self, kind: Kind, name: str = "", **values: Any) -> None:
        self.events.put(Event(kind=kind, name=name, at=self.clock(), **values))

    def say(self, line: str) -> None:
        self.emit(Kind.MESSAGE, line=line)

    def _signal_handler(self, signum: int, frame: FrameType | None) -> None:
        self.events.put(Event(kind=Kind.SIGNAL, code=signum, at=self.clock()))

    # --- process start ----------------------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        spec = child.spec
        child.generation += 1
        child.proc = self.spawn(
            list(spec.argv),
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=spec.inherited_fds,
            # Its own process group: a terminal's Ctrl-C reaches tandem only, which stops children in order,
            # and the whole group (Gunicorn workers, nginx workers) can be stopped by its pid.
            start_new_session=True,
        )
        child.state = "starting"
        child.started_at = self.clock()
        child.restart_at = None
        generation = child.generation
        proc = child.proc
        self.emit(Kind.STARTED, spec.name, pid=proc.pid)
        assert proc.stdout is not None
        threading.Thread(
            target=self._read_output, args=(spec.name, proc.pid, proc.stdout), daemon=True
        ).start()
        threading.Thread(target=self._wait_exit, args=(spec.name, proc), daemon=True).start()
        threading.Thread(target=self._wait_ready, args=(child, proc, generation), daemon=True).start()

    def _read_output(self, name: str, pid: int, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.emit(Kind.LINE, name, pid=pid, line=raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    def _wait_exit(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        self.emit(Kind.EXITED, name, pid=proc.pid, code=code)

    def _wait_ready(self, child: Child, proc: subprocess.Popen[bytes], generation: int) -> None:
        deadline = self.clock() + self.ready_timeout
        delay = 0.05
        while self.clock() < deadline and proc.poll() is None and child.generation == generation:
            if http_status(child.spec.probe, timeout=1.0) is not None:
                self.emit(Kind.READY, child.spec.name, pid=proc.pid)
                return
            # Polling, not sleeping blind: the wait is bounded by the deadline and ends at the first answer.
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        if proc.poll() is None and child.generation == generation:
            self.emit(Kind.NOT_READY, child.spec.name, pid=proc.pid)

    # --- the loop ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, serve until told to stop. Returns 0 on a requested stop; raises on failure."""
        previous = {sig: signal.signal(sig, self._signal_handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                self._start(child)
            while not (self.stopping and not any(c.running for c in self.children)):
                self._tick()
                with contextlib.suppress(queue.Empty):
                    self._dispatch(self.events.get(timeout=0.1))
            self._drain()
        finally:
            self._kill_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failure:
            raise self.failure
        return 0

    def _drain(self) -> None:
        """Deliver what is left on the queue (last output lines) to the listeners."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._dispatch(self.events.get_nowait())

    def _dispatch(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)
        handler = getattr(self, f"handle_{event.kind.value}", None)
        if handler is not None:
            handler(event)

    def _tick(self) -> None:
        now = self.clock()
        if self.stopping:
            if now >= self.stop_deadline and not self.force:
                self.say(f"graceful stop took longer than {self.stop_timeout:.0f} s: killing")
                self.force = True
                self._kill_all()
            return
        for child in self.children:
            if child.state == "backoff" and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)

    def child(self, name: str) -> Child | None:
        return next((c for c in self.children if c.spec.name == name), None)

    # --- handlers ---------------------------------------------------------------------------------------

    def handle_line(self, event: Event) -> None:
        child = self.child(event.name)
        if child is not None:
            child.last_lines.append(event.line)

    def handle_ready(self, event: Event) -> None:
        child = self.child(event.name)
        if child is None or child.pid != event.pid or self.stopping:
            return
        child.state = "ready"
        child.ready_at = event.at
        if not self.booted and all(c.state == "ready" for c in self.children):
            self.booted = True
            if self.on_ready:
                self.on_ready(self.plan)

    def handle_not_ready(self, event: Event) -> None:
        child = self.child(event.name)
        if child is None or child.pid != event.pid or self.stopping:
            return
        self._halt(
            BootError(
                f"{event.name} did not answer within {self.ready_timeout:.0f} s of starting",
                hint="see its output above",
                output=tuple(child.last_lines),
            )
        )

    def handle_exited(self, event: Event) -> None:
        child = self.child(event.name)
        if child is None or child.pid != event.pid:
            return
        child.state = "exited"
        if self.stopping:
            return
        now = event.at
        child.exits.append(now)
        code = event.code if event.code is not None else -1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        if not self.booted:
            self._halt(
                BootError(
                    f"{event.name} {how} while starting",
                    hint=f"its last output is above; fix it and run again (exit code {code})",
                    output=tuple(child.last_lines),
                )
            )
            return
        if self.policy.is_flapping(child.exits, now):
            self._halt(
                RuntimeFailure(
                    f"{event.name} {how}; it died {self.policy.recent(child.exits, now)} times in "
                    f"{self.policy.window:.0f} s, so tandem stops instead of restarting it again",
                    hint="its last output is above",
                )
            )
            return
        delay = self.policy.delay(child.exits, now)
        child.state = "backoff"
        child.restart_at = now + delay
        self.emit(Kind.RESTARTING, event.name, line=f"{event.name} {how}; restarting in {delay:.1f} s")

    def handle_signal(self, event: Event) -> None:
        signum = event.code or 0
        if self.stopping:
            if signum == signal.SIGINT and not self.force:
                self.say("second interrupt: stopping at once")
                self.force = True
                self._kill_all()
            return
        self.say(f"received {signal.Signals(signum).name}: stopping")
        self.stop()

    # --- stopping ---------------------------------------------------------------------------------------

    def _halt(self, failure: Exception) -> None:
        self.failure = failure
        self.stop()

    def stop(self) -> None:
        """Graceful stop: each child's own graceful signal, then KILL after ``stop_timeout``."""
        self.stopping = True
        self.stop_deadline = self.clock() + self.stop_timeout
        # nginx first, so no new request reaches an app server that is going away.
        for child in sorted(self.children, key=lambda c: c.spec.role != "nginx"):
            child.restart_at = None
            if child.running and child.proc is not None:
                child.state = "stopping"
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.proc.pid, STOP_SIGNALS.get(child.spec.role, signal.SIGTERM))

    def _kill_all(self) -> None:
        """KILL every process group we started that is still alive, and reap the leaders."""
        for child in self.children:
            if child.proc is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
