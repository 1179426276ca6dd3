"""Typed events: children, probes and signal handlers put them on one queue; the supervisor loop
dispatches them, and the printer (and status) are separate consumers."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    STARTED = "started"
    READY = "ready"
    LINE = "line"
    EXITED = "exited"
    NOT_READY = "not_ready"  # the readiness probe gave up
    UNRESPONSIVE = "unresponsive"  # a ready process stopped answering its liveness probe
    RESTARTING = "restarting"
    SIGNAL = "signal"
    MESSAGE = "message"  # something tandem itself says
    CONTROL = "control"  # a request arrived on the control socket
    PROBED = "probed"  # a liveness probe's answer (code 0: answered) for the loop to count
    RELOAD_PREPARED = "reload_prepared"  # the new code was checked off the loop (line: why it failed)


@dataclass(frozen=True)
class Event:
    kind: Kind
    name: str = ""  # the process name, "" for tandem itself
    pid: int = 0
    line: str = ""
    code: int | None = None  # exit code (negative: killed by that signal) or signal number
    at: float = 0.0
