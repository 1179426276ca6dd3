from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from notes.models import Note


class NotesConsumer(AsyncWebsocketConsumer):
    """Every frame is a note: stored, then acknowledged. (A prober's "ping" frame would be stored too.)"""

    async def receive(self, text_data=None, bytes_data=None):
        note = await database_sync_to_async(Note.objects.create)(text=text_data or "")
        await self.send(text_data=f"stored note {note.pk}")
