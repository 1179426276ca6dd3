"""What every part of the supervisor shares: its state, and the few operations one part asks of another.

The Supervisor is assembled from one mixin per concern (starting and liveness, reload, stopping, control);
each declares here what it needs from the others, so every module stays small and type-checked.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tandem.children import Child, Liveness
from tandem.events import Event, Kind
from tandem.plan import Plan
from tandem.policy import RestartPolicy
from tandem.sdnotify import Notifier

Spawn = Callable[..., "subprocess.Popen[bytes]"]
Reply = Callable[[dict[str, Any]], None]
# A reload's preparation (run off the loop): checks the new code and renders the new proxy config; returns
# the step that installs that config in the loop (True when it changed), or None when there is no proxy.
PrepareReload = Callable[[], "Callable[[], bool] | None"]


@dataclass
class ReloadRun:
    """One reload in progress: who waits for its outcome."""

    number: int
    waiters: list[Reply] = field(default_factory=list)
    install_proxy: Callable[[], bool] | None = None


class SupervisorBase:
    plan: Plan
    listeners: tuple[Callable[[Event], None], ...]
    ready_timeout: float
    stop_timeout: float
    policy: RestartPolicy
    liveness: Liveness
    clock: Callable[[], float]
    spawn: Spawn
    on_ready: Callable[[Plan], None] | None
    prepare_reload: PrepareReload | None
    output: Callable[[str, list[bytes]], None] | None
    notify: Notifier
    events: queue.SimpleQueue[Event]
    children: list[Child]
    booted: bool
    stopping: bool
    force: bool
    failure: Exception | None
    stop_deadline: float
    started: float
    reload_queue: list[Child]
    reloads: int
    reloading: ReloadRun | None
    last_reload: dict[str, Any] | None
    generations: Iterator[int]  # one counter for every start: private socket names never repeat
    _done: threading.Event
    control_requests: queue.Queue[tuple[str, Reply]]

    def emit(self, kind: Kind, name: str = "", **values: Any) -> None:
        self.events.put(Event(kind=kind, name=name, at=self.clock(), **values))

    def say(self, line: str) -> None:
        self.emit(Kind.MESSAGE, line=line)

    def find(self, pid: int) -> Child | None:
        return next((c for c in self.children if c.pid == pid), None)

    # --- provided by the concern modules ------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        raise NotImplementedError

    def _signal(self, child: Child, signum: int) -> None:
        raise NotImplementedError

    def _kill_group(self, child: Child) -> None:
        raise NotImplementedError

    def _kill_all(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def reload(self, waiter: Reply | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def reopen_logs(self) -> None:
        raise NotImplementedError

    def _reload_next(self) -> None:
        raise NotImplementedError

    def _reload_successor_failed(self, child: Child, why: str) -> bool:
        raise NotImplementedError

    def _reload_failed(self, message: str) -> None:
        raise NotImplementedError
