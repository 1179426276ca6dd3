"""tandem.E007: ALLOWED_HOSTS empty with DEBUG off."""

from caseproj.base import *  # noqa: F403

ALLOWED_HOSTS: list[str] = []
