"""`tandem bench` on a corpus project with no /healthz and no echo route (tests/corpus/notes): loading a
page that 404s gives no figure and no recommendation, with a clear message; a real page gives figures.
Its consumer stores every frame it receives, so the bench must send it none. Tiny and bounded."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from tests.conftest import TandemRunner, clean_env
from tests.integration.test_bench_smoke import leftovers
from tests.integration.test_verify_corpus import corpus_project

TINY = ["--variants", "unified-1", "--duration", "1", "--warmup", "0", "--repeat", "2", "--max-conns", "0"]


def notes_written(project: Path) -> int:
    with sqlite3.connect(project / "db.sqlite3") as db:
        return int(db.execute("select count(*) from notes_note").fetchone()[0])


def bench(tandem: TandemRunner, project: Path, *args: str) -> tuple[int, str, dict[str, object]]:
    out = project / "bench.json"
    code, output = tandem.run(
        "bench", *TINY, *args, "--json", str(out), cwd=project, env=clean_env(), timeout=150
    )
    assert "Traceback" not in output, output
    return code, output, json.loads(out.read_text())


def test_a_missing_page_is_no_figure_and_no_recommendation(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("notes", tmp_path, migrate=True)
    code, output, data = bench(tandem, project, "--http-path", "/healthz")
    assert code == 7, output
    assert "answered HTTP 404, not 2xx" in output
    [one] = data["variants"]  # type: ignore[misc]
    assert one["status"] == "failed" and "HTTP 404" in one["reason"]
    [http] = one["http"]
    assert http["error"] and http["requests_per_s"] == 0 and http["p50_ms"] is None
    assert data["recommendation"]["mode"] == "undecided"  # type: ignore[index]
    assert "no recommendation: unified-1 failed" in output
    assert not re.search(r"(?<!no )recommendation:", output)
    assert not re.search(r"[\d,]+ req/s", output)  # the table header says req/s; no figure does
    # No route says it echoes: the WebSocket figures are skipped, and the storing consumer got nothing.
    assert "says it echoes" in data["skipped"]["echo"]  # type: ignore[index]
    assert "--fanout-path" in data["skipped"]["fanout"]  # type: ignore[index]
    assert notes_written(project) == 0
    assert leftovers(project) == []


def test_a_real_page_gives_figures(tmp_path: Path, tandem: TandemRunner) -> None:
    project = corpus_project("notes", tmp_path, migrate=True)
    code, output, data = bench(tandem, project, "--http-path", "/status/")
    assert code == 0, output
    [one] = data["variants"]  # type: ignore[misc]
    assert one["status"] == "ok", one
    [http] = one["http"]
    assert http["error"] is None and http["requests_per_s"] > 0 and len(http["samples"]) == 2
    assert "min-max" in output or "(" in output
    # Without --http-path the project's own page is found: "/" answers 200 here.
    code, output, data = bench(tandem, project)
    assert code == 0, output
    assert "HTTP path: / (the first of the project's GET routes that answered 2xx)" in output
    [one] = data["variants"]  # type: ignore[misc]
    assert one["http"][0]["url"].endswith(":" + one["http"][0]["url"].split(":")[-1])
    assert one["http"][0]["url"].rstrip("/").count("/") == 2  # http://host:port/
    assert notes_written(project) == 0
    assert leftovers(project) == []
