"""Ordinary synchronous Django views (served by Gunicorn in the split topology)."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import OpenRoomForm
from .models import (
    CLIENT_ID_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    Message,
    Room,
    is_valid_room_name,
)
from .uploads import UploadRejected, validate_image

logger = logging.getLogger(__name__)

HISTORY_LENGTH = 50
# Largest page of a catch-up (``?since=``); the client asks again while ``more`` is true.
CATCH_UP_PAGE = 200
# Multipart framing and form fields on top of the file itself.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def _recent_messages(room_name: str) -> list[Message]:
    """The last HISTORY_LENGTH messages of a room, oldest first."""
    newest_first = (
        Message.objects.filter(room__name=room_name)
        .select_related("room", "user")
        .order_by("-id")[:HISTORY_LENGTH]
    )
    return list(reversed(newest_first))


def _require_room_name(room: str) -> str:
    if not is_valid_room_name(room):
        raise Http404("invalid room name")
    return room


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    form = OpenRoomForm(request.GET if "room" in request.GET else None)
    if form.is_valid():
        return redirect("room", room=form.cleaned_data["room"])
    rooms = Room.objects.annotate(message_count=Count("messages")).order_by("name")
    return render(request, "chat/index.html", {"rooms": rooms, "form": form})


@require_GET
def room(request: HttpRequest, room: str) -> HttpResponse:
    room_name = _require_room_name(room)
    context = {
        "room_name": room_name,
        "history": _recent_messages(room_name),
        "presence": services.presence_count(room_name),
        "max_text_length": MESSAGE_MAX_LENGTH,
        "max_upload_bytes": settings.CHAT_MAX_UPLOAD_BYTES,
        "chat_config": {
            "room": room_name,
            "wsPath": f"/ws/chat/{room_name}/",
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "maxLength": MESSAGE_MAX_LENGTH,
            "messagesApi": reverse("room-messages-api", kwargs={"room": room_name}),
        },
    }
    return render(request, "chat/room.html", context)


@require_POST
def upload(request: HttpRequest, room: str) -> HttpResponseBase:
    room_name = _require_room_name(room)
    wants_json = _wants_json(request)
    if not request.user.is_authenticated:
        if wants_json:
            return JsonResponse({"error": "login required"}, status=403)
        return redirect_to_login(reverse("room", kwargs={"room": room_name}))

    max_bytes: int = settings.CHAT_MAX_UPLOAD_BYTES
    try:
        # Refuse an oversized body before Django reads it into memory or a temp file.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > max_bytes + UPLOAD_OVERHEAD_BYTES:
            raise UploadRejected(f"file too large (limit {max_bytes} bytes)", status=413)
        image = request.FILES.get("image")
        if image is None:
            raise UploadRejected("no file in field 'image'")
        ext = validate_image(image, max_bytes)
        text = request.POST.get("text", "")
        if len(text) > MESSAGE_MAX_LENGTH:
            raise UploadRejected("caption too long")
        client_id = request.POST.get("client_id", "")
        if len(client_id) > CLIENT_ID_MAX_LENGTH:
            raise UploadRejected("invalid client_id")
    except UploadRejected as exc:
        if wants_json:
            return JsonResponse({"error": exc.message}, status=exc.status)
        return render(
            request,
            "chat/upload_error.html",
            {"room_name": room_name, "error": exc.message},
            status=exc.status,
        )

    chat_room = services.get_or_create_room(room_name)
    message, created = services.save_message(
        chat_room,
        request.user,
        text,
        client_id,
        attachment=image,
        attachment_name=f"{uuid.uuid4().hex}.{ext}",
    )
    if created:
        services.broadcast_message_sync(message)
    if wants_json:
        return JsonResponse({"id": message.pk, "url": message.attachment.url})
    return redirect("room", room=room_name)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    redirect_to = request.POST.get("next", request.GET.get("next", ""))
    if not url_has_allowed_host_and_scheme(
        redirect_to, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        redirect_to = settings.LOGIN_REDIRECT_URL
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        logger.info("new user %s", user.get_username())
        return redirect(redirect_to)
    return render(request, "registration/signup.html", {"form": form, "next": redirect_to})


@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> HttpResponse:
    # No database, no session: answers as long as the process serves requests.
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def whoami(request: HttpRequest) -> HttpResponse:
    user = request.user
    return JsonResponse(
        {
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "scheme": request.scheme,
            "is_secure": request.is_secure(),
            "user": user.get_username() if user.is_authenticated else None,
            "server": "asgi" if isinstance(request, ASGIRequest) else "wsgi",
        }
    )


@never_cache
@require_GET
def messages_api(request: HttpRequest, room: str) -> HttpResponse:
    """Without ``since``: the last HISTORY_LENGTH messages, a JSON list, oldest first.

    With ``?since=ID``: a catch-up, ``{"messages": [...], "more": bool}``, every message of the room with an
    id above ID, oldest first, CATCH_UP_PAGE at a time (``more``: ask again with the last id). A client that
    reconnects asks since the highest id its previous history reads returned, after its new socket joined
    the room's group: whatever was saved before the join is in this answer and whatever is saved after it
    is broadcast to the new socket, so nothing falls between (as long as ids are given out in commit
    order, as SQLite does; with concurrent writers on PostgreSQL a lower id can commit after a higher one). The last HISTORY_LENGTH messages alone are not
    a catch-up: a client away while more than that were posted lost the older ones for good (issue 15)."""
    room_name = _require_room_name(room)
    since_param = request.GET.get("since")
    if since_param is None:
        return JsonResponse([m.to_payload() for m in _recent_messages(room_name)], safe=False)
    try:
        since = int(since_param)
    except ValueError:
        since = -1
    if not 0 <= since < 2**63:  # beyond a database integer the query itself would fail (a 500)
        return JsonResponse({"error": "since must be a message id"}, status=400)
    page = list(
        Message.objects.filter(room__name=room_name, id__gt=since)
        .select_related("room", "user")
        .order_by("id")[: CATCH_UP_PAGE + 1]
    )
    return JsonResponse(
        {"messages": [m.to_payload() for m in page[:CATCH_UP_PAGE]], "more": len(page) > CATCH_UP_PAGE}
    )
