"""Stopping: graceful stop in stages, then KILL; signals only ever go to processes this supervisor started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

from tandem.children import Child, State
from tandem.supervisor.base import SupervisorBase

# How each server stops gracefully: Gunicorn and Daphne finish in-flight work on TERM; nginx on QUIT.
STOP_SIGNALS = {
    "gunicorn": signal.SIGTERM,
    "daphne": signal.SIGTERM,
    "gunicorn-asgi": signal.SIGTERM,  # its workers close their WebSockets (1001), then finish requests
    "nginx": signal.SIGQUIT,
    "caddy": signal.SIGTERM,  # Caddy's graceful stop (grace_period in its config); QUIT skips cleanup
    "redis": signal.SIGTERM,
}
PROXY_ROLES = ("nginx", "caddy")  # the reverse proxy in front: Gunicorn stops after it
APP_ROLES = (
    "gunicorn",
    "daphne",
    "gunicorn-asgi",
)  # they send group messages through a managed Redis until they exit


class StopMixin(SupervisorBase):
    def _halt(self, failure: Exception) -> None:
        self.failure = failure
        self.stop()

    def stop(self) -> None:
        """Graceful stop in stages: nginx stops accepting and Daphne drains its WebSockets (1001) first,
        then Gunicorn once nginx has passed on every request in flight, Redis once the app servers are gone;
        KILL after ``stop_timeout``."""
        if not self.stopping:
            self.notify.stopping()
        if self.reloading is not None:
            self._reload_failed("tandem is stopping")
        self.stopping = True
        self.reload_queue = []
        self.stop_deadline = self.clock() + self.stop_timeout
        for child in self.children:
            child.restart_at = None
            if child.state in (State.BACKOFF, State.NEW):
                child.state = State.EXITED
        self._stop_next_stage()

    def _stop_next_stage(self) -> None:
        nginx_running = any(c.running for c in self.children if c.spec.role in PROXY_ROLES)
        app_running = any(c.running for c in self.children if c.spec.role in APP_ROLES)
        for child in self.children:
            if not child.running or child.state == State.STOPPING:
                continue
            if child.spec.role == "gunicorn" and nginx_running:
                continue
            if child.spec.role == "redis" and app_running:
                continue
            child.state = State.STOPPING
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
