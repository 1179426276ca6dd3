"""tandem.E012: the origin validator refuses the public origin."""

from caseproj.base import *  # noqa: F403

ALLOWED_HOSTS = ["127.0.0.1"]
TANDEM = {"PUBLIC_URL": "https://chat.example.com"}
