"""The chat in a real browser over https and wss (issue 14): split mode with each proxy terminating TLS
with the certificate `tandem serve --tls self-signed` generates. Chromium is told to ignore certificate
errors for these contexts only (the site is a loopback origin with a certificate no CA signed); everything
else is what a user's browser does: the login form's POST (Django's CSRF check compares the https Origin
with what Django thinks the scheme is, so it passes only if the app servers see https), the room page, and
the WebSocket the page opens itself, which must be wss:// because the page is https."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import WAIT_MS, alice_and_bob_in, message_item, require_playwright
from tests.browser.test_chat import ROOM, ROOM_PATH, send
from tests.conftest import TandemRunner, create_users

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
expect = require_playwright().expect


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


def test_chat_over_https_and_wss(
    proxy: str, example_project: Path, tandem: TandemRunner, browser: Browser
) -> None:
    create_users(example_project, "alice", "bob")
    run = tandem.serve(
        example_project, "--mode", "split", "--proxy", proxy, "--tls", "self-signed", "--workers", "2"
    )
    assert run.url.startswith("https://127.0.0.1:"), run.url
    assert f"started {proxy}" in run.output
    origin = run.url.rstrip("/")
    with alice_and_bob_in(browser, run, ROOM_PATH, ignore_https_errors=True) as (alice, bob):
        for chat in (alice, bob):
            assert chat.page.url == origin + ROOM_PATH
            # The page chose wss itself (from location.protocol), and that socket is the one connected.
            assert chat.page.evaluate("window.location.protocol") == "https:"
            wss = origin.replace("https://", "wss://", 1) + f"/ws/chat/{ROOM}/"
            assert chat.sockets and all(url == wss for url in chat.sockets), chat.sockets
            expect(chat.page.locator("#presence")).to_have_text("2", timeout=WAIT_MS)

        token = uuid.uuid4().hex[:12]
        send(alice, f"over tls {token}")
        received = message_item(bob, token)
        expect(received).to_have_count(1, timeout=WAIT_MS)
        expect(received.locator(".user")).to_have_text("alice")
        reply = f"wss back {uuid.uuid4().hex[:12]}"
        send(bob, reply)
        expect(message_item(alice, reply).locator(".user")).to_have_text("bob", timeout=WAIT_MS)

        # The history over https (Gunicorn) has both; no page saw a mixed-content or socket error.
        history = bob.page.request.get(f"/api/rooms/{ROOM}/messages/")
        assert history.ok, history.status
        assert [m["text"] for m in history.json()][-2:] == [f"over tls {token}", reply]
        assert alice.errors == [] and bob.errors == [], alice.diagnostics() + "\n" + bob.diagnostics()
    assert run.stop() == 0
    assert run.alive_descendants() == []
