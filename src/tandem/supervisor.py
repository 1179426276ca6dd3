"""Runs a Plan: start every process, wait until each answers its probe, keep them alive, stop cleanly.

Signal handlers and helper threads only enqueue typed events; the loop dispatches each to a
``handle_<kind>`` method. A process is ready (and alive) when it answers its probe, not when its pid
exists. A process that never became ready at start halts everything (no respawn loop); one that keeps
dying after start is declared flapping and halts everything too.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import IO, Any

from tandem.children import LAST_LINES, Child, Liveness
from tandem.errors import BootError, RuntimeFailure, TandemError
from tandem.events import Event, Kind
from tandem.output import read_lines
from tandem.plan import Plan, ProcessSpec
from tandem.policy import RestartPolicy
from tandem.probes import alive, answers
from tandem.sdnotify import DISABLED, Notifier

# How each server stops gracefully: Gunicorn and Daphne finish in-flight work on TERM; nginx on QUIT.
STOP_SIGNALS = {
    "gunicorn": signal.SIGTERM,
    "daphne": signal.SIGTERM,
    "nginx": signal.SIGQUIT,
    "redis": signal.SIGTERM,
}
APP_ROLES = ("gunicorn", "daphne")  # they send group messages through a managed Redis until they exit
RETIRE_SIGNAL = signal.SIGUSR1  # Daphne: drain with 1012 (service restart) during a reload

Spawn = Callable[..., "subprocess.Popen[bytes]"]


class Supervisor:
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
        refresh_proxy: Callable[[], bool] | None = None,
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
        self.refresh_proxy = refresh_proxy
        # Child output goes to ``output`` straight from the reader threads, never through the event queue:
        # a chatty child must not fill the queue the loop dispatches liveness, reloads and stops from.
        self.output = output
        self.notify = notify or DISABLED  # systemd Type=notify: reload and stop states (tandem.sdnotify)
        self.events: queue.Queue[Event] = queue.Queue()
        self.children = [Child(spec) for spec in plan.processes]
        self.booted = False
        self.stopping = False
        self.force = False
        self.failure: Exception | None = None
        self.stop_deadline = 0.0
        self.started = clock()
        self.reload_queue: list[Child] = []
        self.reloads = 0
        self._done = threading.Event()
        self.control_requests: queue.Queue[tuple[str, Callable[[dict[str, Any]], None]]] = queue.Queue()

    # --- events ---------------------------------------------------------------------------------------

    def emit(self, kind: Kind, name: str = "", **values: Any) -> None:
        self.events.put(Event(kind=kind, name=name, at=self.clock(), **values))

    def say(self, line: str) -> None:
        self.emit(Kind.MESSAGE, line=line)

    def _signal_handler(self, signum: int, frame: FrameType | None) -> None:
        self.events.put(Event(kind=Kind.SIGNAL, code=signum, at=self.clock()))

    def request(self, command: str, reply: Callable[[dict[str, Any]], None]) -> None:
        """From another thread (the control socket): run ``command`` in the loop and reply."""
        self.control_requests.put((command, reply))
        self.emit(Kind.CONTROL)

    # --- process start ----------------------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        child.generation += 1
        spec = child.instance()
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
        child.probe_failures = 0
        proc = child.proc
        self.emit(Kind.STARTED, spec.name, pid=proc.pid)
        assert proc.stdout is not None
        threading.Thread(target=self._read_output, args=(child, spec.name, proc.stdout), daemon=True).start()
        threading.Thread(target=self._wait_exit, args=(spec.name, proc), daemon=True).start()
        threading.Thread(target=self._wait_ready, args=(spec, proc), daemon=True).start()

    def _read_output(self, child: Child, name: str, stream: IO[bytes]) -> None:
        def deliver(lines: list[bytes]) -> None:
            # The last lines are kept for a boot failure's report even when the terminal drops them.
            child.last_lines.extend(
                line.decode("utf-8", "replace").rstrip("\r") for line in lines[-LAST_LINES:]
            )
            if self.output is not None:
                self.output(name, lines)

        try:
            read_lines(stream.fileno(), deliver)
        finally:
            stream.close()

    def _wait_exit(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        self.emit(Kind.EXITED, name, pid=proc.pid, code=code)

    def _wait_ready(self, spec: ProcessSpec, proc: subprocess.Popen[bytes]) -> None:
        deadline = self.clock() + self.ready_timeout
        delay = 0.05
        while self.clock() < deadline and proc.poll() is None and not self._done.is_set():
            if answers(spec.probe, timeout=1.0):
                self.emit(Kind.READY, spec.name, pid=proc.pid)
                return
            # A bounded poll: ends at the first answer, the child's exit, or the deadline.
            self._done.wait(delay)
            delay = min(delay * 1.5, 0.5)
        if proc.poll() is None and not self._done.is_set():
            self.emit(Kind.NOT_READY, spec.name, pid=proc.pid)

    def _monitor(self) -> None:
        """Liveness: probe every ready process; a run of failed probes reports it unresponsive."""
        while not self._done.wait(self.liveness.interval):
            for child in list(self.children):
                if child.state != "ready" or not child.running:
                    continue
                spec = child.instance()
                if alive(spec.probe, timeout=self.liveness.timeout):
                    child.probe_failures = 0
                    continue
                child.probe_failures += 1
                if child.probe_failures == self.liveness.failures:
                    self.emit(Kind.UNRESPONSIVE, child.name, pid=child.pid)

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
            self._stop_next_stage()
            if now >= self.stop_deadline and not self.force:
                self.say(f"graceful stop took longer than {self.stop_timeout:.0f} s: killing what is left")
                self.force = True
                self._kill_all()
            return
        for child in self.children:
            if child.state == "backoff" and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)

    def find(self, pid: int) -> Child | None:
        return next((c for c in self.children if c.pid == pid), None)

    # --- handlers ---------------------------------------------------------------------------------------

    def handle_ready(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping or child.state != "starting":
            return
        child.state = "ready"
        child.ready_at = event.at
        if child.replaces is not None:
            self._retire(child.replaces)
            child.replaces = None
        if not self.booted and all(c.state == "ready" for c in self.children):
            self.booted = True
            if self.on_ready:
                self.on_ready(self.plan)

    def handle_not_ready(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping:
            return
        failure = BootError(
            f"{event.name} did not answer within {self.ready_timeout:.0f} s of starting",
            hint="see its output above",
            output=tuple(child.last_lines),
        )
        if not self.booted:
            self._halt(failure)
        else:
            self._kill_group(child)  # the exit that follows goes through the restart policy

    def handle_unresponsive(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or self.stopping or child.state != "ready":
            return
        self.say(
            f"{event.name} (pid {event.pid}) did not answer {self.liveness.failures} probes in a row: killing it"
        )
        self._kill_group(child)

    def handle_exited(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None:
            return
        previous_state = child.state
        child.state = "exited"
        if self.stopping:
            return
        if previous_state == "retiring":
            self.children.remove(child)
            self.say(f"{event.name} (pid {event.pid}) retired (exit code {event.code})")
            self._reload_next()
            return
        self._kill_group(child)  # leftovers: nginx or Gunicorn workers whose master died
        now = event.at
        child.exits.append(now)
        code = event.code if event.code is not None else -1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
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
        child.state = "backoff"
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

    def handle_control(self, event: Event) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                command, reply = self.control_requests.get_nowait()
                reply(self.control(command))

    def control(self, command: str) -> dict[str, Any]:
        if command == "status":
            return {"ok": True, "status": self.status()}
        if command == "reload":
            started = self.reload()
            return {
                "ok": started,
                "message": "reloading" if started else "not reloading now (starting or stopping)",
            }
        if command == "stop":
            if not self.stopping:
                self.say("stop requested: stopping gracefully")
                self.stop()
            return {"ok": True, "message": "stopping"}
        return {"ok": False, "message": f"unknown command {command!r}"}

    def status(self) -> dict[str, Any]:
        from tandem.status import snapshot

        state = "stopping" if self.stopping else ("ready" if self.booted else "starting")
        return snapshot(
            self.plan,
            self.children,
            now=self.clock(),
            started=self.started,
            reloads=self.reloads,
            state=state,
        )

    def reopen_logs(self) -> None:
        """SIGUSR1 (logrotate's postrotate): the processes writing a log file reopen it. Daphne notices a
        moved file itself (and USR1 retires a Daphne)."""
        reopened = [c.name for c in self.children if c.spec.reopen_signal is not None and c.running]
        for child in self.children:
            if child.spec.reopen_signal is not None:
                self._signal(child, child.spec.reopen_signal)
        self.say(f"reopening log files ({', '.join(reopened)})" if reopened else "no log file to reopen")

    # --- reload -----------------------------------------------------------------------------------------

    def reload(self) -> bool:
        """New code without refusing a request: Gunicorn replaces its workers itself (HUP); Daphne processes
        are replaced one at a time on the shared socket, each old one retired (1012) once its successor
        answers."""
        if self.stopping or not self.booted or self.reload_queue:
            self.say("reload ignored: tandem is starting, stopping or already reloading")
            return False
        self.reloads += 1
        self.say("reloading")
        self.notify.reloading()
        self._reload_proxy()
        for child in self.children:
            if child.spec.role == "gunicorn" and child.running:
                self._signal(child, signal.SIGHUP)  # which also reopens its log files
            elif child.spec.role == "nginx" and child.spec.reopen_signal is not None:
                self._signal(child, child.spec.reopen_signal)  # a rotated access log is started afresh
        self.reload_queue = [c for c in self.children if c.spec.role == "daphne" and c.state == "ready"]
        self._reload_next()
        return True

    def _reload_proxy(self) -> None:
        """The routing may have changed with the code: re-render nginx's config and reload nginx gracefully
        (HUP: new workers take the new config, old ones finish their connections) when it did."""
        if self.refresh_proxy is None:
            return
        try:
            changed = self.refresh_proxy()
        except TandemError as exc:
            self.say(f"reload: {exc}; nginx keeps its current config")
            return
        if changed:
            for child in self.children:
                if child.spec.role == "nginx":
                    self._signal(child, signal.SIGHUP)
            self.say("nginx config changed with the routing: nginx reloaded")

    def _reload_next(self) -> None:
        while self.reload_queue:
            old = self.reload_queue.pop(0)
            if old not in self.children or old.state != "ready":
                continue
            # _start moves the successor to the next generation, so its private socket differs from the old one's.
            successor = Child(old.spec, generation=old.generation, restarts=old.restarts, replaces=old)
            self.children.append(successor)
            self._start(successor)
            return
        self.say("reload complete")
        self.notify.ready("reload complete")

    def _retire(self, old: Child) -> None:
        old.state = "retiring"
        self._signal(old, RETIRE_SIGNAL)

    # --- stopping ---------------------------------------------------------------------------------------

    def _halt(self, failure: Exception) -> None:
        self.failure = failure
        self.stop()

    def stop(self) -> None:
        """Graceful stop in stages: nginx stops accepting and Daphne drains its WebSockets (1001) first,
        then Gunicorn once nginx has passed on every request in flight; KILL after ``stop_timeout``."""
        if not self.stopping:
            self.notify.stopping()
        self.stopping = True
        self.reload_queue = []
        self.stop_deadline = self.clock() + self.stop_timeout
        for child in self.children:
            child.restart_at = None
            if child.state in ("backoff", "new"):
                child.state = "exited"
        self._stop_next_stage()

    def _stop_next_stage(self) -> None:
        nginx_running = any(c.running for c in self.children if c.spec.role == "nginx")
        app_running = any(c.running for c in self.children if c.spec.role in APP_ROLES)
        for child in self.children:
            if not child.running or child.state == "stopping":
                continue
            if child.spec.role == "gunicorn" and nginx_running:
                continue
            if child.spec.role == "redis" and app_running:
                continue
            child.state = "stopping"
            self._signal(child, STOP_SIGNALS.get(child.spec.role, signal.SIGTERM))

    def _signal(self, child: Child, signum: int) -> None:
        """Signals go only to processes this supervisor started, by their pid."""
        if child.proc is not None and child.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.proc.pid, signum)

    def _kill_group(self, child: Child) -> None:
        if child.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)

    def _kill_all(self) -> None:
        """KILL every process group we started that is still alive, and reap the leaders."""
        for child in self.children:
            if child.proc is None:
                continue
            self._kill_group(child)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
