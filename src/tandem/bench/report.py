"""The three outputs of a run: a terminal table (rich), a JSON file, a self-contained HTML file."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jinja2
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tandem.bench.capacity import capacities
from tandem.bench.charts import Chart, grouped_bars, millis, number
from tandem.bench.figures import DAPHNE_DIRECT, GUNICORN_DIRECT, OK, PUBLIC, VariantResult, spread, to_data
from tandem.bench.logcost import log_costs
from tandem.bench.ratios import server_ratios
from tandem.bench.runner import BenchReport


def report_data(report: BenchReport) -> dict[str, Any]:
    data: dict[str, Any] = to_data(report)
    # Derived from the variants, as the terminal prints them: --servers' and handbuilt-split's ratios.
    data["ratios"] = [{**to_data(r), "ratio": to_data(r.ratio)} for r in server_ratios(report.variants)]
    data["capacity"] = [{**to_data(c), "summary": c.summary()} for c in capacities(report.variants)]
    return data


def write_json(report: BenchReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_data(report), indent=2) + "\n", encoding="utf-8")


# --- charts ---------------------------------------------------------------------------------------------


def _label(variant: VariantResult, target: str) -> str:
    return variant.name if target == PUBLIC else f"{variant.name} ({target})"


def build_charts(report: BenchReport) -> list[Chart]:
    measured = [v for v in report.variants if v.status == OK]
    http = [(_label(v, f.target), f) for v in measured for f in v.http if f.error is None]
    echo = [(_label(v, f.target), f) for v in measured for f in v.echo if f.error is None]
    tool = "wrk" if report.http_tool == "wrk" else "Python fallback"
    charts = [
        grouped_bars(
            f"HTTP requests/s per topology ({tool})",
            [(name, [f.requests_per_s]) for name, f in http],
            ["req/s"],
            number,
        ),
        grouped_bars(
            "HTTP latency (ms)", [(name, [f.p50_ms, f.p99_ms]) for name, f in http], ["p50", "p99"], millis
        ),
        grouped_bars(
            "WebSocket echo messages/s per topology",
            [(name, [f.messages_per_s]) for name, f in echo],
            ["msg/s"],
            number,
        ),
        grouped_bars(
            "WebSocket echo latency (ms)",
            [(name, [f.p50_ms, f.p99_ms]) for name, f in echo],
            ["p50", "p99"],
            millis,
        ),
    ]
    fanned = [v for v in measured if any(f.error is None for f in v.fanout)]
    counts = sorted({f.clients for v in fanned for f in v.fanout})
    for which, title in (("last_p99_ms", "p99"), ("last_p50_ms", "p50")):
        groups = []
        for clients in counts:
            row: list[float | None] = []
            for variant in fanned:
                figure = variant.fanout_for(clients)
                row.append(getattr(figure, which) if figure else None)
            groups.append((f"{clients:,} clients", row))
        charts.append(
            grouped_bars(
                f"Fan-out: send to last receipt, {title} (ms), by clients in the room",
                groups,
                [v.name for v in fanned],
                millis,
                legend=True,
            )
        )
    conns = [(v.name, v.conns) for v in measured if v.conns and v.conns.error is None]
    charts.append(
        grouped_bars(
            "Concurrent WebSockets reached", [(n, [float(c.reached)]) for n, c in conns], ["open"], number
        )
    )
    return [c for c in charts if not c.empty]


def _fmt_ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "-"


def render_html(report: BenchReport) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.bench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        **vars(report),
        command_line=shlex.join(report.command),
        charts=build_charts(report),
        fmt_ms=_fmt_ms,
        spread=spread,
        ratios=server_ratios(report.variants),
    )


def write_html(report: BenchReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")


# --- terminal -------------------------------------------------------------------------------------------


def _rate(median: float, samples: tuple[float, ...]) -> str:
    """The median, and the min-max of the repeats under it."""
    text = f"{median:,.0f}"
    return text + (f"\n({min(samples):,.0f}-{max(samples):,.0f})" if len(samples) > 1 else "")


def _pair(a: float | None, b: float | None) -> str:
    return f"{a:.1f} / {b:.1f}" if a is not None and b is not None else "-"


def short_layer(layer: str) -> str:
    return "redis" if "Redis" in layer else "in-memory" if "InMemory" in layer else layer


def _rows(variant: VariantResult) -> list[list[str]]:
    layer = short_layer(variant.layer)
    if variant.status != OK:
        return [[variant.name, layer, "-", "", "", "", "", "", "", f"{variant.status}: {variant.reason}"]]
    rows = []
    for target in (PUBLIC, GUNICORN_DIRECT):
        http = next((f for f in variant.http if f.target == target), None)
        echo_target = PUBLIC if target == PUBLIC else DAPHNE_DIRECT
        echo = next((f for f in variant.echo if f.target == echo_target), None)
        if target != PUBLIC and http is None and echo is None:
            continue
        row = [
            variant.name if target == PUBLIC else "  direct (no nginx)",
            layer if target == PUBLIC else "",
            f"{variant.ready_s:.2f} s" if target == PUBLIC and variant.ready_s is not None else "",
        ]
        if http is None:
            row += ["", ""]
        elif http.error:
            row += ["failed", ""]
        else:
            row += [
                _rate(http.requests_per_s, http.samples) + ("*" if http.tool == "python" else ""),
                _pair(http.p50_ms, http.p99_ms),
            ]
        if echo is None:
            row += ["", ""]
        elif echo.error:
            row += ["failed", ""]
        else:
            row += [_rate(echo.messages_per_s, echo.samples), _pair(echo.p50_ms, echo.p99_ms)]
        if target == PUBLIC:
            fan = ", ".join(
                f"{f.clients}: failed" if f.error else f"{f.clients}: {_fmt_ms(f.last_p99_ms)}"
                for f in variant.fanout
            )
            conns = ""
            if variant.conns:
                c = variant.conns
                conns = (
                    "failed"
                    if c.error
                    else f"{c.reached:,}" + (f" ({c.kb_per_conn:.0f} KB)" if c.kb_per_conn else "")
                )
            row += [fan, conns, "; ".join(variant.notes) or "ok"]
        else:
            row += ["", "", ""]
        rows.append(row)
    return rows


def print_summary(report: BenchReport, console: Console) -> None:
    table = Table(title="tandem bench", title_justify="left", show_lines=False)
    for heading, justify in (
        ("variant", "left"), ("layer", "left"), ("ready", "right"), ("HTTP req/s", "right"),
        ("HTTP p50/p99 ms", "right"), ("echo msg/s", "right"), ("echo p50/p99 ms", "right"),
        ("fan-out p99", "left"), ("WS conns (KB each)", "right"), ("status", "left"),
    ):  # fmt: skip
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for variant in report.variants:
        for row in _rows(variant):
            table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    if report.http_tool == "python":
        console.print("* HTTP by the Python fallback, not wrk: the load generator is the bottleneck.")
    repeats = report.options.get("repeat", 1)
    if isinstance(repeats, int) and repeats > 1:
        console.print(f"HTTP and echo rates: the median of {repeats} runs, min-max under it.")
    for cost in log_costs(report.variants):
        console.print(cost.summary(), markup=False, highlight=False)
    for ratio in server_ratios(report.variants):
        console.print(ratio.summary(), markup=False, highlight=False)
    for capacity in capacities(report.variants):
        console.print(capacity.summary(), markup=False, highlight=False)
    for what, why in report.skipped.items():
        console.print(f"not measured: {what}: {why}", markup=False, highlight=False)
    rec = report.recommendation
    if rec is not None and rec.mode == "undecided":
        # No command to copy: a figure that failed or sits inside the noise recommends nothing.
        console.print(f"no recommendation: {rec.headline.removeprefix('no recommendation: ')}", markup=False)
    elif rec is not None:
        body = "\n".join([rec.command, *(f"- {r}" for r in rec.reasons), *(f"- {c}" for c in rec.caveats)])
        console.print(Panel(Text(body), title=Text(f"recommendation: {rec.headline}"), title_align="left"))
