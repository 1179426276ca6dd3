"""Small real Django projects written into a test's tmp_path, for what the example project does not have.

``write_project`` writes the smallest project tandem must understand (manage.py and a package with
settings, urls, asgi and wsgi); replacing one file gives each way a project can be broken.
``write_served_project`` adds what `tandem serve` needs to answer: a view, an echo consumer, WebSocket
routes under ws/ and a STATIC_ROOT, with ASGI variants for other routing shapes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

# --- the minimal project: templates, ``{package}`` filled in -------------------------------------------------

MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
"""

SETTINGS = """\
SECRET_KEY = "minimal-test-project"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.staticfiles", "channels"]
ROOT_URLCONF = "{package}.urls"
DATABASES = {{}}
STATIC_URL = "/static/"
ASGI_APPLICATION = "{package}.asgi.application"
WSGI_APPLICATION = "{package}.wsgi.application"
CHANNEL_LAYERS = {{"default": {{"BACKEND": "channels.layers.InMemoryChannelLayer"}}}}
"""

URLS = """\
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("minimal"))]
"""

# Plain Django: no Channels routing at all.
ASGI = """\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
application = get_asgi_application()
"""

WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
application = get_wsgi_application()
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_project(root: Path, package: str = "mysite", **files: str | None) -> Path:
    """A runnable project in ``root``: manage.py and ``package`` with settings, urls, asgi and wsgi.

    ``files`` replace or add files of the package by module name (``asgi=...``, ``settings=...``,
    ``other_settings=...``), None leaves one out; ``manage`` replaces manage.py. ``{package}`` in the
    defaults is filled in.
    """
    defaults = {"settings": SETTINGS, "urls": URLS, "asgi": ASGI, "wsgi": WSGI}
    merged = {name: text.format(package=package) for name, text in defaults.items()}
    merged.update(files)
    root.mkdir(parents=True, exist_ok=True)
    manage = merged.pop("manage", MANAGE_PY.format(package=package))
    if manage is not None:
        write(root / "manage.py", manage)
    write(root / package / "__init__.py", "")
    for name, text in merged.items():
        if text is not None:
            write(root / package / f"{name.replace('.', '/')}.py", text)
    return root


# --- a project `tandem serve` can serve: package ``mysite``, files as written ------------------------------

SERVED_SETTINGS = """\
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

STATUS_URLS = """\
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

# WebSocket routes that are anything under ws/, with an HTTP view under ws/ as well.
ASGI_WS_ANY = ASGI_WS_PREFIX.replace('path("ws/echo/"', 'path("ws/<str:channel>/"')
STATUS_URLS_UNDER_WS = STATUS_URLS.replace('path("status/"', 'path("ws/status/"')


def write_served_project(root: Path, **files: str | None) -> Path:
    """A project in ``root`` (package ``mysite``) answering /status/ over HTTP and echoing on /ws/echo/.

    ``files`` replace or add files of the package as in ``write_project``.
    """
    served = {
        "settings": SERVED_SETTINGS,
        "views": VIEWS,
        "consumers": CONSUMERS,
        "urls": STATUS_URLS,
        "asgi": ASGI_WS_PREFIX,
    }
    return write_project(root, **(served | files))


# --- the corpus: small projects in the layouts people really have, checked in under tests/corpus/ ----------

CORPUS = Path(__file__).resolve().parent / "corpus"


def copy_corpus(name: str, dest: Path) -> Path:
    """A private copy of ``tests/corpus/NAME`` in ``dest`` (tests collect static files and write databases)."""
    import shutil

    target = dest / name
    shutil.copytree(CORPUS / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target
