"""tandem verify's WebSocket diagnoses against a real WebSocket server on loopback (the ``websockets``
library's, port 0): the route's handler records every data frame it receives, so "read-only" is checked
where a consumer would see it, and each route closes the way a failing deployment does (1011 with a reason,
a dropped connection). The static asset verify asks for is chosen from what the project has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tandem.verify.project import ADMIN_CSS, _static_asset
from tandem.verify.results import FAIL, PASS, Target
from tandem.verify.ws_probes import ServerFacts, probe_idle, probe_route

LAYER_TIMEOUT = "channel layer read timed out"


@dataclass
class Site:
    url: str
    received: list[object] = field(default_factory=list)  # data frames any route's handler got


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """Routes: /ws/quiet/ stays open, /ws/echo/ sends each frame back; /ws/crash/ closes 1011 with a reason right after the handshake;
    /ws/late-crash/ and /ws/dropped/ do so (or drop the TCP connection, no close frame) after 0.3 s."""
    found = Site("")

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path == "/ws/crash/":
            await ws.close(1011, LAYER_TIMEOUT)
            return
        if path in ("/ws/late-crash/", "/ws/dropped/"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # wait-ok: the route's own delay before it fails
            if path == "/ws/dropped/":
                ws.transport.abort()  # as a proxy's read timeout does: no close frame
            else:
                await ws.close(1011, LAYER_TIMEOUT)
            return
        async for message in ws:  # a consumer's receive(): pings never arrive here, data frames do
            found.received.append(message)
            if path == "/ws/echo/":
                await ws.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        found.url = f"http://127.0.0.1:{port}/"
        yield found


async def test_a_ping_reaches_no_consumer(site: Site) -> None:
    probe = await probe_route(Target(site.url), "/ws/quiet/", echo=False, facts=ServerFacts())
    assert probe.result is not None and probe.result.status == PASS, probe.result
    assert probe.result.sent and "ping control frame" in probe.result.sent
    assert "text frame" not in probe.result.sent
    assert site.received == []  # the handler's receive loop saw nothing


async def test_an_echo_route_named_by_the_user_gets_one_frame(site: Site) -> None:
    probe = await probe_route(Target(site.url), "/ws/echo/", echo=True, facts=ServerFacts())
    assert probe.result is not None and probe.result.sent is not None
    assert probe.result.status == PASS and probe.result.detail.endswith("(echoed)"), probe.result
    assert len(site.received) == 1 and f"text frame {site.received[0]!r}" in probe.result.sent


@pytest.mark.parametrize("uses_redis", [False, True], ids=["no-redis", "channels-redis"])
async def test_1011_is_the_application_failing_with_its_reason(site: Site, uses_redis: bool) -> None:
    facts = ServerFacts(proxy_in_front=True, uses_redis=uses_redis)
    probe = await probe_route(Target(site.url), "/ws/crash/", echo=False, facts=facts)
    result = probe.result
    assert probe.accepted and result is not None and result.status == FAIL, result
    assert "application failed" in result.detail
    assert f"code 1011, reason '{LAYER_TIMEOUT}'" in result.detail
    assert result.hint and "server's log" in result.hint and "proxy_read_timeout" not in result.hint
    assert ("tandem.W012" in result.hint) is uses_redis
    assert result.sent and "ping control frame" in result.sent


async def test_an_idle_1011_is_the_application_even_behind_a_proxy(site: Site) -> None:
    facts = ServerFacts(proxy_in_front=True, uses_redis=True)
    result = await probe_idle(Target(site.url), "/ws/late-crash/", 2, facts)
    assert result is not None and result.status == FAIL, result
    assert "application failed, not the network" in result.detail and LAYER_TIMEOUT in result.detail
    assert result.hint and "proxy_read_timeout" not in result.hint and "tandem.W012" in result.hint


@pytest.mark.parametrize("proxy", [True, False], ids=["proxy-in-front", "no-proxy"])
async def test_an_idle_socket_cut_without_a_close_frame(site: Site, proxy: bool) -> None:
    result = await probe_idle(Target(site.url), "/ws/dropped/", 2, ServerFacts(proxy_in_front=proxy))
    assert result is not None and result.status == FAIL, result
    assert "code 1006" in result.detail
    assert result.hint is not None
    assert ("proxy_read_timeout" in result.hint) is proxy  # the read timeout only with a proxy seen
    assert ("by the proxy in front" in result.detail) is proxy
    assert site.received == []


async def test_an_idle_socket_that_survives(site: Site) -> None:
    result = await probe_idle(Target(site.url), "/ws/quiet/", 0.5, ServerFacts(proxy_in_front=True))
    assert result is not None and result.status == PASS, result
    assert site.received == []


# --- which static asset verify asks for --------------------------------------------------------------


@pytest.fixture(scope="module")
def no_static_sources(django_settings: None) -> None:
    """Django configured with no apps and no STATICFILES_DIRS: the finders publish nothing."""


def test_the_collected_manifest_comes_first(tmp_path: Path, no_static_sources: None) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.css").write_text("body{}")
    (tmp_path / "staticfiles.json").write_text(json.dumps({"paths": {"site/site.css": "site/site.ab12.css"}}))
    path, source, notes = _static_asset(tmp_path, "/static/", ())
    assert (path, notes) == ("/static/site/site.ab12.css", []) and "manifest" in source


def test_a_listing_of_static_root_without_a_manifest(tmp_path: Path, no_static_sources: None) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("1")
    path, source, _ = _static_asset(tmp_path, "static/", ("django.contrib.admin",))
    assert path == "/static/js/app.js" and source.startswith("STATIC_ROOT")


def test_the_admin_stylesheet_when_nothing_was_collected(tmp_path: Path, no_static_sources: None) -> None:
    """The issue's site whose every static file 404s: with the admin installed there is still a real
    asset to ask for, so a missing collectstatic is a FAIL instead of 'no static file to ask for'."""
    path, source, notes = _static_asset(tmp_path, "/static/", ("django.contrib.admin",))
    assert path == f"/static/{ADMIN_CSS}" and "django.contrib.admin" in source and notes == []
    assert "holds no collected file" in source


def test_nothing_to_ask_for_is_said(tmp_path: Path, no_static_sources: None) -> None:
    path, _, notes = _static_asset(None, "/static/", ())
    assert path is None and notes and "no static files to ask for" in notes[0]
    path, _, notes = _static_asset(tmp_path, "https://cdn.example.com/static/", ("django.contrib.admin",))
    assert path is None and notes and "on another host" in notes[0]
