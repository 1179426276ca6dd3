import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsgiboom.settings")
application = get_wsgi_application()
application = wrap_with_sentry(application)  # noqa: F821 - the NameError this project exists to raise
