"""``tandem bench`` end to end: validate options, run with progress, print the table, write the files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console

from tandem.bench.options import parse_options
from tandem.bench.report import print_summary, write_html, write_json
from tandem.bench.runner import BenchReport, NothingMeasured, run_bench
from tandem.bench.ui import RichUi


def _outputs(report: BenchReport, raw: Mapping[str, Any], out: Console) -> None:
    print_summary(report, out)
    if raw.get("json_path"):
        write_json(report, raw["json_path"])
        out.print(f"wrote {raw['json_path']}", markup=False, highlight=False)
    if raw.get("report_path"):
        write_html(report, raw["report_path"])
        out.print(f"wrote {raw['report_path']}", markup=False, highlight=False)


def bench(raw: Mapping[str, Any], environ: Mapping[str, str], argv: list[str]) -> int:
    """Returns 0 once at least one variant was measured; raises TandemError subclasses otherwise."""
    options = parse_options(raw)
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=150)  # a file or pipe: wide enough to keep the table readable
    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        err = Console(stderr=True, highlight=False, width=150)  # progress lines unwrapped in logs
    with RichUi(err) as ui:
        try:
            report = run_bench(options, environ, ui, argv)
        except NothingMeasured as exc:
            # Still worth the table and the files: they say why each variant did not run.
            _outputs(exc.report, raw, out)
            raise
    _outputs(report, raw, out)
    return 0
