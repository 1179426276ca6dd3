from channels.generic.websocket import AsyncJsonWebsocketConsumer


class FeedConsumer(AsyncJsonWebsocketConsumer):
    groups = ["feed"]

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send("feed", {"type": "feed.item", "item": content})

    async def feed_item(self, event):
        await self.send_json(event["item"])
