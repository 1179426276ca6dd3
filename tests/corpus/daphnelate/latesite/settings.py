from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "corpus-daphnelate"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.staticfiles", "channels", "daphne"]
MIDDLEWARE = []
ROOT_URLCONF = "latesite.urls"
ASGI_APPLICATION = "latesite.asgi.application"
WSGI_APPLICATION = "latesite.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
