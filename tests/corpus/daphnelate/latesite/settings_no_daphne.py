from latesite.settings import *  # noqa: F403

INSTALLED_APPS = ["django.contrib.staticfiles", "channels"]
