"""Pure parts of tandem verify: concrete paths from route patterns, static file choice, cache headers,
what a non-101 handshake answer means. The probes themselves run against real servers in
tests/integration/test_verify.py."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tandem.errors import UsageError
from tandem.verify import check_url, explain_refusal, parse_headers
from tandem.verify.http_probes import (
    Observed,
    _same_address,
    cache_lifetime,
    django_fingerprint,
    probe_hsts,
    proxy_evidence,
)
from tandem.verify.project import Discovered, OriginCheck, origin_check
from tandem.verify.results import FAIL, PASS, SKIP, WARN, Target
from tandem.verify.targets import (
    concrete_path,
    pick_from_manifest,
    pick_from_page,
    pick_static_file,
    static_url_for,
)
from tandem.verify.ws_probes import Refused, RouteProbe, explain_status


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
    # A 403 gets its hint from more evidence (explain_refusal): never a guess at ALLOWED_HOSTS here.
    assert (hint is None) is (status == 403)


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


def test_pick_from_manifest(tmp_path: Path) -> None:
    """The hashed name {% static %} links to, css first; no manifest or a broken one gives nothing."""
    assert pick_from_manifest(tmp_path) is None
    (tmp_path / "staticfiles.json").write_text("not json")
    assert pick_from_manifest(tmp_path) is None
    (tmp_path / "staticfiles.json").write_text(
        json.dumps(
            {"paths": {"app/x.js": "app/x.1a2b.js", "app/site.css": "app/site.9f8e.css"}, "version": "1.1"}
        )
    )
    assert pick_from_manifest(tmp_path) == "app/site.9f8e.css"


@pytest.mark.parametrize(
    ("html", "static_url", "asset"),
    [
        (
            '<link rel="stylesheet" href="/static/site.css?v=2"><script src="/static/a.js">',
            None,
            "/static/site.css",
        ),
        ('<script src="/static/a.js"></script><img src="/media/u.png">', "/static/", "/static/a.js"),
        ('<link rel="stylesheet" href="https://cdn.example.com/x.css">', None, None),
        ('<link rel="icon" href="/favicon.ico"><script src="//cdn/x.js">', None, None),
        ("<p>no assets</p>", None, None),
    ],
)
def test_pick_from_page(html: str, static_url: str | None, asset: str | None) -> None:
    assert pick_from_page(html, static_url) == asset


def test_origin_check_tells_which_validator() -> None:
    """Channels' own validators, evaluated here for the site's Origin."""
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import OriginValidator

    inner = URLRouter([])
    hosts = ("chat.example.com",)
    guarded = ProtocolTypeRouter({"websocket": OriginValidator(inner, list(hosts))})
    refused = origin_check(guarded, "https://other.example.com", hosts)
    assert not refused.accepts_site and "ALLOWED_HOSTS = ['chat.example.com']" in refused.validator
    assert origin_check(guarded, "https://chat.example.com", hosts).accepts_site
    custom = ProtocolTypeRouter({"websocket": OriginValidator(inner, ["https://app.example.com"])})
    assert origin_check(custom, "https://chat.example.com", hosts).validator.startswith("OriginValidator (")
    bare = origin_check(ProtocolTypeRouter({"websocket": inner}), "https://x", hosts)
    assert bare == OriginCheck("", True)


def refused_probe(status: int | None) -> RouteProbe:
    detail, hint = explain_status(status or 0, {}, "/ws/inbox/", "chat.example.com")
    return RouteProbe("/ws/inbox/", None, Refused(status, detail, hint))


@pytest.mark.parametrize(
    ("check", "others", "headers", "status", "words"),
    [
        (
            OriginCheck("AllowedHostsOriginValidator (ALLOWED_HOSTS = ['x'])", False),
            False,
            (),
            FAIL,
            "origin validator",
        ),
        (
            OriginCheck("AllowedHostsOriginValidator (ALLOWED_HOSTS = ['chat.example.com'])", True),
            False,
            (),
            SKIP,
            "needs authentication",
        ),
        (OriginCheck("", True), False, (), SKIP, "validates no Origin"),
        (None, True, (), SKIP, "another route accepted"),
        (None, True, (("Cookie", "sessionid=x"),), WARN, "even with the credentials"),
        (None, False, (), WARN, "either the origin validator"),
    ],
)
def test_a_403_is_explained_from_evidence(
    check: OriginCheck | None, others: bool, headers: tuple[tuple[str, str], ...], status: str, words: str
) -> None:
    target = Target("https://chat.example.com/", headers=headers)
    result = explain_refusal(refused_probe(403), Discovered(origin=check), others, target)
    assert result.status == status and words in result.detail, result
    if status == SKIP:
        assert result.hint and "--cookie" in result.hint and "ALLOWED_HOSTS" not in result.hint
    if status == FAIL:
        assert result.hint and "ALLOWED_HOSTS" in result.hint
    assert result.sent and "Origin https://chat.example.com" in result.sent


def test_non_403_refusals_keep_their_diagnosis() -> None:
    result = explain_refusal(refused_probe(404), Discovered(), True, Target("http://h/"))
    assert result.status == FAIL and "reached the HTTP handler" in result.detail


def test_parse_headers() -> None:
    assert parse_headers("sessionid=abc", ("Authorization: Bearer t",)) == (
        ("Cookie", "sessionid=abc"),
        ("Authorization", "Bearer t"),
    )
    assert parse_headers(None, ()) == ()
    for bad in ("no colon", ": empty name", "Bad Name: x"):
        with pytest.raises(UsageError):
            parse_headers(None, (bad,))


def test_credentials_are_named_never_shown() -> None:
    target = Target("http://h/", headers=(("Cookie", "sessionid=secret"),))
    assert target.credentials == " with Cookie" and "secret" not in target.credentials


@pytest.mark.parametrize(
    ("sent", "status", "words"),
    [
        (["max-age=600"], PASS, "max-age=600 (10 min)"),
        (["max-age=31536000; includeSubDomains; preload"], PASS, "(365 d); includeSubDomains; preload"),
        (['max-age="7200"'], PASS, "max-age=7200 (2 h)"),
        (["max-age=90", "max-age=90"], PASS, "max-age=90 (90 s)"),
        ([], SKIP, "HSTS is opt-in"),
        (["max-age=0"], SKIP, "forget HSTS"),
        (["includeSubDomains"], WARN, "without exactly one valid max-age"),
        (["max-age=1; max-age=2"], WARN, "without exactly one valid max-age"),
        (["max-age=soon"], WARN, "without exactly one valid max-age"),
        (["max-age=600", "max-age=60"], WARN, "sent 2 times with different values"),
    ],
)
def test_hsts_is_reported_never_required(sent: list[str], status: str, words: str) -> None:
    root = httpx.Response(200, headers=[("Strict-Transport-Security", value) for value in sent])
    result = probe_hsts(Target("https://chat.example.com/"), Observed(root=root))
    assert result is not None and result.status == status and words in result.detail, result
    assert result.sent is None  # read from the answer to GET /: nothing more goes on the wire
    if status == SKIP:
        assert result.hint and "--hsts" in result.hint


def test_hsts_only_over_https() -> None:
    root = httpx.Response(200, headers={"Strict-Transport-Security": "max-age=600"})
    assert probe_hsts(Target("http://chat.example.com/"), Observed(root=root)) is None
    assert probe_hsts(Target("https://chat.example.com/"), Observed()) is None
