"""Passes tandem.W008: the public origin is a trusted CSRF origin (wildcard)."""

from caseproj.base import *  # noqa: F403

CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
TANDEM = {"PUBLIC_URL": "https://chat.example.com"}
