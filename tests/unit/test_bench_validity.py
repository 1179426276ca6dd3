"""A benchmark figure is only a figure when every request succeeded: repeats combined into a median with
min-max, failures turned into failed measurements, paths taken from the project (pure)."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import include, path, re_path

from tandem.bench.figures import (
    PUBLIC,
    EchoFigure,
    HttpFigure,
    VariantResult,
    combine_echo,
    combine_http,
    median,
)
from tandem.bench.measure import fanout_figure
from tandem.bench.options import parse_options
from tandem.bench.paths import echo_route, literal_paths, pick_http_path
from tandem.errors import UsageError
from tandem.routes import Route, RouteTable


def run(rps: float, errors: int = 0, first: str | None = None, p50: float = 2.0) -> HttpFigure:
    return HttpFigure(
        PUBLIC, "http://x/", "wrk", rps, p50, p50 * 4, int(rps), errors, 1.0, 32, first_error=first
    )


def test_repeats_become_a_median_with_min_max() -> None:
    figure = combine_http([run(900, p50=3.0), run(1000, p50=2.0), run(1200, p50=1.0)])
    assert figure.error is None
    assert figure.requests_per_s == 1000 and figure.samples == (900, 1000, 1200)
    assert (figure.low, figure.high) == (900, 1200)
    assert figure.p50_ms == 2.0
    assert "min-max 900-1,200 of 3" in figure.summary()


def test_any_bad_answer_fails_the_whole_measurement() -> None:
    """The issue's run: wrk against a 404 page printed 256 errors and a rate. Now: no rate at all."""
    figure = combine_http([run(4000), run(4100, errors=256, first="HTTP 404"), run(3900)])
    assert figure.error is not None and "256" in figure.error and "HTTP 404" in figure.error
    assert figure.requests_per_s == 0.0 and figure.p50_ms is None and figure.samples == ()
    assert figure.summary().startswith("HTTP at public failed:")
    result = VariantResult("unified-1", "unified", "", "InMemoryChannelLayer", False, 1, http=[figure])
    assert result.http_at() is None  # nothing downstream can use it
    assert result.failed_measurements() == [figure.summary()]


def test_a_repeat_that_completed_nothing_fails_the_measurement() -> None:
    """A 1 s wrk sample on a loaded machine finished no request and counted no error: its 0 req/s is no
    rate, and next to a real one it made a median of half and a min of 0 (which the recommendation then
    divided by)."""
    figure = combine_http([run(0), run(30)])
    assert figure.error is not None and "repeat 1 of 2 completed no request" in figure.error
    assert figure.requests_per_s == 0.0 and figure.samples == () and figure.p50_ms is None
    echo = combine_echo([echo_run(120), echo_run(0)])
    assert echo.error is not None and "repeat 2 of 2 echoed no message" in echo.error
    assert echo.messages_per_s == 0.0 and echo.samples == ()


def echo_run(rate: float, connected: int = 32, errors: int = 0, first: str | None = None) -> EchoFigure:
    return EchoFigure(PUBLIC, "ws://x/", 32, connected, rate, 1.0, 3.0, int(rate), errors, 1.0, first)


def test_echo_repeats_and_failures() -> None:
    good = combine_echo([echo_run(100), echo_run(300), echo_run(200)])
    assert good.error is None and good.messages_per_s == 200 and good.samples == (100, 300, 200)
    short = combine_echo([echo_run(100), echo_run(90, connected=30, first="handshake answered HTTP 403")])
    assert short.error is not None and "2 of 32 clients could not connect" in short.error
    assert "HTTP 403" in short.error and short.messages_per_s == 0.0
    wrong = combine_echo(
        [echo_run(100, errors=32, first="the route answered 'ok' instead of the frame sent")]
    )
    assert wrong.error is not None and "instead of the frame sent" in wrong.error


def fanout_out(**changes: object) -> dict[str, object]:
    """What the fan-out job reports for 10 listeners and 5 posts, every receipt in."""
    out: dict[str, object] = {
        "connected": 10, "messages": 5, "complete": 5, "missing": 0, "last_p50_ms": 4.0,
        "last_p99_ms": 9.0, "each_p50_ms": 2.0, "each_p99_ms": 8.0, "connect_s": 0.4,
        "join_failures": 0, "first_failure": None,
    }  # fmt: skip
    return {**out, **changes}


def test_a_fanout_with_every_receipt_is_a_figure() -> None:
    figure = fanout_figure(10, fanout_out(), 10.0)
    assert figure.error is None and figure.last_p99_ms == 9.0 and figure.complete == 5


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"join_failures": 2, "first_failure": "HTTP 403"},
            "2 listener handshake(s) failed (first: HTTP 403)",
        ),
        ({"connected": 7}, "only 7 of 10 listeners joined"),
        # A listener whose socket dropped mid-run: its receipts never came, the others' latencies did.
        (
            {"complete": 3, "missing": 4},
            "4 receipt(s) never arrived within 10 s: 3 of 5 posts reached all 10",
        ),
    ],
)
def test_a_fanout_that_lost_anything_is_a_failed_measurement(changes: dict[str, object], words: str) -> None:
    figure = fanout_figure(10, fanout_out(**changes), 10.0)
    assert figure.error is not None and words in figure.error, figure
    assert figure.last_p50_ms is None and figure.last_p99_ms is None and figure.each_p99_ms is None
    assert figure.summary().startswith("fan-out to 10 failed:")
    result = VariantResult("unified-1", "unified", "", "InMemoryChannelLayer", False, 1, fanout=[figure])
    assert result.fanout_for(10) is None and result.failed_measurements() == [figure.summary()]


def test_median() -> None:
    assert median([]) is None
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5


@pytest.mark.parametrize("repeat", [0, 21])
def test_repeat_is_bounded(repeat: int) -> None:
    with pytest.raises(UsageError, match="--repeat"):
        parse_options({"repeat": repeat})


def view(request: object) -> None:  # never called: only the URL patterns are read
    return None


def test_literal_paths_from_a_urlconf() -> None:
    patterns = [
        path("", view),
        path("login/", view),
        path("logout/", view),  # a GET that changes state on many sites: never loaded
        path("room/<str:name>/", view),  # needs a value tandem would have to invent
        re_path(r"^about/$", view),
        re_path(r"^(?P<slug>\w+)/$", view),
        path("api/", include([path("status/", view), path("items/<int:pk>/", view)])),
        path("admin/", include(([path("", view)], "admin"), namespace="admin")),
    ]
    assert literal_paths(patterns) == ["/", "/login/", "/about/", "/api/status/"]


def test_pick_http_path_takes_the_first_2xx() -> None:
    answers = {
        "http://h/": "GET http://h/ answered HTTP 302 -> /login/, not 2xx",
        "http://h/login/": None,
    }
    chosen, tried = pick_http_path("http://h/", ["/", "/login/", "/about/"], answers.__getitem__)
    assert chosen == "/login/" and tried == ["GET http://h/ answered HTTP 302 -> /login/, not 2xx"]
    nothing, tried = pick_http_path("http://h/", ["/"], lambda url: "GET answered HTTP 404, not 2xx")
    assert nothing is None and tried == ["GET answered HTTP 404, not 2xx"]


def test_echo_route_only_when_the_project_says_echo() -> None:
    chat = Route("websocket", "ws/chat/<str:room>/", "/ws/chat/", "chat.consumers.ChatConsumer")
    notes = Route("websocket", "ws/notes/", "/ws/notes/", "notes.consumers.NotesConsumer")
    echo = Route("websocket", "ws/echo/", "/ws/echo/", "chat.consumers.EchoConsumer")
    assert echo_route(RouteTable((chat, echo), ())) == "/ws/echo/"
    # A consumer that stores every frame is never guessed to be an echo route.
    assert echo_route(RouteTable((chat, notes), ())) is None
    assert echo_route(RouteTable((), ())) is None


@pytest.mark.parametrize("enabled_before", [True, False])
def test_fanout_posts_are_timed_with_the_load_generators_collector_paused(enabled_before: bool) -> None:
    # A full collection in the process holding every client would be charged to the server's broadcast.
    import gc

    from tandem.bench.fanout import _collector_paused

    if not enabled_before:
        gc.disable()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled_before
        with pytest.raises(RuntimeError), _collector_paused():
            raise RuntimeError("a post refused")
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()


def test_a_direct_figure_names_the_side_not_the_seed_server() -> None:
    """split-granian-tcp's direct figure is Granian's: printed as the WSGI server, not "gunicorn-direct"."""
    from tandem.bench.figures import DAPHNE_DIRECT, GUNICORN_DIRECT, EchoFigure

    figure = dataclasses.replace(combine_http([run(6000)]), target=GUNICORN_DIRECT)
    assert figure.summary().startswith("HTTP at the WSGI server directly: 6,000 req/s")
    echo = EchoFigure(DAPHNE_DIRECT, "ws://x", 50, 50, 3000.0, 1.0, 2.0, 9000, 0, 3.0)
    assert echo.summary().startswith("WebSocket echo at the ASGI server directly: 3,000 msg/s")
