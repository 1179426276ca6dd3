"""`tandem bench` for real on the example project, in a tiny configuration (seconds, not minutes).

These prove the benchmark works end to end — real servers started through `tandem serve`, real load,
the files written, everything stopped afterwards — not what the figures are: benchmarks are not tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.conftest import TandemRunner, example_env

# One second of warm-up: the first request in each Gunicorn worker loads Django's URLconf and middleware,
# which on a loaded machine can outlast a one-second measurement that starts cold. Two-second repeats: a
# repeat that completes no request fails the measurement, and on a loaded 2-core box one Daphne with 32
# connections can finish none within one second (wrk counts only requests that end inside the window).
TINY = ["--duration", "2", "--warmup", "1", "--fanout-messages", "5", "--repeat", "2"]


def leftovers(project: Path) -> list[str]:
    """Processes still running for this project: started in it, or naming it on their command line."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        with contextlib.suppress(psutil.Error):
            info = process.info
            if info["pid"] == os.getpid():
                continue
            cmdline = " ".join(info["cmdline"] or [])
            mine = str(project) in cmdline or (info["cwd"] or "").startswith(str(project))
            if mine and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{info['pid']} {cmdline[:120]}")
    return found


def bench_users(project: Path) -> int:
    with contextlib.closing(sqlite3.connect(project / "db.sqlite3")) as db:
        return int(
            db.execute("select count(*) from auth_user where username like 'tandem-bench-%'").fetchone()[0]
        )


def variant(data: dict[str, object], name: str) -> dict[str, object]:
    found = next(v for v in data["variants"] if v["name"] == name)  # type: ignore[union-attr, index]
    assert isinstance(found, dict)
    return found


def test_bench_smoke(example_project: Path, tandem: TandemRunner, nginx_bin: str) -> None:
    out, html = example_project / "bench.json", example_project / "bench.html"
    code, output = tandem.run(
        "bench", *TINY, "--modes", "unified,split", "--variants", "unified-1,split-tcp",
        "--fanout", "10", "--fanout-path", "/ws/chat/{room}/", "--max-conns", "50", "--json", str(out),
        "--report", str(html),
        cwd=example_project, timeout=150,
    )  # fmt: skip
    assert code == 0, output
    assert "Traceback" not in output
    data = json.loads(out.read_text())
    tool = "wrk" if shutil.which("wrk") else "python"
    assert data["http_tool"] == tool

    unified = variant(data, "unified-1")
    assert unified["status"] == "ok", unified
    assert 0 < unified["ready_s"] < 90
    [http] = unified["http"]
    assert http["tool"] == tool and http["error"] is None and http["requests_per_s"] > 0
    assert http["url"].endswith("/healthz") or http["url"].endswith("/")  # the project's own 2xx route
    assert len(http["samples"]) == 2 and http["errors"] == 0
    [echo] = unified["echo"]
    assert echo["error"] is None and echo["connected"] == 32 and echo["messages_per_s"] > 0
    assert echo["p50_ms"] is not None and echo["p99_ms"] >= echo["p50_ms"]
    [fan] = unified["fanout"]
    assert fan["error"] is None, fan
    counts = (fan["clients"], fan["connected"], fan["messages"], fan["complete"], fan["missing"])
    assert counts == (10, 10, 5, 5, 0)
    assert fan["last_p99_ms"] >= fan["last_p50_ms"] > 0
    assert 0 <= fan["within_bound"] <= fan["complete"]  # posts at every client within 500 ms
    [capacity] = [c for c in data["capacity"] if c["variant"] == "unified-1"]
    assert capacity["shares"] == [[10, fan["within_bound"] / 5]]
    assert "broadcast capacity, unified-1" in output
    conns = unified["conns"]
    assert conns["error"] is None and conns["reached"] == 50, conns
    assert conns["daphne_rss_after_kb"] >= conns["daphne_rss_before_kb"] > 0

    split = variant(data, "split-tcp")
    assert split["status"] == "ok", split
    http_targets = {h["target"]: h["requests_per_s"] > 0 for h in split["http"]}
    assert http_targets == {"public": True, "gunicorn-direct": True}
    echo_targets = {e["target"]: e["messages_per_s"] > 0 for e in split["echo"]}
    assert echo_targets == {"public": True, "daphne-direct": True}
    assert split["notes"] == []  # stopped cleanly: nothing had to be killed

    assert "targets" not in data  # tandem's own development targets stay in the repo's docs
    assert data["recommendation"]["mode"] in ("split", "unified", "undecided")
    assert data["machine"]["cores"] >= 1 and data["versions"]["Django"]
    assert data["versions"]["nginx"].startswith("nginx version")
    assert data["project"]["websocket_routes"] == ["/ws/chat/<str:room>/", "/ws/echo/"]

    text = html.read_text()
    assert text.count("<svg") >= 4 and "<script" not in text and "Targets" not in text
    assert "split-tcp" in text and "Recommendation" in text
    assert re.search(r"unified-1\s.*\s(ok|in-memory)", output)  # the terminal table
    assert f"wrote {out}" in output and f"wrote {html}" in output

    assert leftovers(example_project) == []
    assert bench_users(example_project) == 0


def test_bench_bad_input_keeps_measuring(example_project: Path, tandem: TandemRunner) -> None:
    """A topology that fails to start, no echo route at --ws-path, a fan-out route that does not broadcast,
    the Python fallback: each reported, none fatal."""
    env = example_env(example_project)
    env["TANDEM_NGINX"] = "/bin/false"  # found on PATH, but fails `nginx -t`: split cannot start
    out = example_project / "bench.json"
    code, output = tandem.run(
        "bench", *TINY, "--variants", "unified-1,split-unix", "--http-tool", "python",
        "--ws-path", "/ws/nope/", "--fanout", "3", "--fanout-path", "/ws/echo/?room={room}", "--json", str(out),
        cwd=example_project, env=env, timeout=120,
    )  # fmt: skip
    # split failed to start and unified-1's fan-out failed: nothing was measured cleanly.
    assert code == 7, output
    assert "Traceback" not in output
    data = json.loads(out.read_text())
    split = variant(data, "split-unix")
    assert split["status"] == "failed"
    assert "nginx rejected the generated config" in split["reason"]
    unified = variant(data, "unified-1")
    assert unified["status"] == "failed" and "no client received the first post" in unified["reason"]
    [http] = unified["http"]
    assert http["tool"] == "python" and http["requests_per_s"] > 0
    assert unified["echo"] == [] and unified["conns"] is None
    assert "no WebSocket route serves /ws/nope/" in data["skipped"]["echo"]
    assert "--ws-path" in data["skipped"]["echo"]
    # The echo route does not broadcast: the fan-out says so after the first post instead of waiting out
    # every message.
    [fan] = unified["fanout"]
    assert fan["connected"] == 0 and "no client received the first post" in fan["error"]
    assert bench_users(example_project) == 0
    assert "Python fallback" in output
    assert "split-unix: failed to start: nginx rejected the generated config" in output
    assert data["recommendation"]["mode"] == "undecided" and "no recommendation: unified-1 failed" in output
    assert leftovers(example_project) == []


def test_bench_nothing_measured(example_project: Path, tandem: TandemRunner) -> None:
    env = example_env(example_project)
    env["TANDEM_NGINX"] = "/bin/false"
    out = example_project / "bench.json"
    code, output = tandem.run(
        "bench",
        *TINY,
        "--variants",
        "split-unix",
        "--json",
        str(out),
        cwd=example_project,
        env=env,
        timeout=90,
    )
    assert code == 7, output
    assert "tandem: error: no topology could be measured (split-unix: nginx rejected" in output
    assert "Traceback" not in output
    assert variant(json.loads(out.read_text()), "split-unix")["status"] == "failed"
    assert leftovers(example_project) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--modes", "unified,hybrid"],
            "tandem: error: --modes: unknown mode 'hybrid'; choose from unified, split",
        ),
        (
            ["--variants", "split-udp"],
            "tandem: error: --variants: unknown variant 'split-udp'; choose from unified-1,",
        ),
        (["--fanout", "ten"], "tandem: error: --fanout: 'ten' is not a whole number; e.g. --fanout 100,1000"),
        (
            ["--variants", "split-tls"],
            "tandem: error: --variants: split-tls serves https and needs a certificate; add --tls self-signed, "
            "or --tls-cert FILE --tls-key FILE",
        ),
    ],
    ids=["mode", "variant", "fanout", "tls-variant-without-tls"],
)
def test_bench_usage_errors(
    example_project: Path, tandem: TandemRunner, args: list[str], message: str
) -> None:
    code, output = tandem.run("bench", *args, cwd=example_project, timeout=60)
    assert code == 2
    assert output.strip().splitlines() == [message] or output.strip().startswith(message), output
    assert "Traceback" not in output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_bench_interrupted_stops_everything(example_project: Path, tandem: TandemRunner, sig: int) -> None:
    run = tandem.start(
        "bench", "--variants", "unified-1", "--duration", "60", "--warmup", "0", "--http-tool", "python",
        "--max-conns", "0", "--fanout", "", cwd=example_project,
    )  # fmt: skip
    run.wait_for_line(r"unified-1: ready in", timeout=90)
    run.wait_for_line(r"unified-1: HTTP /\S* at public", timeout=30)
    run.proc.send_signal(sig)
    code = run.wait_exit(timeout=60)
    assert code == 130, run.output
    assert "Traceback" not in run.output
    assert leftovers(example_project) == []


def test_bench_handbuilt_next_to_tandem(
    example_project: Path, tandem: TandemRunner, nginx_bin: str, request: pytest.FixtureRequest
) -> None:
    """handbuilt-split: Gunicorn, Daphne and nginx started by hand as the Channels docs do, measured next to
    split-unix; both give 2xx figures, the ratio is printed, and nothing the bench started is left."""
    # The bench's temporary directories go under one of this test's own: other runs on the machine cannot
    # add to or take from what is checked.
    private_tmp = Path(tempfile.mkdtemp(prefix="tb-"))  # short: unix socket paths are made under it
    request.addfinalizer(lambda: shutil.rmtree(private_tmp, ignore_errors=True))
    out = example_project / "bench.json"
    code, output = tandem.run(
        "bench", "--variants", "handbuilt-split,split-unix", "--duration", "2", "--warmup", "1", "--repeat", "1",
        "--fanout", "", "--max-conns", "0", "--json", str(out),
        cwd=example_project, timeout=180, env={**example_env(example_project), "TMPDIR": str(private_tmp)},
    )  # fmt: skip
    assert code == 0, output
    assert "Traceback" not in output
    data = json.loads(out.read_text())
    for name in ("split-unix", "handbuilt-split"):
        found = variant(data, name)
        assert found["status"] == "ok", found
        [http] = found["http"]
        assert http["error"] is None and http["errors"] == 0 and http["requests_per_s"] > 0, http
        [echo] = found["echo"]
        assert echo["error"] is None and echo["connected"] == 32 and echo["messages_per_s"] > 0, echo
        assert found["notes"] == []  # stopped cleanly: nothing had to be killed
    assert variant(data, "handbuilt-split")["handbuilt"] is True
    kinds = {r["kind"]: r for r in data["ratios"]}
    assert kinds["http"]["top"] == "split-unix" and kinds["http"]["bottom"] == "handbuilt-split"
    assert kinds["http"]["ratio"] > 0 and kinds["echo"]["ratio"] > 0
    assert "tandem split-unix vs by hand as the Channels docs (http): " in output
    assert data["recommendation"]["mode"] == "undecided"  # one topology: nothing to compare
    assert leftovers(example_project) == []
    assert list(private_tmp.glob("tandem-handbuilt-*")) == []


def test_bench_tls_variants(
    example_project: Path, tandem: TandemRunner, nginx_bin: str, caddy_bin: str
) -> None:
    """--tls self-signed: split-tls (nginx) and split-caddy-tls started through tandem serve with its own
    certificate, HTTP over https and echo over wss with every answer 2xx or 101, the clients trusting the
    certificate serve wrote; the recommendation is not theirs to make."""
    out = example_project / "bench.json"
    code, output = tandem.run(
        "bench", "--tls", "self-signed", "--variants", "split-tls,split-caddy-tls", "--duration", "2",
        "--warmup", "1", "--repeat", "1", "--fanout", "", "--max-conns", "0", "--json", str(out),
        cwd=example_project, timeout=180, env={**example_env(example_project), "TANDEM_CADDY": caddy_bin},
    )  # fmt: skip
    assert code == 0, output
    assert "Traceback" not in output
    data = json.loads(out.read_text())
    assert [v["name"] for v in data["variants"]] == ["split-tls", "split-caddy-tls"]
    for found in data["variants"]:
        assert found["status"] == "ok" and found["tls"] is True, found
        [http] = found["http"]
        assert http["url"].startswith("https://127.0.0.1:"), http
        assert http["error"] is None and http["errors"] == 0 and http["requests"] > 0, http
        assert http["requests_per_s"] > 0
        [echo] = found["echo"]
        assert echo["url"].startswith("wss://127.0.0.1:") and echo["url"].endswith("/ws/echo/"), echo
        assert echo["error"] is None and echo["errors"] == 0 and echo["connected"] == 32, echo
        assert echo["messages"] > 0 and echo["messages_per_s"] > 0
        assert found["notes"] == []  # stopped cleanly: nothing had to be killed
    assert "TLS cost: split-tls (https, wss) vs split-unix (http): not measured (needs split-unix" in output
    assert data["recommendation"]["mode"] == "undecided"  # TLS variants never decide the topology
    assert leftovers(example_project) == []
