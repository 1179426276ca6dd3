"""Printing a verify Report: a rich table for people, JSON for machines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tandem.verify import Report
from tandem.verify.results import FAIL, PASS, SKIP, WARN

_STYLES = {PASS: "bold green", FAIL: "bold red", WARN: "bold yellow", SKIP: "dim"}


def render(report: Report, console: Console) -> None:
    table = Table(title=f"tandem verify {report.url}", show_lines=False, expand=False)
    table.add_column("RESULT", no_wrap=True)
    table.add_column("CHECK", overflow="fold")
    table.add_column("DETAIL", overflow="fold")
    for result in report.results:
        detail = Text(result.detail)
        if result.hint and result.status in (FAIL, WARN, SKIP):
            detail.append(f"\nhint: {result.hint}", style="italic")
        if result.sent:
            detail.append(f"\nsent: {result.sent}", style="dim")
        table.add_row(Text(result.status, style=_STYLES[result.status]), result.name, detail)
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", style="dim")
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in (PASS, FAIL, WARN, SKIP) if counts[s])
    console.print(
        f"{'FAILED' if report.failed else 'OK'}: {summary}", style=_STYLES[FAIL if report.failed else PASS]
    )
