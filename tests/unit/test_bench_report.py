"""Charts, HTML and JSON from a hand-built report: self-contained, escaped, complete."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from tandem.bench.charts import LABEL_WIDTH, PLOT_WIDTH, grouped_bars, number
from tandem.bench.figures import FAILED, GUNICORN_DIRECT
from tandem.bench.recommend import recommend
from tandem.bench.report import build_charts, print_summary, render_html, write_json
from tandem.bench.runner import BenchReport
from tandem.bench.targets import check_targets, variants_from_json
from tests.unit.test_bench_decisions import EXAMPLE_FACTS, http, reference_run, variant


def make_report() -> BenchReport:
    variants = reference_run()
    broken = variant("split-redis")
    broken.status, broken.reason = FAILED, "nginx rejected the generated config: <script>alert(1)</script>"
    variants.append(broken)
    report = BenchReport(
        started="2026-01-01T00:00:00+00:00",
        command=["tandem", "bench", "--report", "r.html"],
        options={"duration": 10.0},
        machine={"cores": 2, "cpu": "Test CPU"},
        versions={"Django": "5.2", "nginx": "nginx version: nginx/1.22.1", "wrk": None},
        project={"root": "/p", "settings": "chatsite.settings", "channel_layer": "InMemoryChannelLayer"},
        http_tool="wrk",
        skipped={"conns": "--max-conns 0"},
        variants=variants,
    )
    report.recommendation = recommend(variants, EXAMPLE_FACTS)
    return report


def test_bars_share_one_scale_from_zero() -> None:
    chart = grouped_bars("t", [("a", [100.0]), ("b", [50.0]), ("c", [None])], ["req/s"], number)
    assert [r.width for r in chart.rects] == [PLOT_WIDTH, PLOT_WIDTH / 2]
    assert all(r.x == LABEL_WIDTH for r in chart.rects)
    assert chart.rects[0].y < chart.rects[1].y
    assert chart.legend == ()  # one series: no legend
    assert [label.text for label in chart.labels if label.anchor == "end"] == ["a", "b", "c"]


def test_grouped_bars_and_legend() -> None:
    chart = grouped_bars("lat", [("a", [1.0, 4.0]), ("b", [2.0, 8.0])], ["p50", "p99"], number)
    assert len(chart.rects) == 4
    assert [name for *_, name in chart.legend] == ["p50", "p99"]
    assert chart.rects[0].colour != chart.rects[1].colour
    assert [r.width for r in chart.rects] == [PLOT_WIDTH / 8, PLOT_WIDTH / 2, PLOT_WIDTH / 4, PLOT_WIDTH]


def test_legend_wraps_instead_of_overflowing() -> None:
    names = [f"variant-{i}" for i in range(7)]
    chart = grouped_bars("fan", [("100 clients", [1.0] * 7)], names, number, legend=True)
    assert max(x for x, *_ in chart.legend) + 100 <= chart.width
    assert len({y for _, y, *_ in chart.legend}) > 1


def test_empty_chart() -> None:
    assert grouped_bars("t", [], ["x"], number).empty


def test_charts_cover_each_figure_kind() -> None:
    titles = [c.title for c in build_charts(make_report())]
    assert titles[0] == "HTTP requests/s per topology (wrk)"
    assert any(t.startswith("HTTP latency") for t in titles)
    assert any(t.startswith("WebSocket echo messages/s") for t in titles)
    assert any(t.startswith("Fan-out: send to last receipt, p99") for t in titles)
    assert any(t.startswith("Concurrent WebSockets") for t in titles)
    http_chart = build_charts(make_report())[0]
    labels = [label.text for label in http_chart.labels if label.anchor == "end"]
    assert labels == ["unified-1", "unified-n", "split-unix", "split-tcp", f"split-tcp ({GUNICORN_DIRECT})"]


def test_html_is_self_contained_and_escaped() -> None:
    html = render_html(make_report())
    assert html.count("<svg") >= 5
    assert "<script" not in html.replace("&lt;script&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Nothing fetched from elsewhere: no external scripts, stylesheets, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
    # One variant failed to start: no command to copy, and the report says which failed.
    assert "no recommendation: split-redis failed" in html
    assert "tandem serve --mode split" not in html
    clean = make_report()
    clean.variants = [v for v in clean.variants if v.status == "ok"]
    clean.recommendation = recommend(clean.variants, EXAMPLE_FACTS)
    assert "tandem serve --mode split" in render_html(clean)
    # tandem's own development targets are not the user's business: not in the report.
    assert "not met" not in html and "Targets" not in html
    assert "Test CPU" in html
    assert "tandem bench --report r.html" in html


def test_json_has_every_figure(tmp_path: Path) -> None:
    path = tmp_path / "out" / "bench.json"
    write_json(make_report(), path)
    data = json.loads(path.read_text())
    assert {"machine", "versions", "project", "variants", "recommendation", "skipped"} <= set(data)
    assert "targets" not in data
    one = next(v for v in data["variants"] if v["name"] == "unified-1")
    assert one["http"][0]["requests_per_s"] == 510
    assert one["fanout"][1]["clients"] == 1000
    assert one["conns"]["kb_per_conn"] == 37.5
    assert data["recommendation"]["mode"] == "undecided"  # split-redis failed to start


@pytest.mark.parametrize("tool", ["wrk", "python"])
def test_terminal_summary(tool: str) -> None:
    report = make_report()
    report.http_tool = tool
    if tool == "python":
        report.variants[0].http = [http(300, tool="python")]
    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "unified-1" in text and "split-tcp" in text and "direct (no nginx)" in text
    assert "failed: nginx rejected the generated" in text
    assert "no recommendation: split-redis failed" in text
    assert "not measured: conns: --max-conns 0" in text
    assert ("Python fallback" in text) is (tool == "python")
    # tandem's own development targets stay in docs/bench (python -m tandem.bench.targets), not here.
    assert "target" not in text.lower() and "not met" not in text


def test_development_targets_read_back_from_the_json(tmp_path: Path) -> None:
    """The targets left the report; developers check them from the JSON (python -m tandem.bench.targets)."""
    report = make_report()
    path = tmp_path / "bench.json"
    write_json(report, path)
    from_json = variants_from_json(json.loads(path.read_text()))
    assert [v.name for v in from_json] == [v.name for v in report.variants]
    direct = check_targets(report.variants, max_conns=8000, fanout_counts=(100, 1000))
    again = check_targets(from_json, max_conns=8000, fanout_counts=(100, 1000))
    assert [(t.key, t.met) for t in again] == [(t.key, t.met) for t in direct]


def test_access_log_cost_is_the_paired_ratio() -> None:
    from tandem.bench.figures import HttpFigure, VariantResult
    from tandem.bench.logcost import log_costs

    def variant(name: str, rate: float) -> VariantResult:
        result = VariantResult(name, "split", "", "InMemoryChannelLayer", False, None)
        result.http.append(
            HttpFigure("public", "http://x/", "wrk", rate, 1.0, 2.0, int(rate * 10), 0, 10.0, 32)
        )
        return result

    [cost] = log_costs(
        [variant("split-unix", 3000.0), variant("split-unix-log", 2940.0), variant("unified-1", 500)]
    )
    assert (cost.logged, cost.unlogged, round(cost.ratio, 2)) == ("split-unix-log", "split-unix", 0.98)
    assert cost.summary().endswith("split-unix 3,000 req/s: 0.98x")
