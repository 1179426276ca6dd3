"""Pure parts of `tandem bench`: wrk output, percentiles, option validation, variant selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.bench.figures import percentile, to_data
from tandem.bench.http_load import parse_wrk
from tandem.bench.measure import http_url, origin_of, ws_url
from tandem.bench.options import parse_options
from tandem.bench.skips import skip_reasons
from tandem.bench.variants import select_variants, variant_table
from tandem.errors import UsageError
from tandem.routes import Route, RouteTable

# Captured from wrk 4.1.0 (Debian) against a local server.
WRK_OK = """\
Running 1s test @ http://127.0.0.1:38123/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.43ms    2.55ms  22.64ms   87.61%
    Req/Sec     0.98k   180.56     1.21k    60.00%
  Latency Distribution
     50%    1.37ms
     75%    2.87ms
     90%    5.72ms
     99%   12.37ms
  975 requests in 1.00s, 515.26KB read
Requests/sec:    974.64
Transfer/sec:    515.08KB
"""

WRK_ERRORS = """\
Running 10s test @ http://127.0.0.1:8000/healthz
  2 threads and 32 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.90ms
     99%    1.02s
  46234 requests in 10.01s, 8.12MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:   4620.12
Transfer/sec:    830.00KB
tandem-bad: 7
tandem-first: HTTP 302
"""


def test_parse_wrk_real_output() -> None:
    out = parse_wrk(WRK_OK)
    assert out.requests_per_s == pytest.approx(974.64)
    assert out.p50_ms == pytest.approx(1.37)
    assert out.p99_ms == pytest.approx(12.37)
    assert out.requests == 975
    assert out.duration_s == pytest.approx(1.0)
    assert out.errors == 0


def test_parse_wrk_units_and_errors() -> None:
    out = parse_wrk(WRK_ERRORS)
    assert out.p50_ms == pytest.approx(0.812)
    assert out.p99_ms == pytest.approx(1020.0)
    # tandem's wrk script counts every answer that is not 2xx (the 302s too, which wrk itself does not).
    assert out.errors == 3 + 12 + 7
    assert out.first_error == "HTTP 302"
    assert out.duration_s == pytest.approx(10.01)
    without_script = parse_wrk(WRK_ERRORS.split("tandem-bad")[0])
    assert without_script.errors == 3 + 12 + 5 and without_script.first_error == "socket read errors"


def test_a_clean_wrk_run_has_no_first_error() -> None:
    assert parse_wrk(WRK_OK + "tandem-bad: 0\ntandem-first: \n").first_error is None


def test_parse_wrk_without_rate_is_an_error() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
        ([float(i) for i in range(1, 101)], 50, 50.0),
        ([float(i) for i in range(1, 11)], 99, 10.0),
        ([1.0, 100.0], 50, 1.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_urls_for_a_server() -> None:
    base = "http://127.0.0.1:8123/"
    assert http_url(base, "/healthz") == "http://127.0.0.1:8123/healthz"
    assert ws_url(base, "/ws/echo/") == "ws://127.0.0.1:8123/ws/echo/"
    assert ws_url("http://[::1]:9/", "/x") == "ws://[::1]:9/x"
    assert origin_of(base) == "http://127.0.0.1:8123"


def test_to_data_rounds_floats_and_walks_dataclasses() -> None:
    from tandem.bench.figures import HttpFigure

    figure = HttpFigure("public", "u", "wrk", 1234.56789, 1.23456, None, 10, 0, 1.0, 32)
    data = to_data({"f": [figure], "p": (1, 2)})
    assert data["f"][0]["requests_per_s"] == 1234.568
    assert data["f"][0]["p99_ms"] is None
    assert data["p"] == [1, 2]


# --- options --------------------------------------------------------------------------------------------


def test_defaults() -> None:
    options = parse_options({})
    assert options.modes == ("unified", "split")
    assert options.fanout == (100, 1000)
    assert options.max_conns == 8000
    # Taken from the project at run time, or given: never a path the project may not have.
    assert options.http_path is None and options.ws_path is None
    assert options.fanout_path is None  # no fan-out unless the user names a route speaking its protocol
    assert options.repeat == 3


def test_options_parse_lists() -> None:
    options = parse_options(
        {
            "modes": " split ",
            "variants": "split-tcp,split-unix",
            "fanout": "1000,10,10",
            "json_path": Path("x.json"),
        }
    )
    assert options.modes == ("split",)
    assert options.variants == ("split-tcp", "split-unix")
    assert options.fanout == (10, 1000)
    assert options.json_path == Path("x.json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"modes": "unified,hybrid"}, "--modes: unknown mode 'hybrid'"),
        ({"variants": "split-udp"}, "--variants: unknown variant 'split-udp'"),
        ({"duration": 0}, "--duration"),
        ({"duration": -1}, "--duration"),
        ({"warmup": -1}, "--warmup"),
        ({"fanout": "10,lots"}, "--fanout: 'lots' is not a whole number"),
        ({"fanout": "0"}, "--fanout: 0 must be at least 1"),
        ({"clients": 0}, "--clients"),
        ({"max_conns": -5}, "--max-conns"),
        ({"http_path": "healthz"}, "--http-path: 'healthz' must start with '/'"),
        ({"ws_path": "ws/echo/"}, "--ws-path"),
        ({"fanout_path": "/ws/chat/lobby/"}, "no {room} placeholder"),
        ({"http_tool": "ab"}, "--http-tool"),
    ],
)
def test_bad_options_name_the_option(raw: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_options(raw)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_empty_fanout_means_none() -> None:
    assert parse_options({"fanout": ""}).fanout == ()


# --- variants -------------------------------------------------------------------------------------------


def test_variant_table_uses_the_core_count() -> None:
    names = [v.name for v in variant_table(4)]
    assert names == [
        "unified-1", "unified-1-log", "unified-n", "unified-1-redis", "split-unix", "split-unix-log", "split-caddy",
        "split-tcp", "split-redis",
        # --tls (tests/unit/test_bench_tls.py)
        "split-tls", "split-caddy-tls",
        # --servers (tests/unit/test_bench_servers.py), then the hand-built reference, only when named
        "split-granian", "split-granian-tcp", "split-gunicorn-asgi", "split-uvicorn", "unified-uvicorn",
        "unified-gunicorn-asgi", "handbuilt-split",
    ]  # fmt: skip
    # Each access-log variant runs right after its pair without the log: a paired figure.
    for logged in (v for v in variant_table(4) if v.access_log):
        assert names[names.index(logged.name) - 1] == logged.pair_of
    many = next(v for v in variant_table(4) if v.name == "unified-n")
    assert many.procs == 4 and many.serve_args == ("--procs", "4") and many.redis
    # One core still compares two processes with one: the target is about two.
    assert next(v for v in variant_table(1) if v.name == "unified-n").procs == 2


@pytest.mark.parametrize(
    ("modes", "names", "expected"),
    [
        (
            ("unified", "split"),
            (),
            [
                "unified-1",
                "unified-1-log",
                "unified-n",
                "unified-1-redis",
                "split-unix",
                "split-unix-log",
                "split-caddy",
                "split-tcp",
                "split-redis",
            ],
        ),
        (("split",), (), ["split-unix", "split-unix-log", "split-caddy", "split-tcp", "split-redis"]),
        (("unified", "split"), ("split-tcp", "unified-1"), ["unified-1", "split-tcp"]),
        (("unified",), ("split-tcp", "unified-1"), ["unified-1"]),
    ],
)
def test_select_variants(modes: tuple[str, ...], names: tuple[str, ...], expected: list[str]) -> None:
    assert [v.name for v in select_variants(variant_table(2), modes, names)] == expected


def test_select_variants_nothing_left() -> None:
    with pytest.raises(UsageError, match="no variant left"):
        select_variants(variant_table(2), ("unified",), ("split-tcp",))


def test_only_split_over_tcp_measures_servers_directly() -> None:
    # Over unix sockets nothing but the proxy can reach the app servers.
    direct = [v for v in variant_table(2) if "direct" in v.measure]
    assert [v.name for v in direct] == ["split-tcp", "split-granian-tcp"]
    assert all(v.serve_args[:2] == ("--internal", "tcp") for v in direct)


# --- what cannot be measured ----------------------------------------------------------------------------

CHAT = RouteTable(
    (
        Route("websocket", "ws/chat/<str:room>/", "/ws/chat/", "chat.consumers.ChatConsumer"),
        Route("websocket", "ws/echo/", "/ws/echo/", "chat.consumers.EchoConsumer"),
    ),
    (),
)
NO_WS = RouteTable((), ())


def skips(table: RouteTable, nginx: bool = True, redis: bool = True, **raw: object) -> dict[str, str]:
    given: dict[str, object] = {"ws_path": "/ws/echo/", "fanout_path": "/ws/chat/{room}/", **raw}
    return skip_reasons(table, parse_options(given), nginx_found=nginx, redis_found=redis)


def test_nothing_skipped_on_the_example() -> None:
    assert skips(CHAT) == {}


def test_echo_route_missing_skips_echo_and_connections() -> None:
    found = skips(CHAT, ws_path="/ws/nope/")
    assert found["echo"] == (
        "no WebSocket route serves /ws/nope/ (routes: /ws/chat/<str:room>/, /ws/echo/); "
        "pass --ws-path with the path of an echo consumer"
    )
    assert "echo route" in found["conns"]
    assert "fanout" not in found


def test_no_websocket_routes_skips_every_websocket_figure() -> None:
    found = skips(NO_WS)
    assert found["echo"] == found["fanout"] == "the project has no WebSocket routes"
    assert "conns" in found


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"fanout": ""}, "fanout", "--fanout is empty"),
        ({"fanout_path": "/chat/{room}/"}, "fanout", "no WebSocket route serves /chat/{room}/"),
        ({"max_conns": 0}, "conns", "--max-conns 0"),
    ],
)
def test_options_that_skip(raw: dict[str, object], key: str, reason: str) -> None:
    assert skips(CHAT, **raw)[key].startswith(reason)


def test_missing_programs() -> None:
    found = skips(CHAT, nginx=False, redis=False)
    assert "apt-get install nginx-light" in found["split"]
    assert "apt-get install redis-server" in found["redis"]


def test_route_by_upgrade_serves_any_path() -> None:
    table = RouteTable((Route("websocket", "^(?P<x>.+)$", "/", "app.Consumer"),), ())
    assert skips(table, ws_path="/anything/", fanout_path="/x/{room}/") == {}


def test_no_fanout_without_a_fanout_path() -> None:
    found = skips(CHAT, fanout_path=None)
    assert "--fanout-path" in found["fanout"] and "README" in found["fanout"]


def test_no_echo_route_known() -> None:
    found = skips(CHAT, ws_path=None)
    assert "no WebSocket route says it echoes" in found["echo"] and "--ws-path" in found["echo"]
    assert "conns" in found
