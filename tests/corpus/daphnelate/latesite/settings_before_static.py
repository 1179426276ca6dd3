from latesite.settings import *  # noqa: F403

INSTALLED_APPS = ["channels", "daphne", "django.contrib.staticfiles"]
