"""Child output on its way to the terminal: read in bulk, queued within a bound, written by one thread.

Nothing here may hold up a child or the supervisor's loop. A reader thread per child drains the child's
pipe as fast as the child writes (a child blocked on a full pipe stops serving); what the terminal cannot
take is dropped and counted, and the count is printed ("gunicorn: 1,234 lines dropped") instead of
queueing without bound. tandem's own lines are never dropped. Access logs never come this way: the
servers write those themselves (tandem.accesslog).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable

READ_SIZE = 65536
MAX_LINE = 16384  # a longer line is cut: one runaway line cannot hold unbounded memory
PENDING_PER_CHILD = 1000  # lines of one child waiting for the terminal before its newest are dropped
BATCH = 2000  # lines written per terminal write
REPORT_EVERY = 1.0  # seconds between "N lines dropped" reports of one child

# (name, line): a child's raw line (bytes), or tandem's own (str); name None for an unprefixed line.
Item = tuple[str | None, bytes | str]
Write = Callable[[list[Item]], None]


def read_lines(fd: int, deliver: Callable[[list[bytes]], None]) -> None:
    """Read ``fd`` to its end in large chunks, handing over complete lines (without their newline) in
    batches: one call per chunk, not per line, so a flood costs a split and a count, not a loop."""
    partial = b""
    while True:
        try:
            chunk = os.read(fd, READ_SIZE)
        except OSError:
            break
        if not chunk:
            break
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        if len(partial) > MAX_LINE:
            lines.append(partial[:MAX_LINE])
            partial = b""
        if lines:
            deliver(lines)
    if partial:
        deliver([partial])


def dropped_message(name: str, count: int) -> str:
    return f"{name}: {count:,} lines dropped (output faster than the terminal)"


class Output:
    """The queue between the readers (and the supervisor's loop) and the one thread writing to the
    terminal."""

    def __init__(
        self,
        write: Write,
        *,
        limit: int = PENDING_PER_CHILD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._items: collections.deque[Item] = collections.deque()
        self._pending: dict[str, int] = collections.defaultdict(int)
        self._dropped: dict[str, int] = collections.defaultdict(int)
        self._reported: dict[str, float] = {}
        self._closing = False
        self._thread: threading.Thread | None = None
        self.dropped_total = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tandem-output", daemon=True)
            self._thread.start()

    def child_lines(self, name: str, lines: list[bytes]) -> None:
        """From a reader thread: never blocks; what does not fit is counted as dropped."""
        with self._lock:
            room = max(0, self.limit - self._pending[name])
            taken = lines if len(lines) <= room else lines[:room]
            if len(taken) < len(lines):
                self._dropped[name] += len(lines) - len(taken)
                self.dropped_total += len(lines) - len(taken)
            if taken:
                self._pending[name] += len(taken)
                self._items.extend((name, line) for line in taken)
            self._wake.notify()

    def message(self, name: str | None, text: str) -> None:
        """tandem's own line (rare, never dropped); written at once when the writer thread is not running."""
        if not self.running:
            self.write([(name, text)])
            return
        with self._lock:
            self._items.append((name, text))
            self._wake.notify()

    def _take(self) -> list[Item]:
        """Under the lock: the next batch, and the drop reports that are due."""
        batch = [self._items.popleft() for _ in range(min(BATCH, len(self._items)))]
        for name, line in batch:
            if isinstance(line, bytes) and name is not None:
                self._pending[name] -= 1
        now = self.clock()
        for name, count in list(self._dropped.items()):
            if count and (self._closing or now - self._reported.get(name, -REPORT_EVERY) >= REPORT_EVERY):
                batch.append(("tandem", dropped_message(name, count)))
                self._dropped[name] = 0
                self._reported[name] = now
        return batch

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._items and not self._closing and not any(self._dropped.values()):
                    self._wake.wait()
                if self._closing and not self._items and not any(self._dropped.values()):
                    return
                batch = self._take()
                if not batch:
                    # Only drop counts not due yet: wait for their report time (or more output).
                    self._wake.wait(REPORT_EVERY)
                    continue
            try:
                self.write(batch)  # outside the lock: a slow terminal holds up only this thread
            except (OSError, ValueError):
                return  # the terminal is gone: nothing left to write to

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (within ``timeout``: a stalled terminal must not hold up the exit)."""
        thread = self._thread
        with self._lock:
            self._closing = True
            self._wake.notify()
        if thread is not None:
            thread.join(timeout)
