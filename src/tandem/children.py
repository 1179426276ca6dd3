"""The state the supervisor keeps per process, and its liveness settings."""

from __future__ import annotations

import collections
import dataclasses
import enum
import subprocess
from dataclasses import dataclass, field

from tandem.plan import ProcessSpec

# The output kept per process for the report of a failed start: Gunicorn prints ~30 lines per failed worker
# (its master's halt another ~30), so room for several workers' tracebacks, bounded in count.
LAST_LINES = 400


@dataclass(frozen=True)
class Liveness:
    interval: float = 2.0  # seconds between probes of a ready process
    timeout: float = 2.0  # a probe without an answer in this time failed
    failures: int = 3  # this many failed probes in a row: the process is hung, kill and restart it


class State(enum.StrEnum):
    """Where a process is in its life; a str, so status shows it as it is."""

    NEW = "new"
    STARTING = "starting"  # spawned, not yet answering its probe
    READY = "ready"
    BACKOFF = "backoff"  # exited after start; waiting to be restarted
    RETIRING = "retiring"  # replaced by a reload: draining (1012) before it exits
    STOPPING = "stopping"
    EXITED = "exited"


@dataclass
class Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    state: State = State.NEW
    started_at: float = 0.0
    ready_at: float = 0.0
    restarts: int = 0
    exits: list[float] = field(default_factory=list)
    last_lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=LAST_LINES))
    restart_at: float | None = None
    generation: int = 0
    probe_failures: int = 0
    replaces: Child | None = None  # during a reload: the old process this one takes over from

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def instance(self) -> ProcessSpec:
        """The spec with this start's generation filled in (private socket paths differ per start)."""

        def fill(text: str) -> str:
            return text.replace("{generation}", str(self.generation))

        address = self.spec.probe.address
        probe = self.spec.probe
        if address.path:
            probe = dataclasses.replace(probe, address=dataclasses.replace(address, path=fill(address.path)))
        return dataclasses.replace(self.spec, argv=tuple(fill(a) for a in self.spec.argv), probe=probe)
