"""The chat in a real browser with Caddy in front (split mode, --proxy caddy): the page, its static files and
its WebSocket all go through Caddy (files from disk, HTTP to Gunicorn, the socket to Daphne)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import WAIT_MS, alice_and_bob_in, message_item, require_playwright
from tests.browser.test_chat import ROOM_PATH, send
from tests.conftest import TandemRunner, create_users

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
expect = require_playwright().expect


def test_chat_behind_caddy(
    example_project: Path, tandem: TandemRunner, browser: Browser, caddy_bin: str
) -> None:
    create_users(example_project, "alice", "bob")
    run = tandem.serve(example_project, "--mode", "split", "--proxy", "caddy", "--workers", "2")
    assert "started caddy" in run.output
    with alice_and_bob_in(browser, run, ROOM_PATH) as (alice, bob):
        for chat in (alice, bob):
            expect(chat.page.locator("#presence")).to_have_text("2", timeout=WAIT_MS)
        token = uuid.uuid4().hex[:12]
        send(alice, f"through caddy {token}")
        received = message_item(bob, token)
        expect(received).to_have_count(1, timeout=WAIT_MS)
        expect(received.locator(".user")).to_have_text("alice")
        assert alice.errors == [] and bob.errors == [], alice.diagnostics() + "\n" + bob.diagnostics()
