"""Tiny Django projects written into a test's tmp_path, for routing shapes and failures the example
project does not have. Each is a real project: manage.py, settings, urls, asgi.py, wsgi.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = []
MIDDLEWARE = []
ROOT_URLCONF = "mysite.urls"
ASGI_APPLICATION = "mysite.asgi.application"
WSGI_APPLICATION = "mysite.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
"""

VIEWS = """\
from django.http import HttpResponse


def status(request):
    return HttpResponse("status ok")
"""

CONSUMERS = """\
from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)
"""

URLS = """\
from django.urls import path

from mysite import views

urlpatterns = [path("status/", views.status)]
"""

# WebSocket routes under ws/, the usual Channels layout.
ASGI_WS_PREFIX = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from mysite.consumers import EchoConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])}
)
"""

# A WebSocket route that matches any path: no literal prefix to route by.
ASGI_CATCH_ALL = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from mysite.consumers import EchoConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_app, "websocket": URLRouter([re_path(r"^(?P<anything>.*)$", EchoConsumer.as_asgi())])}
)
"""

# Plain Django: no Channels at all.
ASGI_PLAIN = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_asgi_application()
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
"""


def write_project(
    root: Path, *, asgi: str = ASGI_WS_PREFIX, urls: str = URLS, wsgi: str = WSGI, settings: str = SETTINGS
) -> Path:
    """A Django project in ``root`` (manage.py at the top, package ``mysite``)."""
    package = root / "mysite"
    package.mkdir(parents=True)
    (root / "manage.py").write_text(MANAGE)
    files = {
        "__init__.py": "",
        "settings.py": settings,
        "views.py": VIEWS,
        "consumers.py": CONSUMERS,
        "urls.py": urls,
        "asgi.py": asgi,
        "wsgi.py": wsgi,
    }
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    return root
