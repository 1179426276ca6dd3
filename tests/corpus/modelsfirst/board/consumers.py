from channels.generic.websocket import AsyncWebsocketConsumer

from board.models import Post


class BoardConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=str(Post.objects.count))
