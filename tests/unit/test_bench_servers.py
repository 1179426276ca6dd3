"""`tandem bench --servers` and `--variants handbuilt-split`: which variants run, why one is skipped, the
ratios the report shows, what the recommendation may pick, and the hand-built nginx config (checked by the
real nginx)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from tandem.bench.figures import FAILED, OK, PUBLIC, SKIPPED, EchoFigure, HttpFigure, VariantResult
from tandem.bench.handbuilt import docs_workers, nginx_config, websocket_locations
from tandem.bench.options import parse_options
from tandem.bench.ratios import server_ratios
from tandem.bench.recommend import ProjectFacts, recommend
from tandem.bench.report import print_summary, report_data
from tandem.bench.runner import BenchReport
from tandem.bench.server import StartFailed
from tandem.bench.skips import HANDBUILT_KEY, server_skips, variant_skip
from tandem.bench.variants import HANDBUILT, SERVERS, select_variants, variant_table
from tandem.routes import Route, RouteTable

DEFAULTS = [
    "unified-1", "unified-1-log", "unified-n", "unified-1-redis", "split-unix", "split-unix-log", "split-caddy",
    "split-tcp", "split-redis",
]  # fmt: skip
SERVER_VARIANTS = [
    "split-granian",
    "split-granian-tcp",
    "split-gunicorn-asgi",
    "split-uvicorn",
    "unified-uvicorn",
    "unified-gunicorn-asgi",
]
FACTS = ProjectFacts(
    websocket_routes=2, http_routes=9, layer="InMemoryChannelLayer", cross_process_layer=False
)


def names(
    modes: tuple[str, ...] = ("unified", "split"), given: tuple[str, ...] = (), servers: bool = False
) -> list[str]:
    return [v.name for v in select_variants(variant_table(2), modes, given, servers=servers)]


# --- selection ------------------------------------------------------------------------------------------


def test_a_plain_run_has_neither_server_variants_nor_the_handbuilt_one() -> None:
    assert names() == DEFAULTS


def test_servers_adds_every_server_option_within_the_modes() -> None:
    assert names(servers=True) == DEFAULTS[:4] + DEFAULTS[4:] + SERVER_VARIANTS
    assert names(("split",), servers=True) == [
        *DEFAULTS[4:],
        "split-granian",
        "split-granian-tcp",
        "split-gunicorn-asgi",
        "split-uvicorn",
    ]
    # With --variants, --servers adds the server options to the ones named (the README's comparison run).
    assert names(given=("split-unix", "unified-1"), servers=True) == [
        "unified-1",
        "split-unix",
        *SERVER_VARIANTS,
    ]


def test_handbuilt_runs_only_when_named() -> None:
    assert "handbuilt-split" not in names(servers=True)
    assert names(given=("handbuilt-split", "split-unix")) == ["split-unix", "handbuilt-split"]
    assert names(given=("unified-uvicorn",)) == ["unified-uvicorn"]  # a server variant may be named alone


def test_servers_option_and_unknown_names() -> None:
    assert parse_options({"servers": True}).servers is True
    assert parse_options({}).servers is False
    assert parse_options({"variants": "handbuilt-split,split-granian"}).variants == (
        "handbuilt-split",
        "split-granian",
    )


def test_each_server_variant_passes_the_server_it_names_to_tandem_serve() -> None:
    table = {v.name: v for v in variant_table(2)}
    flags = {
        "split-granian": ("--http-server", "granian"),
        "split-granian-tcp": ("--http-server", "granian"),
        "split-gunicorn-asgi": ("--ws-server", "gunicorn-asgi"),
        "split-uvicorn": ("--ws-server", "uvicorn"),
        "unified-uvicorn": ("--server", "uvicorn"),
        "unified-gunicorn-asgi": ("--server", "gunicorn-asgi"),
    }
    for name, (flag, server) in flags.items():
        variant = table[name]
        args = variant.serve_args
        assert args[args.index(flag) + 1] == server and variant.runs == SERVERS
        assert variant.servers == (server,)
        # Each measures what its server serves: HTTP for the WSGI server, echo for the ASGI server.
        assert ("http" in variant.measure) == (flag != "--ws-server")
        assert ("echo" in variant.measure) == (flag != "--http-server")
    assert table["split-unix"].servers == () and HANDBUILT.servers == ()
    assert HANDBUILT.measure == {"http", "echo"} and HANDBUILT.serve_args == ()


# --- skips ----------------------------------------------------------------------------------------------


def test_a_server_whose_package_is_missing_is_skipped_with_the_install_line() -> None:
    variants = select_variants(variant_table(2), ("unified", "split"), (), servers=True)
    skip = server_skips(variants, lambda module: module != "granian")
    assert list(skip) == ["server granian"]
    assert skip["server granian"] == (
        "granian is not installed (its package granian cannot be imported): pip install 'django-tandem[servers]'"
    )
    table = {v.name: v for v in variants}
    assert variant_skip(table["split-granian"], skip) == skip["server granian"]
    assert variant_skip(table["split-uvicorn"], skip) is None
    assert variant_skip(table["split-unix"], skip) is None
    assert server_skips(variants, lambda module: True) == {}


def test_split_requirements_skip_the_server_and_handbuilt_variants_too() -> None:
    table = {v.name: v for v in variant_table(2)}
    no_nginx = {"split": "nginx is not installed (apt-get install nginx-light)"}
    assert variant_skip(table["split-uvicorn"], no_nginx) == no_nginx["split"]
    assert variant_skip(HANDBUILT, no_nginx) == no_nginx["split"]
    assert variant_skip(table["unified-uvicorn"], no_nginx) is None
    assert variant_skip(HANDBUILT, {HANDBUILT_KEY: "nginx not found"}) == "nginx not found"
    assert variant_skip(table["split-unix"], {HANDBUILT_KEY: "nginx not found"}) is None


# --- figures built by hand ------------------------------------------------------------------------------


def http(rps: float, *samples: float, error: str | None = None) -> HttpFigure:
    return HttpFigure(PUBLIC, "http://x/healthz", "wrk", rps, 5.0, 20.0, int(rps), 0, 10.0, 32, error=error,
                      samples=tuple(samples))  # fmt: skip


def echo(rate: float, *samples: float) -> EchoFigure:
    return EchoFigure(
        PUBLIC, "ws://x/ws/echo/", 32, 32, rate, 6.0, 25.0, int(rate), 0, 10.0, samples=tuple(samples)
    )


def result(name: str, **figures: object) -> VariantResult:
    variant = next(v for v in variant_table(2) if v.name == name)
    found = VariantResult(
        name=name, mode=variant.mode, description=variant.description, layer="InMemoryChannelLayer",
        cross_process_layer=False, procs=variant.procs,
        http_server=variant.http_server if variant.mode == "split" else None, ws_server=variant.ws_server,
        handbuilt=variant.handbuilt,
    )  # fmt: skip
    for key, value in figures.items():
        setattr(found, key, value)
    return found


def servers_run() -> list[VariantResult]:
    """Roughly the issue's figures: granian 2.6x Gunicorn, Gunicorn's ASGI worker 1.8x Daphne's echo."""
    return [
        result("unified-1", http=[http(500, 480, 520)], echo=[echo(2800, 2700, 2900)]),
        result("split-unix", http=[http(3150, 3100, 3200)], echo=[echo(2800, 2750, 2900)]),
        result("split-granian", http=[http(8270, 8100, 8800)]),
        result("split-gunicorn-asgi", echo=[echo(5100, 5000, 5200)]),
        result("split-uvicorn", echo=[echo(3500, 3400, 3600)]),
        result("unified-uvicorn", http=[http(700, 690, 710)], echo=[echo(4000, 3900, 4100)]),
        result("unified-gunicorn-asgi", http=[http(650, 600, 700)], echo=[echo(4500, 4400, 4600)]),
        result("handbuilt-split", http=[http(2100, 2000, 2200)], echo=[echo(2600, 2500, 2700)]),
    ]


def test_ratios_side_by_side() -> None:
    lines = [r.summary() for r in server_ratios(servers_run())]
    assert lines == [
        "best --http-server vs Gunicorn sync (split, HTTP): 2.63x (split-granian 8,270 req/s vs split-unix 3,150 req/s)",
        "best --ws-server vs Daphne (split, echo): 1.82x (split-gunicorn-asgi 5,100 msg/s vs split-unix 2,800 msg/s)",
        "best --server vs Daphne (unified, echo): 1.61x (unified-gunicorn-asgi 4,500 msg/s vs unified-1 2,800 msg/s)",
        "best --server vs Daphne (unified, HTTP): 1.40x (unified-uvicorn 700 req/s vs unified-1 500 req/s)",
        "tandem split-unix vs by hand as the Channels docs (http): 1.50x (split-unix 3,150 req/s vs handbuilt-split "
        "2,100 req/s)",
        "tandem split-unix vs by hand as the Channels docs (echo): 1.08x (split-unix 2,800 msg/s vs handbuilt-split "
        "2,600 msg/s)",
    ]


def test_a_ratio_appears_only_for_variants_in_the_run() -> None:
    assert (
        server_ratios([result("unified-1", http=[http(500)]), result("split-unix", http=[http(3000)])]) == []
    )
    [ratio] = server_ratios(
        [result("split-unix", http=[http(3000)]), result("split-granian", http=[http(7000)])]
    )
    assert ratio.ratio == pytest.approx(7000 / 3000)


def test_failed_answers_and_failed_variants_make_no_ratio() -> None:
    bad = result("split-granian", http=[http(0, error="12 answers were not 2xx or failed (first: HTTP 500)")])
    run = [result("split-unix", http=[http(3000)]), bad]
    [ratio] = server_ratios(run)
    assert ratio.ratio is None
    assert (
        ratio.summary()
        == "best --http-server vs Gunicorn sync (split, HTTP): not measured (no http figure from split-granian)"
    )
    skipped = result("split-granian")
    skipped.status, skipped.reason = SKIPPED, "granian is not installed"
    assert server_ratios([result("split-unix", http=[http(3000)]), skipped])[0].ratio is None
    # No baseline: the ratio says which figure is missing.
    [alone] = server_ratios([result("handbuilt-split", http=[http(2000)], echo=[echo(2000)])])[:1]
    assert alone.summary().endswith("not measured (needs split-unix in the same run)")


def test_report_prints_json_and_text_ratios() -> None:
    report = BenchReport(
        started="2026-01-01T00:00:00+00:00", command=["tandem", "bench", "--servers"], options={"repeat": 3},
        machine={"cores": 2}, versions={}, project={}, http_tool="wrk", skipped={}, variants=servers_run(),
    )  # fmt: skip
    data = report_data(report)
    assert [r["top"] for r in data["ratios"]][:2] == ["split-granian", "split-gunicorn-asgi"]
    assert data["ratios"][0]["ratio"] == pytest.approx(2.625, abs=1e-3)
    assert {v["name"]: v["http_server"] for v in data["variants"]}["split-granian"] == "granian"
    out = io.StringIO()
    print_summary(report, Console(file=out, width=200))
    assert "best --http-server vs Gunicorn sync (split, HTTP): 2.63x" in out.getvalue()
    assert "tandem split-unix vs by hand as the Channels docs (http): 1.50x" in out.getvalue()


# --- the recommendation ---------------------------------------------------------------------------------


def test_recommendation_picks_servers_beyond_the_spread() -> None:
    rec = recommend(servers_run(), FACTS)
    assert rec.mode == "split"
    assert rec.command == "tandem serve --mode split --http-server granian --ws-server gunicorn-asgi"
    assert "with --http-server granian --ws-server gunicorn-asgi" in rec.headline
    assert any(r.startswith("split-granian vs split-unix: HTTP 2.63x") for r in rec.reasons)
    # uvicorn's echo is 1.25x Daphne's: inside SERVER_WORTH, so named but not chosen.
    assert any(
        r.startswith("split-uvicorn vs split-unix: echo 1.25x") and "not beyond" in r for r in rec.reasons
    )


def test_handbuilt_is_never_recommended() -> None:
    run = [
        result("unified-1", http=[http(500)]),
        result("split-unix", http=[http(3000)]),
        result("handbuilt-split", http=[http(90000)]),
    ]
    rec = recommend(run, FACTS)
    assert rec.mode == "split" and "split-unix served" in rec.reasons[1]
    assert "handbuilt" not in rec.command
    only_handbuilt = recommend([result("unified-1", http=[http(500)]), run[2]], FACTS)
    assert only_handbuilt.mode == "undecided"


def test_a_server_wins_only_on_2xx_answers() -> None:
    # Its HTTP had non-2xx answers: the figure carries an error, so it cannot be chosen...
    run = servers_run()
    run[2] = result(
        "split-granian", http=[http(0, error="40 answers were not 2xx or failed (first: HTTP 502)")]
    )
    run[2].status, run[2].reason = FAILED, "measurement failed"
    assert recommend(run, FACTS).mode == "undecided"  # ...and a failed variant decides nothing at all
    # Even if a figure with an error were on a variant still marked ok, it is not a figure.
    run[2].status = OK
    rec = recommend(run, FACTS)
    assert "--http-server" not in rec.command and "--ws-server gunicorn-asgi" in rec.command


def test_unified_server_needs_a_win_and_no_loss() -> None:
    facts = ProjectFacts(
        websocket_routes=1, http_routes=0, layer="InMemoryChannelLayer", cross_process_layer=False
    )
    run = [
        result("unified-1", http=[http(500, 490, 510)], echo=[echo(2800, 2700, 2900)]),
        result("split-unix", http=[http(3000)]),
        # Echo 1.6x beyond the spread, HTTP slower beyond the spread: not chosen.
        result("unified-uvicorn", http=[http(300, 290, 310)], echo=[echo(4500, 4400, 4600)]),
    ]
    rec = recommend(run, facts)
    assert rec.mode == "unified" and rec.command == "tandem serve --procs 1"
    assert any("unified-uvicorn vs unified-1" in r and "slower on HTTP" in r for r in rec.reasons)
    run[2] = result("unified-uvicorn", http=[http(520, 500, 540)], echo=[echo(4500, 4400, 4600)])
    assert recommend(run, facts).command == "tandem serve --procs 1 --server uvicorn"


def test_unified_server_must_beat_the_several_daphnes_it_would_replace() -> None:
    facts = ProjectFacts(
        websocket_routes=1, http_routes=0, layer="RedisChannelLayer", cross_process_layer=True
    )
    run = [
        result("unified-1", http=[http(500, 490, 510)], echo=[echo(2800, 2700, 2900)]),
        result("unified-n", http=[http(1500, 1450, 1550)], echo=[echo(7000, 6900, 7100)]),
        result("split-unix", http=[http(3000)]),
        # 1.4x and 1.6x one Daphne, but well below the two Daphnes that would be recommended without it.
        result("unified-uvicorn", http=[http(700, 690, 710)], echo=[echo(4500, 4400, 4600)]),
    ]
    rec = recommend(run, facts)
    assert "--server" not in rec.command and "--procs 1" not in rec.command, rec.command
    assert any("unified-uvicorn vs unified-n" in r for r in rec.reasons), rec.reasons


def test_the_mode_is_decided_on_the_default_servers() -> None:
    """Granian's HTTP must not make split win over unified when Gunicorn's does not: the command would run
    Gunicorn unless Granian is also chosen."""
    run = [
        result("unified-1", http=[http(2800, 2750, 2850)], echo=[echo(2800, 2700, 2900)]),
        result("split-unix", http=[http(3150, 3100, 3200)], echo=[echo(2800, 2750, 2900)]),
        result("split-granian", http=[http(8270, 8100, 8800)]),
    ]
    rec = recommend(run, FACTS)
    assert rec.mode == "unified", (rec.headline, rec.reasons)
    assert any("split-unix served" in r for r in rec.reasons), rec.reasons


# --- the hand-built stack -------------------------------------------------------------------------------

CHAT = RouteTable(
    (
        Route("websocket", "ws/chat/<str:room>/", "/ws/chat/", "chat.consumers.ChatConsumer"),
        Route("websocket", "ws/echo/", "/ws/echo/", "chat.consumers.EchoConsumer"),
        Route("websocket", "live/", "/live/", "chat.consumers.Live"),
    ),
    (),
)


def test_websocket_locations_are_the_classic_first_segment() -> None:
    assert websocket_locations(CHAT) == ("/live/", "/ws/")
    with pytest.raises(StartFailed, match="no literal path prefix"):
        websocket_locations(RouteTable((Route("websocket", "^(?P<x>.+)$", "/", "app.C"),), ()))


def test_docs_workers() -> None:
    assert [docs_workers(n) for n in (0, 1, 2, 4)] == [3, 3, 5, 9]


def test_handbuilt_nginx_config_is_classic_and_valid(tmp_path: Path, nginx_bin: str) -> None:
    static = tmp_path / "static"
    static.mkdir()
    text = nginx_config(
        prefix=tmp_path, nginx_port=8081, gunicorn_port=8001, daphne_port=8002, ws_locations=("/ws/",),
        static_url="/static/", static_root=static,
    )  # fmt: skip
    assert "location /ws/ {\n            proxy_pass http://127.0.0.1:8002;" in text
    assert (
        'proxy_set_header Connection "upgrade";' in text and "proxy_set_header Upgrade $http_upgrade;" in text
    )
    assert "location / {\n            proxy_pass http://127.0.0.1:8001;" in text
    assert f"alias {static}/;" in text and "listen 127.0.0.1:8081;" in text and "access_log off;" in text
    assert "keepalive" not in text and "unix:" not in text  # what the docs write: no tuning
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    checked = subprocess.run(
        [nginx_bin, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_issue_targets_for_the_servers() -> None:
    from tandem.bench.targets import check_targets

    targets = {t.key: t for t in check_targets(servers_run(), max_conns=0, fanout_counts=())}
    http_target, ws_target = targets["http_server_over_gunicorn"], targets["ws_server_over_daphne"]
    assert (http_target.shown, http_target.met, http_target.wanted) == ("2.63x", True, ">= 2.00x")
    assert http_target.basis == "split-granian 8,270 req/s / split-unix 3,150 req/s"
    assert (ws_target.shown, ws_target.met) == ("1.82x", True)
    plain = {t.key: t for t in check_targets(servers_run()[:2], max_conns=0, fanout_counts=())}
    assert plain["http_server_over_gunicorn"].met is None
    assert plain["http_server_over_gunicorn"].basis == "needs tandem bench --servers with split-unix"


def test_issue_16_fanout_targets_take_one_daphne_and_the_fastest_one_process_server() -> None:
    from tandem.bench.figures import FanoutFigure, VariantResult
    from tandem.bench.targets import check_targets

    def one_process(name: str, p99: float, *, missing: int = 0) -> VariantResult:
        server = "daphne" if name == "unified-1" else name.removeprefix("unified-")
        variant = VariantResult(name, "unified", name, "InMemoryChannelLayer", False, 1, None, server)
        variant.fanout = [FanoutFigure(1000, 1000, 20, 20, missing, p99 / 2, p99, p99 / 3, p99 / 2, 2.0)]
        return variant

    run = [one_process("unified-1", 180.0), one_process("unified-uvicorn", 140.0, missing=3),
           one_process("unified-gunicorn-asgi", 149.0)]  # fmt: skip
    targets = {t.key: t for t in check_targets(run, max_conns=0, fanout_counts=(1000,))}
    daphne, fastest = targets["fanout_1000_daphne"], targets["fanout_1000_fastest"]
    assert (daphne.shown, daphne.met, daphne.wanted) == ("180.0 ms", True, "< 250 ms")
    # The lowest p99 counts, and receipts that never arrived make it unmet.
    assert (fastest.shown, fastest.met) == ("140.0 ms", False) and "3 receipts missing" in fastest.basis
    run[1] = one_process("unified-uvicorn", 160.0)
    fastest = {t.key: t for t in check_targets(run, max_conns=0, fanout_counts=(1000,))}[
        "fanout_1000_fastest"
    ]
    assert (fastest.shown, fastest.met) == ("149.0 ms", True) and fastest.basis.startswith(
        "unified-gunicorn-asgi"
    )
    unmeasured = {t.key: t for t in check_targets(run, max_conns=0, fanout_counts=(100,))}
    assert unmeasured["fanout_1000_fastest"].met is None


def test_http_servers_against_gunicorn_over_the_same_transport_and_reached_directly() -> None:
    # Through nginx each against Gunicorn over the same transport (over TCP Gunicorn's sync worker makes
    # nginx connect per request); then each reached directly, without nginx's share of the same cores.
    from tandem.bench.figures import GUNICORN_DIRECT
    from tandem.bench.targets import check_targets

    def both(public: float, direct: float) -> list[HttpFigure]:
        return [http(public), dataclasses.replace(http(direct), target=GUNICORN_DIRECT)]

    run = [
        result("split-unix", http=[http(2800)]),
        result("split-tcp", http=both(1300, 1250)),
        result("split-granian", http=[http(3400)]),
        result("split-granian-tcp", http=both(3750, 3800)),
    ]
    lines = [r.summary() for r in server_ratios(run)]
    assert lines == [
        "best --http-server vs Gunicorn sync (split, HTTP): 1.21x (split-granian 3,400 req/s vs split-unix 2,800 req/s)",
        "best --http-server vs Gunicorn sync, both over TCP (split, HTTP): 2.88x (split-granian-tcp 3,750 req/s vs "
        "split-tcp 1,300 req/s)",
        "best --http-server vs Gunicorn sync, each reached directly (split, HTTP, no nginx): 3.04x "
        "(split-granian-tcp 3,800 req/s vs split-tcp 1,250 req/s)",
    ]
    targets = {t.key: t for t in check_targets(run, max_conns=0, fanout_counts=())}
    met = [targets[f"http_server_over_gunicorn{suffix}"].met for suffix in ("", "_tcp", "_direct")]
    assert met == [False, True, True]
    # Without split-tcp in the run, the TCP ratios name what they need.
    without = server_ratios(run[:1] + run[2:])
    assert [r.missing for r in without[1:3]] == ["needs split-tcp's http figure"] * 2
