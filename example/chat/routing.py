from django.urls import path

from .consumers import ChatConsumer, EchoConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
    path("ws/echo/", EchoConsumer.as_asgi()),
]
