from channels.generic.websocket import AsyncWebsocketConsumer


class TickerConsumer(AsyncWebsocketConsumer):
    """Pushes one frame on connect; ignores what clients send."""

    async def connect(self):
        await self.accept()
        await self.send(text_data="tick")
