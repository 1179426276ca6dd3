"""tandem.E007: the public host is not in ALLOWED_HOSTS."""

from caseproj.base import *  # noqa: F403

ALLOWED_HOSTS = ["127.0.0.1"]
TANDEM = {"PUBLIC_URL": "http://chat.example.com"}
