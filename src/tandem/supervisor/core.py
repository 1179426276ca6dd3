"""The Supervisor: runs a Plan — start every process, wait until each answers its probe, keep them alive,
reload, stop cleanly.

Signal handlers and helper threads only enqueue typed events; the loop dispatches each to a
``handle_<kind>`` method. A process is ready (and alive) when it answers its probe, not when its pid
exists. A process that never became ready at start halts everything (no respawn loop); one that keeps
dying after start is declared flapping and halts everything too. One module per concern: starting.py
(spawn, output, readiness, liveness), reload.py, stopping.py, control.py.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from types import FrameType

from tandem.children import Child, Liveness, State
from tandem.errors import BootError, RuntimeFailure
from tandem.events import Event, Kind
from tandem.plan import Plan
from tandem.policy import RestartPolicy
from tandem.sdnotify import DISABLED, Notifier
from tandem.supervisor.base import PrepareReload, Spawn
from tandem.supervisor.control import ControlMixin
from tandem.supervisor.reload import ReloadMixin
from tandem.supervisor.starting import StartMixin
from tandem.supervisor.stopping import StopMixin


class Supervisor(StartMixin, ReloadMixin, StopMixin, ControlMixin):
    def __init__(
        self,
        plan: Plan,
        *,
        listeners: tuple[Callable[[Event], None], ...] = (),
        ready_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        policy: RestartPolicy | None = None,
        liveness: Liveness | None = None,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn = subprocess.Popen,
        on_ready: Callable[[Plan], None] | None = None,
        prepare_reload: PrepareReload | None = None,
        output: Callable[[str, list[bytes]], None] | None = None,
        notify: Notifier | None = None,
    ) -> None:
        self.plan = plan
        self.listeners = listeners
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.policy = policy or RestartPolicy()
        self.liveness = liveness or Liveness()
        self.clock = clock
        self.spawn = spawn
        self.on_ready = on_ready
        self.prepare_reload = prepare_reload
        # Child output goes to ``output`` straight from the reader threads, never through the event queue:
        # a chatty child must not fill the queue the loop dispatches liveness, reloads and stops from.
        self.output = output
        self.notify = notify or DISABLED  # systemd Type=notify: reload and stop states (tandem.sdnotify)
        # A SimpleQueue: its put() is reentrant, so the signal handler below may run while the main thread
        # is inside events.get() holding a Queue's mutex. With queue.Queue that put() waited forever for
        # the mutex its own thread held: a SIGTERM that arrived at that instant hung tandem serve.
        self.events = queue.SimpleQueue()
        self.children = [Child(spec) for spec in plan.processes]
        self.booted = False
        self.stopping = False
        self.force = False
        self.failure = None
        self.stop_deadline = 0.0
        self.started = clock()
        self.reload_queue = []
        self.reloads = 0
        self.reloading = None
        self.last_reload = None
        self.generations = itertools.count(1)
        self._done = threading.Event()
        self.control_requests = queue.Queue()

    def _signal_handler(self, signum: int, frame: FrameType | None) -> None:
        self.events.put(Event(kind=Kind.SIGNAL, code=signum, at=self.clock()))

    # --- the loop ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, serve until told to stop. Returns 0 on a requested stop; raises on failure."""
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
        previous = {sig: signal.signal(sig, self._signal_handler) for sig in handled}
        monitor = threading.Thread(target=self._monitor, daemon=True)
        try:
            for child in self.children:
                self._start(child)
            monitor.start()
            while not (self.stopping and not any(c.running for c in self.children)):
                self._tick()
                with contextlib.suppress(queue.Empty):
                    self._dispatch(self.events.get(timeout=0.1))
            self._drain()
        finally:
            self._done.set()
            self._kill_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failure:
            raise self.failure
        return 0

    def _drain(self) -> None:
        """Deliver what is left on the queue (last messages) to the listeners."""
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
            self._stop_next_stage()
            if now >= self.stop_deadline and not self.force:
                self.say(f"graceful stop took longer than {self.stop_timeout:.0f} s: killing what is left")
                self.force = True
                self._kill_all()
            return
        for child in list(self.children):
            if child.state == State.BACKOFF and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
            elif child.state == State.RETIRING and child.restart_at is not None and now >= child.restart_at:
                # A Daphne that does not finish draining (its app blocks) must not hold the reload forever.
                child.restart_at = None
                self.say(f"{child.name} (pid {child.pid}) did not finish draining in time: killing it")
                self._kill_group(child)

    # --- handlers ---------------------------------------------------------------------------------------

    def handle_ready(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping or child.state != State.STARTING:
            return
        child.state = State.READY
        child.ready_at = event.at
        if child.replaces is not None:
            self._retire(child.replaces)
            child.replaces = None
        if not self.booted and all(c.state == State.READY for c in self.children):
            self.booted = True
            if self.on_ready:
                self.on_ready(self.plan)

    def handle_not_ready(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping:
            return
        why = f": {event.line}" if event.line else ""  # e.g. it answers, but not on the shared socket
        if self._reload_successor_failed(
            child, f"did not become ready within {self.ready_timeout:.0f} s{why}"
        ):
            return
        failure = BootError(
            f"{event.name} did not answer within {self.ready_timeout:.0f} s of starting{why}",
            hint="see its output above",
            output=tuple(child.last_lines),
        )
        if not self.booted:
            self._halt(failure)
        else:
            self._kill_group(child)  # the exit that follows goes through the restart policy

    def handle_unresponsive(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping or child.state != State.READY:
            return
        self.say(
            f"{event.name} (pid {event.pid}) did not answer {self.liveness.failures} probes in a row: killing it"
        )
        self._kill_group(child)

    def handle_exited(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None:
            return
        code = event.code if event.code is not None else -1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        if not self.stopping and self._reload_successor_failed(child, f"{how} while starting"):
            return
        previous_state = child.state
        child.state = State.EXITED
        if self.stopping:
            return
        if previous_state == State.RETIRING:
            self.children.remove(child)
            self.say(f"{event.name} (pid {event.pid}) retired (exit code {event.code})")
            self._reload_next()
            return
        self._kill_group(child)  # leftovers: nginx or Gunicorn workers whose master died
        now = event.at
        child.exits.append(now)
        if any(c.replaces is child for c in self.children):
            # Its successor of a reload is already starting: no restart, the successor takes over.
            self.say(f"{event.name} {how} while its successor starts: the successor takes over")
            return
        if not self.booted:
            self._halt(
                BootError(
                    f"{event.name} {how} while starting",
                    hint="its last output is above; fix it and run again",
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
        child.state = State.BACKOFF
        child.restart_at = now + delay
        self.emit(Kind.RESTARTING, event.name, line=f"{event.name} {how}; restarting in {delay:.1f} s")

    def handle_signal(self, event: Event) -> None:
        signum = event.code or 0
        if signum == signal.SIGUSR1:
            self.reopen_logs()
            return
        if signum == signal.SIGHUP:
            self.reload()
            return
        if self.stopping:
            if signum == signal.SIGINT and not self.force:
                self.say("second interrupt: stopping at once")
                self.force = True
                self._kill_all()
            return
        self.say(f"received {signal.Signals(signum).name}: stopping gracefully")
        self.stop()
