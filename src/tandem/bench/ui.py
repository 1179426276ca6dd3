"""Progress while a benchmark runs: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class RichUi:
    """Implements the runner's Ui protocol. Use as a context manager so the live display always stops."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichUi:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, total: int) -> None:
        self.task = self.progress.add_task("starting", total=total)

    def step(self, text: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=text)
        if not self.console.is_terminal:
            self.console.print(f"... {text}", markup=False, highlight=False)

    def advance(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
