import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


class RoomConsumer(AsyncWebsocketConsumer):
    """Every text frame {"type": "message", "text", "client_id"} goes to everyone in the room, itself included."""

    async def connect(self) -> None:
        self.group = "room-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # A frame that is not a JSON object is answered with an error (as the example's chat does), not an
        # AttributeError that ends the consumer.
        try:
            post = json.loads(text_data or "")
        except ValueError:
            post = None
        if not isinstance(post, dict):
            await self.send(text_data=json.dumps({"type": "error", "error": "invalid message"}))
            return
        frame = {"type": "message", "text": str(post.get("text", "")), "client_id": post.get("client_id")}
        # Encoded once for the whole room, not once per member.
        await self.channel_layer.group_send(self.group, {"type": "room.message", "text": json.dumps(frame)})

    # Channels' dispatch() hops to a thread for close_old_connections() before every handler; the broadcast
    # touches no database, so it skips that (one hop per member per broadcast), as the example's chat does.
    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "room.message":
            await self.room_message(message)
            return
        await super().dispatch(message)

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
