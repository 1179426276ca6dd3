"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright for Python.

Playwright's own browser download is never used: the tests drive the system Chromium that `make test`
installs with apt-get. Every browser a test launches is closed when the test ends, pass or fail, and any
Chromium process it left behind is killed by pid.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

import psutil
import pytest

from tests.conftest import PASSWORD, Tandem

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
# This machine runs tests as root on a closed network: no sandbox (root), no GPU, and nothing that
# phones home (component updates, sync, QUIC probes) so the only traffic is to the server under test.
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000
# Upper bound for any single browser wait (navigation, auto-waiting assertions).
WAIT_MS = 15_000


def _missing(reason: str, *, module_level: bool = False) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} in CI: make test should have installed it")
    pytest.skip(reason, allow_module_level=module_level)


def require_playwright() -> ModuleType:
    """``playwright.sync_api``, imported by the test modules at the top: skips them when it is missing."""
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        _missing("playwright for Python is not installed (pip install -e '.[dev]')", module_level=True)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return str(CHROMIUM)


def _chromium_descendants() -> list[psutil.Process]:
    """Chromium processes below this test process (the Playwright driver starts them)."""
    found = []
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if "chrom" in child.name():
                    found.append(child)
    return found


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    """A fresh Chromium per test. `launch` gives it a new temporary profile that Playwright deletes."""
    sync_playwright = require_playwright().sync_playwright
    started: list[psutil.Process] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, args=LAUNCH_ARGS, headless=True, timeout=LAUNCH_TIMEOUT_MS
        )
        started = _chromium_descendants()
        try:
            yield chromium
        finally:
            chromium.close()
    # Safety net: anything of ours that outlived close() and the driver's exit is killed by pid
    # (psutil refuses to signal a pid that was reused since these Process objects were taken).
    for proc in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()


@dataclass
class ChatPage:
    """One browser session (its own cookie jar) on one page, with the page's JavaScript errors collected."""

    base_url: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    # The URL of every WebSocket the page opened, in order (Playwright's "websocket" event).
    sockets: list[str] = field(default_factory=list)

    def diagnostics(self) -> str:
        return "\n".join(self.errors) or "(no console errors)"


def open_session(browser: Browser, base_url: str, *, ignore_https_errors: bool = False) -> ChatPage:
    """``ignore_https_errors``: for a loopback site with a self-signed certificate (tandem --tls self-signed)."""
    context = browser.new_context(base_url=base_url, ignore_https_errors=ignore_https_errors)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    page = context.new_page()
    chat = ChatPage(base_url, context, page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            chat.errors.append(f"console.error: {message.text}")

    page.on("pageerror", lambda exc: chat.errors.append(f"pageerror: {exc}"))
    page.on("websocket", lambda socket: chat.sockets.append(socket.url))
    page.on("console", on_console)
    return chat


def log_in(chat: ChatPage, username: str, next_path: str, password: str = PASSWORD) -> None:
    """Log in through the project's real /login/ form, landing on ``next_path``."""
    expect = require_playwright().expect
    page = chat.page
    page.goto(f"/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-button")
    expect(page).to_have_url(chat.base_url.rstrip("/") + next_path, timeout=WAIT_MS)
    expect(page.locator("#username")).to_have_text(username, timeout=WAIT_MS)


@contextlib.contextmanager
def two_sessions(
    browser: Browser, run: Tandem, *, ignore_https_errors: bool = False
) -> Iterator[tuple[ChatPage, ChatPage]]:
    """Two independent sessions on the served site; on failure prints what the servers and pages said."""
    first = open_session(browser, run.url, ignore_https_errors=ignore_https_errors)
    second = open_session(browser, run.url, ignore_https_errors=ignore_https_errors)
    try:
        yield first, second
    except BaseException:
        # Shown by pytest with the failure.
        print("--- tandem output ---\n" + run.output)
        print("--- first page console ---\n" + first.diagnostics())
        print("--- second page console ---\n" + second.diagnostics())
        raise
    finally:
        first.context.close()
        second.context.close()


@contextlib.contextmanager
def alice_and_bob_in(
    browser: Browser, run: Tandem, room_path: str, *, ignore_https_errors: bool = False
) -> Iterator[tuple[ChatPage, ChatPage]]:
    """Alice and Bob (users the test created) logged in, each in a session of its own, on the room page at
    ``room_path``, both pages' WebSockets connected."""
    expect = require_playwright().expect
    with two_sessions(browser, run, ignore_https_errors=ignore_https_errors) as (alice, bob):
        log_in(alice, "alice", room_path)
        log_in(bob, "bob", room_path)
        for chat in (alice, bob):
            expect(chat.page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)
        yield alice, bob


def serve_args(mode: str) -> tuple[str, ...]:
    """`tandem serve` arguments for the topology; split mode with two Gunicorn workers."""
    return ("--mode", "split", "--workers", "2") if mode == "split" else ("--mode", "unified")


def message_item(chat: ChatPage, needle: str) -> Locator:
    return chat.page.locator("#messages li.message").filter(has_text=needle)
