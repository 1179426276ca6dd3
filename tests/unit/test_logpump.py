"""The access-log pump never blocks the servers: a stdout that stops reading costs dropped lines (counted and
reported), never a blocked write()."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from tandem.logpump import BACKLOG, PIPE_SIZE, LogPump


def test_lines_are_copied_whole_and_in_order() -> None:
    read_end, write_end = os.pipe()
    pump = LogPump(write_end)
    for n in range(100):
        os.write(pump.write_fd, b"line %d\n" % n)
    os.write(pump.write_fd, b"half a ")
    os.write(pump.write_fd, b"line\n")
    pump.close()
    os.close(write_end)
    out = b""
    while chunk := os.read(read_end, 65536):
        out += chunk
    assert out == b"".join(b"line %d\n" % n for n in range(100)) + b"half a line\n"
    assert pump.dropped == 0


def test_a_stdout_nobody_reads_never_blocks_the_writers() -> None:
    read_end, write_end = os.pipe()  # read_end is never read: stdout is stuck
    reports: list[str] = []
    pump = LogPump(write_end, reports.append)
    line = b"x" * 99 + b"\n"
    total = 20_000  # 2 MB: far more than the stuck pipe (64 KiB) and the backlog can hold
    started = time.monotonic()
    for _ in range(total):
        os.write(pump.write_fd, line)  # a blocked pump would block here once its pipe filled
    written_in = time.monotonic() - started
    pump.close(timeout=5)
    assert written_in < 10, f"the writers were held up for {written_in:.1f} s"
    kept = (64 * 1024 + BACKLOG) // len(line) + 1
    assert pump.dropped >= total - kept
    assert reports and "lines dropped (stdout is not keeping up)" in reports[-1]
    os.close(read_end)
    os.close(write_end)


def test_the_servers_pipe_holds_seconds_of_lines_while_the_pump_waits_for_a_cpu() -> None:
    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) < PIPE_SIZE:
        pytest.skip("this machine's fs.pipe-max-size is below 1 MiB (the pump keeps the default then)")
    read_end, write_end = os.pipe()
    pump = LogPump(write_end)
    try:
        assert fcntl.fcntl(pump.write_fd, fcntl.F_GETPIPE_SZ) == PIPE_SIZE == 1 << 20
    finally:
        pump.close()
        os.close(read_end)
        os.close(write_end)
