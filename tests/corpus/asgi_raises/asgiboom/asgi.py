import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asgiboom.settings")
application = get_asgi_application()
application = add_websocket_routes(application)  # noqa: F821 - the NameError this project exists to raise
