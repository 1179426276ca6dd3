"""Reload: new code without refusing a request, and a failed reload never makes things worse.

Everything that can fail is tried before a running process is touched, off the loop: the new code must
import in a fresh interpreter as the servers import it, the routing must be readable, and the new proxy
config must pass ``nginx -t``. Only then is Gunicorn told (HUP: it replaces its workers itself) and the
Daphne processes replaced one at a time on the shared socket, each old one retired (1012) once its
successor answers. A successor that never answers is killed and its predecessor keeps serving. Every reload
ends, done or failed, with one line in the log, the waiters on the control socket answered, and systemd told.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import Any

from tandem.children import Child, State
from tandem.errors import TandemError
from tandem.events import Event, Kind
from tandem.servers import HUP_RELOAD_ROLES
from tandem.supervisor.base import ReloadRun, Reply, SupervisorBase
from tandem.tracebacks import exception_line, parse_crash

RETIRE_SIGNAL = signal.SIGUSR1  # Daphne: drain with 1012 (service restart) during a reload


def _one_line(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TandemError) else exception_line(exc)


class ReloadMixin(SupervisorBase):
    def reload(self, waiter: Reply | None = None) -> dict[str, Any]:
        """Starts a reload; the reply says whether it started. ``waiter`` gets the outcome when it ends."""
        if self.stopping or not self.booted or self.reloading is not None:
            why = "stopping" if self.stopping else "starting" if not self.booted else "already reloading"
            self.say(f"reload ignored: tandem is {why}")
            return {"ok": False, "message": f"not reloading now: tandem is {why}"}
        self.reloads += 1
        self.reloading = ReloadRun(self.reloads, [waiter] if waiter else [])
        self.say("reloading: checking the new code before touching a process")
        self.notify.reloading()
        threading.Thread(target=self._prepare, args=(self.reloading,), daemon=True).start()
        return {"ok": True, "message": "reloading"}

    def _prepare(self, run: ReloadRun) -> None:
        """Off the loop (it imports code and runs nginx -t): any failure at all leaves everything as it was."""
        try:
            run.install_proxy = self.prepare_reload() if self.prepare_reload is not None else None
        except Exception as exc:  # whatever the new code or the routing raises is the reload's failure
            self.emit(Kind.RELOAD_PREPARED, code=run.number, line=_one_line(exc))
            return
        self.emit(Kind.RELOAD_PREPARED, code=run.number)

    def handle_reload_prepared(self, event: Event) -> None:
        run = self.reloading
        if run is None or run.number != event.code or self.stopping:
            return
        if event.line:
            self._reload_failed(f"{event.line}; nothing was changed")
            return
        try:
            changed = run.install_proxy() if run.install_proxy is not None else False
        except Exception as exc:  # writing the checked config failed: nginx still has the old one
            self._reload_failed(f"installing the new proxy config failed: {_one_line(exc)}")
            return
        if changed:
            for child in self.children:
                if child.spec.role == "nginx":
                    self._signal(child, signal.SIGHUP)
                    self.say("nginx config changed with the routing: nginx reloaded")
                elif child.spec.reload_argv and child.running:
                    self._reload_config(child)
        for child in self.children:
            if child.spec.role in HUP_RELOAD_ROLES and child.running:
                # Gunicorn (and Granian, gunicorn-asgi) replace their workers themselves; this also
                # reopens Gunicorn's log files.
                self._signal(child, signal.SIGHUP)
            elif child.spec.role == "nginx" and child.spec.reopen_signal is not None:
                self._signal(child, child.spec.reopen_signal)  # a rotated access log is started afresh
        self.reload_queue = [c for c in self.children if c.spec.role == "daphne" and c.state == State.READY]
        self._reload_next()

    def _reload_config(self, child: Child) -> None:
        """A proxy reloaded by a command (Caddy: ``caddy reload`` through its admin socket, which answers
        once the new config runs; WebSockets under the old one stay for its stream_close_delay)."""
        try:
            result = subprocess.run(
                child.spec.reload_argv, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.say(f"{child.name} config changed with the routing, but reloading it failed: {exc}")
            return
        if result.returncode == 0:
            self.say(f"{child.name} config changed with the routing: {child.name} reloaded")
        else:
            lines = (result.stderr or result.stdout).strip().splitlines()
            self.say(f"{child.name} refused the new config: {lines[-1] if lines else result.returncode}")

    def _reload_next(self) -> None:
        while self.reload_queue:
            old = self.reload_queue.pop(0)
            if old not in self.children or old.state != State.READY:
                continue
            # _start moves the successor to the next generation, so its private socket differs from the old one's.
            successor = Child(old.spec, generation=old.generation, restarts=old.restarts, replaces=old)
            self.children.append(successor)
            self._start(successor)
            return
        if self.reloading is not None:
            self._reload_ended(True, "reload complete")

    def _retire(self, old: Child) -> None:
        if not old.running:  # it died while its successor started: nothing to drain
            old.state = State.EXITED
            if old in self.children:
                self.children.remove(old)
            self._reload_next()
            return
        old.state = State.RETIRING
        old.restart_at = self.clock() + self.stop_timeout  # the drain deadline (core._tick)
        self._signal(old, RETIRE_SIGNAL)

    def _reload_successor_failed(self, child: Child, why: str) -> bool:
        """A new Daphne that exited or never answered while replacing an old one: kill it, keep the old one
        serving, and end the reload as failed. False when ``child`` is no reload's successor."""
        if child.replaces is None or child.state != State.STARTING:
            return False
        self._kill_group(child)
        child.state = State.EXITED
        if child in self.children:
            self.children.remove(child)
        crash = parse_crash(tuple(child.last_lines))
        cause = f": {crash.summary()}" if crash else ""
        old = child.replaces
        child.replaces = None
        if old.running:
            self._reload_failed(f"the new {child.name} {why}{cause}; the old one keeps serving")
        else:  # the old one died meanwhile: its slot goes back to the restart policy
            old.state = State.BACKOFF
            old.restart_at = self.clock()
            self._reload_failed(f"the new {child.name} {why}{cause}; the old one had exited: restarting it")
        return True

    def _reload_failed(self, message: str) -> None:
        self.reload_queue = []
        self._reload_ended(False, f"reload failed: {message}")

    def _reload_ended(self, ok: bool, message: str) -> None:
        run, self.reloading = self.reloading, None
        self.last_reload = {"number": run.number if run else self.reloads, "ok": ok, "message": message}
        self.say(message)
        self.notify.ready(message)
        for waiter in run.waiters if run else ():
            waiter({"ok": ok, "message": message})
