"""Child output between the pipes and the terminal: read in bulk, bounded, dropped with a count."""

from __future__ import annotations

import os
import threading
import time

from tandem.output import MAX_LINE, READ_SIZE, Item, Output, dropped_message, read_lines
from tests.conftest import wait_for


def test_read_lines_hands_over_whole_lines_in_batches() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"one\ntwo\nthr")
    batches: list[list[bytes]] = []
    reader = threading.Thread(target=read_lines, args=(read_fd, batches.append))
    reader.start()
    os.write(write_fd, b"ee\n" + b"x" * 200_000 + b"\nlast without newline")
    os.close(write_fd)
    reader.join(10)
    os.close(read_fd)
    lines = [line for batch in batches for line in batch]
    assert lines[:3] == [b"one", b"two", b"three"]
    # A runaway line is cut short, never held whole.
    pieces = lines[3:-1]
    assert pieces and all(len(p) <= READ_SIZE + MAX_LINE for p in pieces)
    assert lines[-1] == b"last without newline"
    assert len(batches) < len(lines)


def test_lines_beyond_the_bound_are_dropped_and_counted() -> None:
    written: list[Item] = []
    output = Output(written.extend, limit=10)  # not started: nothing is taken off the queue
    output.child_lines("gunicorn", [b"line %d" % i for i in range(25)])
    output.child_lines("daphne", [b"d"])
    assert output.dropped_total == 15
    output.start()
    output.close(timeout=5)
    texts = [line for _, line in written]
    assert texts.count(b"d") == 1
    assert len([t for t in texts if isinstance(t, bytes) and t.startswith(b"line")]) == 10
    assert ("tandem", dropped_message("gunicorn", 15)) in written
    assert (
        dropped_message("gunicorn", 1234) == "gunicorn: 1,234 lines dropped (output faster than the terminal)"
    )


def test_a_stalled_terminal_never_blocks_a_reader() -> None:
    """The writer thread is stuck in a write (a terminal that stopped reading): readers still return at
    once, the queue stays bounded, and tandem's own lines are kept."""
    release = threading.Event()
    written: list[Item] = []

    def stalled(items: list[Item]) -> None:
        release.wait(30)
        written.extend(items)

    output = Output(stalled, limit=100)
    output.start()
    output.child_lines("nginx", [b"first"])
    wait_for(lambda: output._pending["nginx"] == 0, timeout=5, message="the writer to take the first line")
    started = time.monotonic()
    for _ in range(1000):
        output.child_lines("nginx", [b"x"] * 100)
    assert time.monotonic() - started < 2.0
    output.message("tandem", "stopping")
    assert output.dropped_total >= 1000 * 100 - 100
    release.set()
    output.close(timeout=5)
    assert ("tandem", "stopping") in written
    assert any(isinstance(line, str) and "lines dropped" in line for _, line in written)


def test_messages_before_start_are_written_at_once() -> None:
    written: list[Item] = []
    Output(written.extend).message("tandem", "collecting static files")
    assert written == [("tandem", "collecting static files")]
