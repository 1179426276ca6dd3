"""Settings that pass every tandem check (unified mode, static files collected into CASE_STATIC_ROOT)."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "tandem-settings-cases-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "chat.example.com"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "tandem",
    "caseproj",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "caseproj.urls"
TEMPLATES: list[dict[str, object]] = []
ASGI_APPLICATION = "caseproj.asgi.application"
WSGI_APPLICATION = "caseproj.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_URL = "/static/"
# The tests collect into a temporary directory and name it here.
STATIC_ROOT = os.environ.get("CASE_STATIC_ROOT", str(BASE_DIR / "not-collected"))

TANDEM: dict[str, object] = {}


def redis_layers(host_timeout: float | None = 30, **config: object) -> dict[str, object]:
    """A channels_redis layer at CASE_REDIS_URL (a real redis-server in the Redis tests). ``host_timeout``
    None writes the host as a plain URL, without the socket timeout W012 asks for."""
    address = os.environ.get("CASE_REDIS_URL", "unix:///nonexistent-tandem-case/redis.sock")
    host: object = address if host_timeout is None else {"address": address, "socket_timeout": host_timeout}
    return {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host], **config}}
    }
