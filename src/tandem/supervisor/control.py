"""The control socket's commands (status, reload, reload-wait, stop) and SIGUSR1's log reopening, answered in
the loop so they see one consistent state."""

from __future__ import annotations

import contextlib
import queue
from typing import Any

from tandem.events import Event
from tandem.supervisor.base import Reply, SupervisorBase


class ControlMixin(SupervisorBase):
    def request(self, command: str, reply: Reply) -> None:
        """From another thread (the control socket): run ``command`` in the loop and reply."""
        from tandem.events import Kind

        self.control_requests.put((command, reply))
        self.emit(Kind.CONTROL)

    def handle_control(self, event: Event) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                command, reply = self.control_requests.get_nowait()
                if command == "reload-wait":
                    # Answered when the reload has finished or failed (ReloadMixin), unless it cannot start.
                    answer = self.reload(waiter=reply)
                    if not answer["ok"]:
                        reply(answer)
                    continue
                reply(self.control(command))

    def control(self, command: str) -> dict[str, Any]:
        if command == "status":
            return {"ok": True, "status": self.status()}
        if command == "reload":
            return self.reload()
        if command == "stop":
            if not self.stopping:
                self.say("stop requested: stopping gracefully")
                self.stop()
            return {"ok": True, "message": "stopping"}
        return {"ok": False, "message": f"unknown command {command!r}"}

    def status(self) -> dict[str, Any]:
        from tandem.status import snapshot

        state = "stopping" if self.stopping else ("ready" if self.booted else "starting")
        found = snapshot(
            self.plan,
            self.children,
            now=self.clock(),
            started=self.started,
            reloads=self.reloads,
            state=state,
        )
        found["reloading"] = self.reloading is not None
        found["last_reload"] = self.last_reload
        return found

    def reopen_logs(self) -> None:
        """SIGUSR1 (logrotate's postrotate): the processes writing a log file reopen it. Daphne notices a
        moved file itself (and USR1 retires a Daphne)."""
        reopened = [c.name for c in self.children if c.spec.reopen_signal is not None and c.running]
        for child in self.children:
            if child.spec.reopen_signal is not None:
                self._signal(child, child.spec.reopen_signal)
        self.say(f"reopening log files ({', '.join(reopened)})" if reopened else "no log file to reopen")
