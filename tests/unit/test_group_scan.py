"""The scan for group_send outside consumers, on real files in a temporary project tree."""

from __future__ import annotations

from pathlib import Path

from tandem.checks.groups import MAX_FILES, group_senders, project_modules

VIEW = """
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def upload(request):
    async_to_sync(get_channel_layer().group_send)("room", {"type": "new"})


class Notifier:
    def tell(self):
        layer = get_channel_layer()
        return layer.group_send("room", {})
"""

CONSUMER = """
from channels.generic.websocket import AsyncJsonWebsocketConsumer


class RoomConsumer(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content):
        await self.channel_layer.group_send("room", content)


class Chat(Base):
    async def receive(self, text_data=None):
        await self.channel_layer.group_send("room", {})
"""


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_senders_outside_consumers(tmp_path: Path) -> None:
    write(tmp_path, "chat/views.py", VIEW)
    write(tmp_path, "chat/consumers.py", CONSUMER)
    assert group_senders(tmp_path, frozenset({"Chat"})) == ["chat/views.py:7", "chat/views.py:13"]
    # Without knowing Chat is a routed consumer, its call counts (it derives from no ...Consumer).
    assert "chat/consumers.py:12" in group_senders(tmp_path)


def test_skips_what_is_not_the_project(tmp_path: Path) -> None:
    for place in (
        ".venv/lib/x.py", "venv/x.py", "env2/lib/python3.11/site-packages/x.py", "chat/migrations/0001.py",
        "chat/tests/test_views.py", "chat/test_views.py", "node_modules/x.py", ".git/x.py",
    ):  # fmt: skip
        write(tmp_path, place, VIEW)
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    write(tmp_path, "broken.py", "def (:\n group_send")
    assert group_senders(tmp_path) == []


def test_bounded(tmp_path: Path) -> None:
    for index in range(MAX_FILES + 5):
        write(tmp_path, f"m{index}.py", "")
    assert sum(1 for _ in project_modules(tmp_path)) == MAX_FILES
