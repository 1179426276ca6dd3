"""tandem.E004: ASGI_APPLICATION names a module that fails to import."""

from caseproj.base import *  # noqa: F403

ASGI_APPLICATION = "caseproj.asgi_broken.application"
