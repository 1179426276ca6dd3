"""Operations shared by the WebSocket consumer and the HTTP views (all synchronous)."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from .models import Message, Presence, Room, group_name_for

logger = logging.getLogger(__name__)


def save_message(
    room: Room,
    user: AbstractBaseUser,
    text: str,
    client_id: str,
    attachment: UploadedFile | None = None,
    attachment_name: str = "",
) -> tuple[Message, bool]:
    """Store a message once per (room, user, client_id); return (message, created).

    A resend with a client_id already stored returns the stored message and
    ``created=False``; callers then skip the broadcast.
    """
    if client_id:
        existing = (
            Message.objects.select_related("room", "user")
            .filter(room=room, user=user, client_id=client_id)
            .first()
        )
        if existing is not None:
            return existing, False
    message = Message(room=room, user=user, text=text, client_id=client_id)
    if attachment is not None:
        # save=False: the row is written once, below, with the file name set.
        message.attachment.save(attachment_name or attachment.name or "upload", attachment, save=False)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # Lost a race with a concurrent resend of the same client_id.
        if attachment is not None and message.attachment:
            message.attachment.delete(save=False)
        return (
            Message.objects.select_related("room", "user").get(room=room, user=user, client_id=client_id),
            False,
        )
    logger.info("message %s saved in %s by %s", message.pk, room.name, user.get_username())
    return message, True


def broadcast_message_sync(message: Message) -> None:
    """Send a stored message to every socket in its room, from synchronous code."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_name_for(message.room.name), chat_message_event(message.to_payload())
    )


def chat_message_event(payload: dict[str, Any]) -> dict[str, Any]:
    """Channel-layer event handled by ``ChatConsumer.chat_message``.

    The frame is encoded here, once per broadcast, not once per member by each consumer's ``send_json``
    (the same ``json.dumps``, so the same bytes): a room of 1,000 sockets costs one encoding, and the event
    is a flat dict of strings, which the in-memory layer copies cheaply (``tandem.layers.inmemory``)."""
    return {"type": "chat.message", "text": json.dumps(payload)}


def chat_presence_event(count: int) -> dict[str, Any]:
    """Channel-layer event handled by ``ChatConsumer.chat_presence``, encoded once like a message."""
    return {"type": "chat.presence", "count": count, "text": json.dumps({"type": "presence", "count": count})}


def get_or_create_room(name: str) -> Room:
    room, _ = Room.objects.get_or_create(name=name)
    return room


def join_presence(room_name: str, channel_name: str) -> int:
    Presence.objects.update_or_create(channel_name=channel_name, defaults={"room": room_name})
    return presence_count(room_name)


def leave_presence(room_name: str, channel_name: str) -> int:
    Presence.objects.filter(channel_name=channel_name).delete()
    return presence_count(room_name)


def presence_count(room_name: str) -> int:
    return Presence.objects.filter(room=room_name).count()
