"""Settings for the reference chat project.

Every value a deployment may need to change comes from a ``CHAT_*`` environment
variable, read once here at the top; the rest of the file only uses these names.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Environment (read once) -------------------------------------------------
_env = os.environ
ENV_SECRET_KEY = _env.get("CHAT_SECRET_KEY", "django-insecure-chatsite-dev-key-change-me-in-production")
ENV_DEBUG = _env.get("CHAT_DEBUG", "0").strip().lower() in {"1", "true", "yes", "on"}
ENV_ALLOWED_HOSTS = _env.get("CHAT_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
ENV_CSRF_TRUSTED_ORIGINS = _env.get("CHAT_CSRF_TRUSTED_ORIGINS", "")
ENV_TRUST_X_FORWARDED_PROTO = _env.get("CHAT_TRUST_X_FORWARDED_PROTO", "0").strip().lower() in {
    "1",
    "true",
    "yes",
    "on",
}
ENV_DB_PATH = _env.get("CHAT_DB_PATH", str(BASE_DIR / "db.sqlite3"))
ENV_MEDIA_ROOT = _env.get("CHAT_MEDIA_ROOT", str(BASE_DIR / "media"))
ENV_STATIC_ROOT = _env.get("CHAT_STATIC_ROOT", str(BASE_DIR / "staticfiles"))
ENV_REDIS_URL = _env.get("CHAT_REDIS_URL", "").strip()
del _env


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Core --------------------------------------------------------------------
SECRET_KEY = ENV_SECRET_KEY
DEBUG = ENV_DEBUG
ALLOWED_HOSTS = _split_list(ENV_ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = _split_list(ENV_CSRF_TRUSTED_ORIGINS)
if ENV_TRUST_X_FORWARDED_PROTO:
    # Only safe behind a proxy that overwrites X-Forwarded-Proto on every request.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "tandem",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "chatsite.wsgi.application"
ASGI_APPLICATION = "chatsite.asgi.application"

# --- Database ----------------------------------------------------------------
# Several processes write this file at once (Gunicorn workers and several Daphne
# processes): WAL lets readers run during a write, IMMEDIATE takes the write lock
# at BEGIN (no deadlock-prone lock upgrade), and the timeout waits for the lock.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ENV_DB_PATH,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels ----------------------------------------------------------------
if ENV_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times out reads after 5 s, as long as channels-redis blocks waiting for a
            # message: an idle consumer would be killed. A longer socket timeout keeps it alive.
            "CONFIG": {"hosts": [{"address": ENV_REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    # One process only: group messages never cross to another Daphne process or
    # a Gunicorn worker. Set CHAT_REDIS_URL for any multi-process deployment.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- I18N --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = ENV_STATIC_ROOT
MEDIA_URL = "/media/"
MEDIA_ROOT = ENV_MEDIA_ROOT

# --- Uploads -----------------------------------------------------------------
CHAT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # largest accepted image attachment
# Non-file form data (captions, CSRF token) is tiny; files are not counted here.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Files above this are spooled to a temporary file instead of kept in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
FILE_UPLOAD_PERMISSIONS = 0o644

# --- django-tandem -----------------------------------------------------------
# Settings for `tandem serve` / `tandem export` etc. live here (lowest precedence
# after CLI flags and TANDEM_* environment variables). Empty: defaults are fine.
TANDEM: dict[str, object] = {}

# --- Logging -----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
    },
    "loggers": {
        "chat": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}
