from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer


class RoomConsumer(AsyncJsonWebsocketConsumer):
    """Joins a group per room: needs a channel layer shared by every process."""

    async def connect(self) -> None:
        self.group = "room-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)


class EchoConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # no layer at all

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)
