import json

from channels.generic.websocket import AsyncWebsocketConsumer


class CommandConsumer(AsyncWebsocketConsumer):
    """Frames are JSON commands; anything else raises (KeyError, JSONDecodeError) and Daphne closes the
    socket with 1011, as many real consumers do."""

    handlers = {"time": lambda: "12:00"}

    async def receive(self, text_data=None, bytes_data=None):
        command = json.loads(text_data)["action"]
        await self.send(text_data=json.dumps({"result": self.handlers[command]()}))
