"""WSGI entry point: ordinary HTTP views (the Gunicorn side of the split topology)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

application = get_wsgi_application()
