from django.urls import path

from caseproj.consumers import EchoConsumer, RoomConsumer

websocket_urlpatterns = [
    path("ws/room/<slug:room>/", RoomConsumer.as_asgi()),
    path("ws/echo/", EchoConsumer.as_asgi()),
]

echo_only = [path("ws/echo/", EchoConsumer.as_asgi())]
