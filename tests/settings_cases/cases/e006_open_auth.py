"""tandem.E006: session-authenticated WebSockets without origin validation."""

from caseproj.base import *  # noqa: F403

ASGI_APPLICATION = "caseproj.asgi_open_auth.application"
