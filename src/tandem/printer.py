"""Prints what the supervisor reports: child output and tandem's own lines, prefixed with the process name.

Everything goes through one writer thread (tandem.output): the supervisor's loop and the readers of the
children's pipes only queue, so a slow or stalled terminal never holds up either.
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from tandem.accesslog import LABEL_WIDTH
from tandem.events import Event, Kind
from tandem.output import Item, Output

_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "bright_cyan", "bright_magenta", "bright_yellow")


class Printer:
    def __init__(
        self, names: tuple[str, ...], stream: TextIO | None = None, colour: bool | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        # The servers write their access lines themselves with the same column width (tandem.accesslog.label).
        self.width = max([len(n) for n in names] + [LABEL_WIDTH])
        self.colour = self.stream.isatty() if colour is None else colour
        self.colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}
        self.output = Output(self._write_batch)

    def _prefix(self, name: str) -> str:
        label = f"{name:<{self.width}} |"
        if self.colour:
            return click.style(label, fg=self.colours.get(name, "white"), bold=not name or name == "tandem")
        return label

    def _write_batch(self, items: list[Item]) -> None:
        text = []
        for name, line in items:
            if isinstance(line, bytes):
                line = line.decode("utf-8", "replace").rstrip("\r")
            text.append(line if name is None else f"{self._prefix(name)} {line}")
        self.stream.write("\n".join(text) + "\n")
        self.stream.flush()

    def start(self) -> None:
        """From here on, lines are written by the writer thread (before, at once)."""
        self.output.start()

    def close(self, timeout: float = 2.0) -> None:
        self.output.close(timeout)

    def write(self, name: str, text: str) -> None:
        self.output.message(name or "tandem", text)

    def raw(self, text: str) -> None:
        """A line without a prefix (``Ready: URL``, which scripts read)."""
        self.output.message(None, text)

    def child_lines(self, name: str, lines: list[bytes]) -> None:
        """A child's output lines, from its reader thread: dropped with a count if the terminal lags."""
        self.output.child_lines(name, lines)

    def __call__(self, event: Event) -> None:
        if event.kind in (Kind.MESSAGE, Kind.RESTARTING):
            self.write("tandem", event.line)
        elif event.kind is Kind.STARTED:
            self.write("tandem", f"started {event.name} (pid {event.pid})")
        elif event.kind is Kind.UNRESPONSIVE:
            self.write("tandem", f"{event.name} stopped answering its probe: restarting it")
