"""Starting a process and knowing it is up: spawn, output, exit, readiness, and the liveness monitor.

The threads here only post events; the loop decides (tandem.supervisor.core).
"""

from __future__ import annotations

import subprocess
import threading
from typing import IO

from tandem.children import LAST_LINES, Child, State
from tandem.events import Event, Kind
from tandem.output import read_lines
from tandem.plan import ProcessSpec
from tandem.probes import alive, answers
from tandem.supervisor.base import SupervisorBase


class StartMixin(SupervisorBase):
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
        child.state = State.STARTING
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
        """Liveness: probe every ready process and post the answer; the loop counts failures (handle_probed)."""
        while not self._done.wait(self.liveness.interval):
            for child in list(self.children):
                if child.state != State.READY or not child.running:
                    continue
                ok = alive(child.instance().probe, timeout=self.liveness.timeout)
                self.emit(Kind.PROBED, child.name, pid=child.pid, code=0 if ok else 1)

    def handle_probed(self, event: Event) -> None:
        child = self.find(event.pid)
        if child is None or child.state != State.READY:
            return
        if not event.code:
            child.probe_failures = 0
            return
        child.probe_failures += 1
        if child.probe_failures == self.liveness.failures:
            self.emit(Kind.UNRESPONSIVE, child.name, pid=child.pid)
