import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opensite.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from live.consumers import TickerConsumer  # noqa: E402

# No AllowedHostsOriginValidator: any site's page can open this socket.
application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([path("ws/ticker/", TickerConsumer.as_asgi())])}
)
