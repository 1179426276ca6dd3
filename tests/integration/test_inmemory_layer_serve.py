"""Which in-memory layer class the one Daphne of unified mode really runs, with the project's CONFIG: asked of
the served process itself (a view reports ``type(get_channel_layer())``), and a group message relayed
between two real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import TandemRunner
from tests.small_projects import SERVED_SETTINGS, write_served_project

SETTINGS = SERVED_SETTINGS.replace(
    'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}',
    'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", '
    '"CONFIG": {"capacity": 7, "group_expiry": 3600}}}',
)

VIEWS = """\
from channels.layers import get_channel_layer
from django.http import JsonResponse


def layer(request):
    layer = get_channel_layer()
    return JsonResponse(
        {"class": type(layer).__module__ + "." + type(layer).__name__, "capacity": layer.capacity,
         "group_expiry": layer.group_expiry}
    )
"""

URLS = """\
from django.urls import path

from mysite import views

urlpatterns = [path("layer/", views.layer)]
"""

CONSUMERS = """\
from channels.generic.websocket import AsyncWebsocketConsumer


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("relay", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("relay", self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("relay", {"type": "relay", "text": text_data})

    async def relay(self, event):
        await self.send(text_data=event["text"])
"""

ASGI = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from mysite.consumers import RelayConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([path("ws/relay/", RelayConsumer.as_asgi())])}
)
"""

TANDEM_CLASS = "tandem.layers.inmemory.TandemInMemoryChannelLayer"
CHANNELS_CLASS = "channels.layers.InMemoryChannelLayer"


@pytest.mark.parametrize(
    ("args", "served_class", "line"),
    [
        ((), TANDEM_CLASS, "channel layer: TandemInMemoryChannelLayer (in place of settings.CHANNEL_LAYERS'"),
        (
            ("--channel-layer", "memory"),
            TANDEM_CLASS,
            "channel layer: TandemInMemoryChannelLayer (--channel-layer",
        ),
        (
            ("--channel-layer", "channels-memory"),
            CHANNELS_CLASS,
            "channel layer: InMemoryChannelLayer (--channel-layer channels-memory",
        ),
    ],
    ids=["default", "memory", "channels-memory"],
)
async def test_served_layer_class_and_config(
    tmp_path: Path, tandem: TandemRunner, args: tuple[str, ...], served_class: str, line: str
) -> None:
    project = write_served_project(
        tmp_path / "proj", settings=SETTINGS, views=VIEWS, urls=URLS, consumers=CONSUMERS, asgi=ASGI
    )
    run = tandem.serve(project, *args)
    assert line in run.output, run.output
    assert "CONFIG kept: capacity=7, group_expiry=3600" in run.output or served_class == CHANNELS_CLASS
    with httpx.Client(base_url=run.url, timeout=10, trust_env=False) as client:
        assert client.get("/layer/").json() == {"class": served_class, "capacity": 7, "group_expiry": 3600}

    url = "ws://" + run.url.split("://", 1)[1].rstrip("/") + "/ws/relay/"
    origin = run.url.rstrip("/")
    async with (
        connect(url, origin=origin, proxy=None, open_timeout=10) as a,  # type: ignore[arg-type]
        connect(url, origin=origin, proxy=None, open_timeout=10) as b,  # type: ignore[arg-type]
    ):
        await a.send(json.dumps({"hello": "room"}))
        async with asyncio.timeout(10):
            assert json.loads(await a.recv()) == {"hello": "room"}
            assert json.loads(await b.recv()) == {"hello": "room"}
    assert run.stop() == 0
