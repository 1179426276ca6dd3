"""The servers' access log on its way to tandem's stdout, without ever blocking a server.

nginx, Gunicorn and Daphne write their access lines themselves (no Python per line), but a pipe or
terminal they wrote to directly would block them whenever its reader fell behind: `tandem serve | tee`,
a slow terminal, a test harness busy elsewhere. A blocked nginx worker stops every connection it holds, so
WebSocket pings go unanswered. Here the servers write into a pipe of tandem's own; one thread copies it
in large chunks (a split at the last newline, no per-line work) to stdout with writes that cannot block,
keeps a bounded backlog, and drops whole lines with a count when stdout does not keep up. It also lets the
access log reach a socket (systemd's journal), which nginx and Gunicorn cannot open as /dev/fd/N.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Callable

CHUNK = 65536
PIPE_SIZE = 1 << 20
BACKLOG = 256 * 1024  # bytes waiting for stdout before the oldest whole lines are dropped
REPORT_EVERY = 5.0  # seconds between "N lines dropped" reports


class _Writer:
    """Writes what ``fd`` takes right now and says how much that was (0 when full); owns what it opened."""

    def __init__(self, write: Callable[[bytes], int], close: Callable[[], None] = lambda: None) -> None:
        self.write = write
        self.close = close


def _nonblocking_writer(fd: int) -> _Writer:
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return _Writer(lambda data: os.write(fd, data))  # a file takes everything (at disk speed)
    if stat.S_ISSOCK(mode):
        sock = socket.socket(fileno=os.dup(fd))

        def send(data: bytes) -> int:
            try:
                return sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return 0

        return _Writer(send, sock.close)
    # A pipe or a terminal: a description of our own with O_NONBLOCK (the flag would otherwise also
    # change the descriptor tandem's own lines and other programs write through).
    try:
        own = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        own = -1

    def write(data: bytes) -> int:
        if own >= 0:
            try:
                return os.write(own, data)
            except BlockingIOError:
                return 0
        # No private description: write no more than select says fits (a pipe takes PIPE_BUF then).
        if not select.select([], [fd], [], 0)[1]:
            return 0
        return os.write(fd, data[: select.PIPE_BUF])

    def close() -> None:
        # The pump's own write end of stdout: left open, a reader of tandem's output would never see EOF.
        if own >= 0:
            with contextlib.suppress(OSError):
                os.close(own)

    return _Writer(write, close)


class LogPump:
    """A pipe the servers write their access lines to, and the thread copying it to ``out_fd``."""

    def __init__(self, out_fd: int, report: Callable[[str], None] | None = None) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        # nginx and Gunicorn write their lines blocking: a pipe that fills while this thread waits for a
        # CPU (a loaded 2-core box) stops an nginx worker and every connection it holds. 1 MiB, the
        # unprivileged maximum, is seconds of lines instead of the default 64 KiB's half second.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self.write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._writer = _nonblocking_writer(out_fd)
        self._report = report
        self._backlog = bytearray()
        self._partial = b""
        self.dropped = 0  # lines dropped in all
        self._unreported = 0
        self._reported_at = 0.0
        self._stall_started: float | None = None  # when stdout last refused a write
        self._thread = threading.Thread(target=self._run, name="tandem-access-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        open_ = True
        while open_ or self._backlog:
            # Wake for new lines, or every 0.1 s while a backlog waits for stdout to drain.
            readable = select.select([self.read_fd] if open_ else [], [], [], 0.1 if self._backlog else None)[
                0
            ]
            if readable:
                open_ = self._take()
            self._flush()
            self._maybe_report()
            if not open_ and self._backlog and self._stalled_since_close():
                break  # stdout is gone or stuck for good: what is left is dropped
        if self._backlog:
            self._drop(self._backlog.count(b"\n"))
        self._maybe_report(force=True)
        self._writer.close()
        with contextlib.suppress(OSError):
            os.close(self.read_fd)

    def _take(self) -> bool:
        """Read what the servers wrote; False at the end (every writer closed the pipe)."""
        try:
            chunk = os.read(self.read_fd, CHUNK)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        data = self._partial + chunk
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if len(self._partial) > CHUNK:  # a runaway line without newline: cut it
            self._partial = b""
        self._backlog += data[:cut]
        if len(self._backlog) > BACKLOG:
            # Drop the oldest whole lines: stdout is not keeping up and the servers must not wait.
            cut_at = self._backlog.find(b"\n", len(self._backlog) - BACKLOG) + 1
            self._drop(self._backlog[:cut_at].count(b"\n"))
            del self._backlog[:cut_at]
        return True

    def _flush(self) -> None:
        while self._backlog:
            # Whole lines, at most PIPE_BUF at a time: a write that small to a pipe is all or nothing, so
            # access lines and tandem's own (written by another thread to the same stdout) never splice.
            cut = self._backlog.rfind(b"\n", 0, select.PIPE_BUF) + 1 or min(
                len(self._backlog), select.PIPE_BUF
            )
            try:
                written = self._writer.write(bytes(self._backlog[:cut]))
            except OSError:
                written = 0
                self._drop(self._backlog.count(b"\n"))
                self._backlog.clear()
            if written <= 0:
                self._stall_started = self._stall_started or time.monotonic()
                return
            self._stall_started = None
            del self._backlog[:written]

    def _stalled_since_close(self) -> bool:
        return self._stall_started is not None and time.monotonic() - self._stall_started > 2.0

    def _drop(self, lines: int) -> None:
        self.dropped += lines
        self._unreported += lines

    def _maybe_report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._unreported and self._report and (force or now - self._reported_at >= REPORT_EVERY):
            self._report(f"access log: {self._unreported:,} lines dropped (stdout is not keeping up)")
            self._unreported = 0
            self._reported_at = now

    def close(self, timeout: float = 3.0) -> None:
        """After the servers stopped: tandem's own end of the pipe closes, the rest is copied (bounded)."""
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        self._thread.join(timeout)
