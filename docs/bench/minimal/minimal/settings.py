"""The smallest project the benchmarks need: what the servers cost when the application costs next to nothing.

One JSON view (no middleware), an echo consumer and a room consumer speaking tandem bench's fan-out protocol.
The database exists only for the user the bench's fan-out posts as (auth and sessions); set MINIMAL_DB to
put it elsewhere.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmarks-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "minimal.urls"
WSGI_APPLICATION = "minimal.wsgi.application"
ASGI_APPLICATION = "minimal.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MINIMAL_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
STATIC_URL = "/static/"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
