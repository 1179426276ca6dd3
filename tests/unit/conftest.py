"""Django configured in this process, for the unit tests that build real Channels routing objects.

Opt in per module with ``pytestmark = pytest.mark.usefixtures("django_settings")``: settings are
process-wide, and the tests that load a project's own settings run them in a subprocess instead.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def django_settings() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            STATIC_URL="static/",
            DATABASES={},
        )
        django.setup()


def django_asgi_app() -> object:
    """Django's own ASGI handler, for the "http" side of a ProtocolTypeRouter."""
    from django.core.asgi import get_asgi_application

    return get_asgi_application()
