"""Pure parts of tandem verify: concrete paths from route patterns, static file choice, cache headers,
what a non-101 handshake answer means. The probes themselves run against real servers in
tests/integration/test_verify.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tandem.errors import UsageError
from tandem.verify import check_url
from tandem.verify.http_probes import _same_address, cache_lifetime, django_fingerprint, proxy_evidence
from tandem.verify.results import Target
from tandem.verify.targets import concrete_path, pick_static_file, static_url_for
from tandem.verify.ws_probes import explain_status


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("ws/echo/", "/ws/echo/"),
        ("ws/chat/<str:room>/", "/ws/chat/tandem-verify/"),
        ("ws/<int:id>/<slug:s>/", "/ws/1/tandem-verify/"),
        ("ws/<uuid:u>/", "/ws/00000000-0000-4000-8000-000000000000/"),
        ("ws/<name>/", "/ws/tandem-verify/"),
        ("^ws/echo/$", "/ws/echo/"),
        (r"^ws/a\.b/$", "/ws/a.b/"),
        (r"^ws/(?P<room>\w+)/$", None),
        (r"^ws/\d+/$", None),
        ("", "/"),
    ],
)
def test_concrete_path(pattern: str, path: str | None) -> None:
    assert concrete_path(pattern) == path


@pytest.mark.parametrize(
    ("static_url", "relative", "url"),
    [
        ("/static/", "app/site.css", "/static/app/site.css"),
        ("static/", "app/site.css", "/static/app/site.css"),
        ("/assets", "x.js", "/assets/x.js"),
        ("https://cdn.example.com/s/", "x.js", "https://cdn.example.com/s/x.js"),
    ],
)
def test_static_url_for(static_url: str, relative: str, url: str) -> None:
    assert static_url_for(static_url, relative) == url


def test_pick_static_file_prefers_small_css(tmp_path: Path) -> None:
    assert pick_static_file(tmp_path) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(b"png")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big.css").write_text("x" * 70000)
    (tmp_path / "a" / "empty.css").write_text("")
    assert pick_static_file(tmp_path) == "a/big.css"
    (tmp_path / "z.css").write_text("body{}")
    (tmp_path / "z.css.gz").write_bytes(b"gz")
    assert pick_static_file(tmp_path) == "z.css"


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "cached"),
    [
        ({"cache-control": "max-age=3600, public"}, True),
        ({"cache-control": "public, s-maxage=60"}, True),
        ({"cache-control": "public, immutable"}, True),
        ({"cache-control": "max-age=0"}, False),
        ({"cache-control": "no-cache"}, False),
        ({"cache-control": "max-age=3600, no-store"}, False),
        ({"expires": "Wed, 01 Jan 2098 00:00:00 GMT"}, True),
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, False),
        ({"expires": "garbage"}, False),
        ({"last-modified": "Wed, 01 Jan 2020 00:00:00 GMT"}, False),
    ],
)
def test_cache_lifetime(headers: dict[str, str], cached: bool) -> None:
    assert (cache_lifetime(httpx.Headers(headers), now=NOW) is not None) is cached


def test_django_fingerprint() -> None:
    page = httpx.Headers({"x-frame-options": "DENY", "referrer-policy": "same-origin"})
    assert django_fingerprint(
        httpx.Headers({"x-frame-options": "DENY", "referrer-policy": "same-origin"}), page
    )
    assert django_fingerprint(httpx.Headers({"x-frame-options": "DENY"}), page) == []
    assert django_fingerprint(httpx.Headers({}), page) == []
    assert django_fingerprint(httpx.Headers({"x-frame-options": "DENY"}), None) == []


def test_proxy_evidence() -> None:
    target = Target("http://127.0.0.1:8000/")
    direct = {"headers": {"Host": "127.0.0.1:8000"}, "server_address": ["127.0.0.1", 8000]}
    assert proxy_evidence(direct, httpx.Response(200), target, sent=set()) == []
    proxied = {"headers": {"X-Real-Ip": "127.0.0.1"}, "server_address": ["/run/daphne.sock", None]}
    evidence = proxy_evidence(
        proxied, httpx.Response(200, headers={"server": "nginx/1.22"}), target, sent=set()
    )
    assert len(evidence) == 3
    assert proxy_evidence(proxied, httpx.Response(200), target, sent={"x-real-ip"}) == [
        "the app server listens on /run/daphne.sock"
    ]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (404, "reached the HTTP handler"),
        (200, "reached the HTTP handler"),
        (400, "reached the HTTP handler"),
        (403, "refused with 403"),
        (502, "cannot reach the WebSocket server"),
        (500, "ASGI application raised"),
    ],
)
def test_explain_status(status: int, words: str) -> None:
    detail, hint = explain_status(status, {"content-type": "text/html"}, "/ws/echo/", "example.com")
    assert words in detail
    assert hint


def test_check_url() -> None:
    assert check_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/"
    assert check_url("https://example.com/app/") == "https://example.com/app/"
    for bad in ("ftp://x/", "example.com", "http:///nohost"):
        with pytest.raises(UsageError):
            check_url(bad)


def test_same_address() -> None:
    assert _same_address("127.0.0.1", "::ffff:127.0.0.1")
    assert _same_address("::1", "[::1]")
    assert not _same_address("127.0.0.1", "10.0.0.1")
    assert not _same_address(None, "127.0.0.1")


def test_target_urls() -> None:
    target = Target("https://chat.example.com:8443/app/")
    assert target.origin == "https://chat.example.com:8443"
    assert target.ws_url("/ws/echo/") == "wss://chat.example.com:8443/ws/echo/"
    assert target.http_url("/static/x.css") == "https://chat.example.com:8443/static/x.css"
    assert target.port == 8443
    assert Target("http://h/").port == 80
