"""tandem.W004: WebSockets without origin validation (and without cookies)."""

from caseproj.base import *  # noqa: F403

ASGI_APPLICATION = "caseproj.asgi_open_plain.application"
