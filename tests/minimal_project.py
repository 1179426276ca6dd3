"""Small real Django projects written into a test's tmp_path: the smallest thing tandem must understand,
and, by replacing one file, each way a project can be broken."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
