"""WebSocket consumers: the chat room and a bare echo used by benchmarks.

Chat protocol (JSON text frames)

client -> server
  {"type": "message", "text": str, "client_id": str}   client_id optional, <= 64 chars
  {"type": "ping"}

server -> client
  {"type": "presence", "count": int}
  {"type": "message", "id", "room", "user", "text", "client_id", "created", "attachment"}
  {"type": "ack", "client_id", "id", "duplicate": bool, "message": {...as "message"...}}
  {"type": "pong"}
  {"type": "error", "error": str, "client_id": str | null}

The socket joins the room's group before the handshake completes. A client catches up once it is open, every
time (the first too), with GET /api/rooms/<room>/messages/?since=<highest id its history reads returned>:
what was saved before the join is in that answer, what is saved after it is broadcast to the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.utils.functional import empty

from . import services
from .models import CLIENT_ID_MAX_LENGTH, MESSAGE_MAX_LENGTH, group_name_for, is_valid_room_name

logger = logging.getLogger(__name__)

SHUTDOWN_CLEANUP_SECONDS = 5.0


PRESENCE_COALESCE_SECONDS = 0.25
_presence_pending: dict[str, asyncio.Task[None]] = {}


def announce_presence(channel_layer: Any, room_name: str, room_group: str) -> None:
    """Tell the room its count soon. Joins and leaves in a burst (a thousand clients connecting, or
    reconnecting after a restart) become one broadcast per room and process instead of one per socket,
    each sent to every socket in the room."""
    if room_group in _presence_pending:
        return

    async def broadcast() -> None:
        await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
        _presence_pending.pop(room_group, None)  # changes from now on schedule the next broadcast
        count = await database_sync_to_async(services.presence_count)(room_name)
        await channel_layer.group_send(room_group, services.chat_presence_event(count))

    _presence_pending[room_group] = asyncio.get_running_loop().create_task(broadcast())


class ChatConsumer(AsyncJsonWebsocketConsumer):
    room_name: str | None = None
    room_group: str | None = None

    async def connect(self) -> None:
        room_name = self.scope["url_route"]["kwargs"].get("room")
        if not is_valid_room_name(room_name):
            # Closing before accept makes Daphne answer the handshake with 403.
            await self.close()
            return
        self.room = await database_sync_to_async(services.get_or_create_room)(room_name)
        self.room_name = room_name
        self.room_group = group_name_for(room_name)
        await self.channel_layer.group_add(self.room_group, self.channel_name)
        await self.accept()
        count = await database_sync_to_async(services.join_presence)(room_name, self.channel_name)
        await self.send_json({"type": "presence", "count": count})
        announce_presence(self.channel_layer, room_name, self.room_group)

    async def disconnect(self, code: int) -> None:
        await self.leave_room()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # On shutdown Daphne cancels every application instead of sending
            # websocket.disconnect, then waits for them: leave the room here so the
            # presence count stays right for the processes that keep running.
            # Not re-raised: Daphne waits with a plain asyncio.gather(), which
            # returns at the first task that ends cancelled and so would cut the
            # other sockets' cleanup short. Bounded so a locked database cannot
            # hold up the shutdown.
            try:
                await asyncio.wait_for(self.leave_room(), SHUTDOWN_CLEANUP_SECONDS)
            except Exception:
                logger.exception("presence cleanup failed on shutdown")

    async def leave_room(self) -> None:
        """Leave the group and drop this socket's presence row; safe to call twice."""
        room_name, room_group = self.room_name, self.room_group
        if room_group is None or room_name is None:
            return
        self.room_name = self.room_group = None
        await self.channel_layer.group_discard(room_group, self.channel_name)
        await database_sync_to_async(services.leave_presence)(room_name, self.channel_name)
        announce_presence(self.channel_layer, room_name, room_group)

    # -- incoming frames ------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Overridden so that a malformed frame is answered, not a crashed consumer.
        if text_data is None:
            await self.send_error("text frames only")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid json")
            return
        if not isinstance(content, dict):
            await self.send_error("invalid message")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "message":
            await self.handle_message(content)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_error("unknown type")

    async def handle_message(self, content: dict[str, Any]) -> None:
        client_id = content.get("client_id") or ""
        if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
            await self.send_error("invalid client_id")
            return
        user = _unwrap(self.scope.get("user"))
        if user is None or not user.is_authenticated:
            await self.send_error("login required", client_id)
            return
        text = content.get("text")
        if not isinstance(text, str) or not text.strip():
            await self.send_error("empty message", client_id)
            return
        if len(text) > MESSAGE_MAX_LENGTH:
            await self.send_error("message too long", client_id)
            return
        # Stored before it is broadcast or acknowledged: an ack means it is durable.
        message, created = await database_sync_to_async(services.save_message)(
            self.room, user, text, client_id
        )
        payload = message.to_payload()
        # A resend is broadcast again too: if the first attempt's process died between saving and
        # broadcasting, this is the room's only copy. Clients drop duplicates by id.
        await self.channel_layer.group_send(self.room_group, services.chat_message_event(payload))
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "id": message.pk,
                "duplicate": not created,
                "message": payload,
            }
        )

    async def send_error(self, error: str, client_id: str | None = None) -> None:
        await self.send_json({"type": "error", "error": error, "client_id": client_id})

    # -- channel-layer events ---------------------------------------------------

    # Channels' dispatch() runs close_old_connections() through sync_to_async before every handler: one
    # thread hop per member per broadcast, the largest per-client cost of a 1,000-socket room once the layer
    # is O(1) (see the README's fan-out section). The broadcast handlers touch no database, so they skip it;
    # connects, frames and disconnects still go through Channels' dispatch.
    BROADCAST_EVENTS = frozenset({"chat.message", "chat.presence"})

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind in self.BROADCAST_EVENTS:
            await (self.chat_message if kind == "chat.message" else self.chat_presence)(message)
            return
        await super().dispatch(message)

    # Events carry their frame encoded once for the whole room (services.chat_message_event); the dict forms
    # are what a process running the previous version sends during a rolling restart over Redis.

    async def chat_message(self, event: dict[str, Any]) -> None:
        if "text" in event:
            await self.send(text_data=event["text"])
        else:
            await self.send_json(event["message"])

    async def chat_presence(self, event: dict[str, Any]) -> None:
        if "text" in event:
            await self.send(text_data=event["text"])
        else:
            await self.send_json({"type": "presence", "count": event["count"]})


def _unwrap(user: Any) -> Any:
    """The real user object behind AuthMiddleware's lazy wrapper (already resolved)."""
    wrapped = getattr(user, "_wrapped", None)
    if wrapped is not None and wrapped is not empty:
        return wrapped
    return user


class EchoConsumer(AsyncWebsocketConsumer):
    """Sends every frame back unchanged. No database, no groups."""

    # No channel layer: otherwise each socket would get its own layer channel and
    # a receive loop (a Redis poll with channels-redis), which is not what an
    # echo benchmark should measure. get_channel_layer(None) returns None.
    channel_layer_alias = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "?whoami":
            # What the consumer was told about the connection: the scheme (wss behind TLS) and client.
            client = self.scope.get("client") or [None]
            await self.send(text_data=json.dumps({"scheme": self.scope.get("scheme", "ws"), "client": client[0]}))
        elif text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)
