"""tandem.W005: ALLOWED_HOSTS accepts any Host."""

from caseproj.base import *  # noqa: F403

ALLOWED_HOSTS = ["*"]
