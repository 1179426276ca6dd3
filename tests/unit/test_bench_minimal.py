"""docs/bench/minimal's room consumer (the fan-out protocol tandem bench speaks), driven through its ASGI
application with Channels' communicator, in a subprocess of its own (the project's Django settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MINIMAL = Path(__file__).resolve().parents[2] / "docs" / "bench" / "minimal"

SCRIPT = r"""
import asyncio, json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "minimal.settings"
from channels.testing import WebsocketCommunicator
from minimal.asgi import application

async def main():
    poster = WebsocketCommunicator(application, "/ws/room/lobby/")
    listener = WebsocketCommunicator(application, "/ws/room/lobby/")
    assert (await poster.connect(timeout=5))[0] and (await listener.connect(timeout=5))[0]
    for bad in ('[1, 2]', '"text"', '7', 'null', 'not json'):
        await poster.send_to(text_data=bad)
        answer = json.loads(await poster.receive_from(timeout=5))
        assert answer["type"] == "error", (bad, answer)
        print("refused", bad, answer["error"])
    assert await listener.receive_nothing(timeout=0.2)  # nothing was broadcast
    # Still connected, and still broadcasting to the room.
    await poster.send_to(text_data=json.dumps({"type": "message", "text": "hi", "client_id": "c1"}))
    for member in (poster, listener):
        got = json.loads(await member.receive_from(timeout=5))
        assert got == {"type": "message", "text": "hi", "client_id": "c1"}, got
    await poster.disconnect()
    await listener.disconnect()
    print("ok")

asyncio.run(main())
"""


def test_room_refuses_frames_that_are_not_json_objects() -> None:
    """A text frame that is JSON but not an object (a list, a string, a number) is answered with an error
    frame, not an AttributeError that ends the consumer; the connection keeps working."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=MINIMAL, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("refused") == 5 and done.stdout.rstrip().endswith("ok"), done.stdout
