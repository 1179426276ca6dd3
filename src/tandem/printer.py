"""Prints supervisor events: child output line by line, prefixed with the process name."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from tandem.events import Event, Kind

_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "bright_cyan", "bright_magenta", "bright_yellow")


class Printer:
    def __init__(
        self, names: tuple[str, ...], stream: TextIO | None = None, colour: bool | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        self.width = max([len(n) for n in names] + [len("tandem")])
        self.colour = self.stream.isatty() if colour is None else colour
        self.colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}

    def _prefix(self, name: str) -> str:
        label = f"{name:<{self.width}} |"
        if self.colour:
            return click.style(label, fg=self.colours.get(name, "white"), bold=not name or name == "tandem")
        return label

    def write(self, name: str, text: str) -> None:
        self.stream.write(f"{self._prefix(name or 'tandem')} {text}\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if event.kind is Kind.LINE:
            self.write(event.name, event.line)
        elif event.kind in (Kind.MESSAGE, Kind.RESTARTING):
            self.write("tandem", event.line)
        elif event.kind is Kind.STARTED:
            self.write("tandem", f"started {event.name} (pid {event.pid})")
        elif event.kind is Kind.UNRESPONSIVE:
            self.write("tandem", f"{event.name} stopped answering its probe: restarting it")
