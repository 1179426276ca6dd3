"""An image uploaded through the room page's form shows up, loaded, in another user's page.

The upload is an ordinary HTTP POST (Gunicorn in split mode) and reaches the other page as a broadcast
over its WebSocket (Daphne). In split mode those are different processes, so the broadcast crosses a
real Redis channel layer, and the image itself must be served by nginx from MEDIA_ROOT. The example keeps
its default settings (InMemoryChannelLayer): in split mode tandem runs the Redis itself.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.browser.conftest import WAIT_MS, alice_and_bob_in, message_item, require_playwright, serve_args
from tests.conftest import BOTH_MODES, TandemRunner, create_users, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Response

pytestmark = pytest.mark.browser
expect = require_playwright().expect

ROOM = "gallery"
ROOM_PATH = f"/rooms/{ROOM}/"
WIDTH, HEIGHT = 7, 5


def png_bytes(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size (a gradient), built by hand: the example project has no Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 30 % 256, y * 50 % 256, 200)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@BOTH_MODES
def test_uploaded_image_appears_in_the_other_page(
    mode: str, example_project: Path, tandem: TandemRunner, browser: Browser
) -> None:
    args = serve_args(mode)
    create_users(example_project, "alice", "bob")
    run = tandem.serve(example_project, *args)
    redis_pid = None
    if mode == "split":
        # The POST is handled by Gunicorn, the other page's socket by Daphne: only a cross-process channel
        # layer carries the broadcast between them, and with the example's default settings tandem runs it.
        assert "channel layer: managed Redis" in run.output, run.output
        redis_pid = int(run.wait_for_line(r"started redis \(pid (\d+)\)").group(1))
    else:
        # make run's case: one Daphne, the example's in-memory layer carries the broadcast, no Redis.
        assert "started redis" not in run.output and "managed Redis" not in run.output, run.output
    image = png_bytes(WIDTH, HEIGHT)

    media_responses: list[Response] = []
    with alice_and_bob_in(browser, run, ROOM_PATH) as (alice, bob):
        # Watched from here on: no page has asked for a /media/ file before the upload below.
        bob.page.on("response", lambda r: media_responses.append(r) if "/media/" in r.url else None)

        caption = f"a tiny picture {uuid.uuid4().hex[:12]}"
        alice.page.set_input_files(
            "#upload-input", files=[{"name": "tiny.png", "mimeType": "image/png", "buffer": image}]
        )
        alice.page.fill("#upload-caption", caption)
        alice.page.click("#upload-button")
        # The form posts and redirects back to the room.
        expect(alice.page).to_have_url(run.url.rstrip("/") + ROOM_PATH, timeout=WAIT_MS)

        item = message_item(bob, caption)
        expect(item).to_have_count(1, timeout=WAIT_MS)
        expect(item.locator(".user")).to_have_text("alice")
        img = item.locator("img")
        expect(img).to_have_count(1)
        # Decoded by the browser at its real size: the file arrived whole and as an image.
        expect(img).to_have_js_property("naturalWidth", WIDTH, timeout=WAIT_MS)
        expect(img).to_have_js_property("naturalHeight", HEIGHT)

        src = img.get_attribute("src")
        assert src is not None and src.startswith("/media/"), src
        served = bob.page.request.get(src)
        assert served.status == 200, served.status
        assert served.body() == image
        assert served.headers["content-type"] == "image/png"
        loaded = [r for r in media_responses if r.url.endswith(src)]
        assert loaded and loaded[0].status == 200, [(r.url, r.status) for r in media_responses]
        if mode == "split":
            # nginx answered, not Django: Django's middleware puts X-Frame-Options on every response it
            # makes (Gunicorn's own Server header would be replaced by nginx's, so that alone proves nothing).
            headers = served.headers
            assert "x-frame-options" not in headers, headers
            assert headers.get("server") == "nginx", headers
            assert headers.get("x-content-type-options") == "nosniff", headers

        # The uploader's page shows it too, from the room's server-rendered history after the redirect.
        own = message_item(alice, caption).locator("img")
        expect(own).to_have_js_property("naturalWidth", WIDTH, timeout=WAIT_MS)
        assert alice.errors == [] and bob.errors == [], alice.diagnostics() + "\n" + bob.diagnostics()
    assert run.stop() == 0, run.output
    if redis_pid is not None:
        assert wait_for(lambda: not psutil.pid_exists(redis_pid) or _zombie(redis_pid), timeout=10)


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
