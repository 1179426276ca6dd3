"""tandem.W009: persistent database connections with HTTP served under ASGI (unified mode)."""

from caseproj.base import *  # noqa: F403

DATABASES = {"default": {**DATABASES["default"], "CONN_MAX_AGE": 60}}  # noqa: F405
