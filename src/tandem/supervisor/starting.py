"""Starting a process and knowing it is up: spawn, output, exit, readiness, and the liveness monitor.

The threads here only post events; the loop decides (tandem.supervisor.core).
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from typing import IO

from tandem.children import LAST_LINES, Child, State
from tandem.events import Event, Kind
from tandem.output import read_lines
from tandem.plan import Probe, ProcessSpec
from tandem.probes import alive, answers, identity
from tandem.supervisor.base import SupervisorBase

SHARED_ATTEMPTS = 64  # probes through the shared socket before the process's own report is relied on
SHARED_BURST = 8  # probes through the shared socket per readiness poll
# Why a process with a shared socket is not ready when its own probe socket never answered. The loop
# says it did not answer within the timeout (tandem.supervisor.core): this says only why.
NEVER_LOADED = "it did not finish loading (or hung before listening)"


@dataclass
class SharedSocketCheck:
    """Does this Daphne accept on the shared socket? Its private socket answering proves only that it runs:
    a Daphne that never adopted the shared socket (a renamed hook, a wrong descriptor) answers there too.

    Proof: a probe through the shared socket answered by this very pid. Every process accepts from the same
    queue (one inherited listening socket, not SO_REUSEPORT), so the kernel hands each connection to
    whichever process takes it first; repeated probes reach each process, but with no bound on how soon.
    After ``SHARED_ATTEMPTS`` probes that all reached other processes, the process's own answer must name
    the very socket tandem bound (its inode); this fallback is said in the output."""

    probe: Probe
    pid: int
    attempts: int = 0
    others: int = 0  # answers from other processes: the shared socket works, the kernel chose another
    note: str = ""

    def proven(self) -> bool:
        assert self.probe.shared is not None
        for _ in range(SHARED_BURST):
            found = identity(self.probe, timeout=1.0, via=self.probe.shared)
            if found is None:
                return False  # nothing answers through the shared socket (yet): the next poll asks again
            self.attempts += 1
            if found.get("pid") == self.pid:
                return True
            self.others += 1
        return self.attempts >= SHARED_ATTEMPTS and self._reports_shared_socket()

    def _reports_shared_socket(self) -> bool:
        if self.probe.shared_fd is None:
            return False
        try:
            expected = os.fstat(self.probe.shared_fd).st_ino
        except OSError:
            return False
        own = identity(self.probe, timeout=1.0)
        if own is None or own.get("shared") != expected:
            return False
        self.note = (
            f"{self.attempts} probes through the shared socket {self.probe.shared} all reached other "
            "processes; ready on its own report that it accepts on that socket"
        )
        return True

    def failure(self) -> str:
        where = self.probe.shared
        if self.others:
            return (
                f"its {self.attempts} probes through the shared socket {where} all reached other processes "
                "and it does not report accepting on it: it did not adopt it"
            )
        return f"nothing answered through the shared socket {where}: this process did not adopt it"


class StartMixin(SupervisorBase):
    def _start(self, child: Child) -> None:
        child.generation = next(self.generations)
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
        reader = threading.Thread(target=self._read_output, args=(child, spec.name, proc.stdout), daemon=True)
        reader.start()
        threading.Thread(target=self._wait_exit, args=(spec.name, proc, reader), daemon=True).start()
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

    def _wait_exit(self, name: str, proc: subprocess.Popen[bytes], reader: threading.Thread) -> None:
        code = proc.wait()
        # Its last output (the traceback of a failed start) is read before the exit is reported; bounded,
        # as a grandchild may hold the pipe open.
        reader.join(1.0)
        self.emit(Kind.EXITED, name, pid=proc.pid, code=code)

    def _wait_ready(self, spec: ProcessSpec, proc: subprocess.Popen[bytes]) -> None:
        deadline = self.clock() + self.ready_timeout
        delay = 0.05
        shared = SharedSocketCheck(spec.probe, proc.pid) if spec.probe.shared is not None else None
        answered = False  # its own probe socket answered at least once: it finished loading and listens
        while self.clock() < deadline and proc.poll() is None and not self._done.is_set():
            own = answers(spec.probe, timeout=1.0)
            answered = answered or own
            if own and (shared is None or shared.proven()):
                if shared is not None and shared.note:
                    self.say(f"{spec.name}: {shared.note}")
                self.emit(Kind.READY, spec.name, pid=proc.pid)
                return
            # A bounded poll: ends at the first answer, the child's exit, or the deadline.
            self._done.wait(delay)
            delay = min(delay * 1.5, 0.5)
        if proc.poll() is None and not self._done.is_set():
            why = ""
            if shared is not None:
                # The shared socket is asked about only once the process answers on its own: one that
                # never did was still loading (or hung there), and never reached the shared socket.
                why = shared.failure() if answered else NEVER_LOADED
            self.emit(Kind.NOT_READY, spec.name, pid=proc.pid, line=why)

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
