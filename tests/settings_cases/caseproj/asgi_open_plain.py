"""WebSockets with neither cookies nor origin validation."""

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from caseproj.routing import echo_only  # noqa: E402

application = ProtocolTypeRouter({"http": django_app, "websocket": URLRouter(echo_only)})
