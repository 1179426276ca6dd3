"""The example chat in a real Chromium, served by `tandem serve` in each topology.

Two browser contexts are two independent sessions (two cookie jars), each logged in through the
project's own login form, both on the same room page: what one types must appear in the other, live,
over the WebSocket the page opens itself (through nginx to Daphne in split mode).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import (
    WAIT_MS,
    ChatPage,
    alice_and_bob_in,
    message_item,
    require_playwright,
    serve_args,
)
from tests.conftest import BOTH_MODES, TandemRunner, create_users

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
expect = require_playwright().expect

ROOM = "lobby"
ROOM_PATH = f"/rooms/{ROOM}/"
# Looked at by a human after a passing run: the room page as the second user sees it.
SCREENSHOT = Path("/tmp/room.png")


def send(chat: ChatPage, text: str) -> None:
    chat.page.fill("#message-input", text)
    chat.page.click("#send-button")


@BOTH_MODES
def test_message_typed_in_one_page_appears_in_the_other(
    mode: str, example_project: Path, tandem: TandemRunner, browser: Browser
) -> None:
    create_users(example_project, "alice", "bob")
    run = tandem.serve(example_project, *serve_args(mode))

    with alice_and_bob_in(browser, run, ROOM_PATH) as (alice, bob):
        # The first page sees 1, then 2 when the second joins: both must settle on 2.
        for chat in (alice, bob):
            expect(chat.page.locator("#presence")).to_have_text("2", timeout=WAIT_MS)

        token = uuid.uuid4().hex[:12]
        # Markup in a message must arrive as text, never as HTML.
        text = f"hello bob <b>not bold</b> & {token}"
        send(alice, text)

        received = message_item(bob, token)
        expect(received).to_have_count(1, timeout=WAIT_MS)
        expect(received.locator(".text")).to_have_text(text)
        expect(received.locator(".user")).to_have_text("alice")
        expect(received.locator("b")).to_have_count(0)
        expect(received).not_to_have_class("message mine")

        # The sender sees its own message once, marked as its own, and the ack emptied its outbox.
        sent = message_item(alice, token)
        expect(sent).to_have_count(1, timeout=WAIT_MS)
        expect(sent).to_have_class("message mine")
        expect(alice.page.locator("#outbox li.pending")).to_have_count(0, timeout=WAIT_MS)

        # And the other way round.
        reply = f"hi alice {uuid.uuid4().hex[:12]}"
        send(bob, reply)
        expect(message_item(alice, reply).locator(".user")).to_have_text("bob", timeout=WAIT_MS)

        # Both messages were stored: the room's HTTP history (Gunicorn in split mode) lists them in order.
        history = bob.page.request.get(f"/api/rooms/{ROOM}/messages/")
        assert history.ok, history.status
        texts = [m["text"] for m in history.json()]
        assert texts[-2:] == [text, reply], texts

        assert alice.errors == [] and bob.errors == [], alice.diagnostics() + "\n" + bob.diagnostics()
        if mode == "split":
            bob.page.screenshot(path=str(SCREENSHOT), full_page=True)
