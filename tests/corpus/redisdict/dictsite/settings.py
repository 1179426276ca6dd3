import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "corpus-redisdict"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "dictsite.urls"
ASGI_APPLICATION = "dictsite.asgi.application"
WSGI_APPLICATION = "dictsite.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "host": os.environ.get("CORPUS_REDIS_HOST", "127.0.0.1"),
                    "port": int(os.environ.get("CORPUS_REDIS_PORT", "6379")),
                    "password": os.environ.get("CORPUS_REDIS_PASSWORD", ""),
                    "db": 2,
                }
            ]
        },
    }
}
