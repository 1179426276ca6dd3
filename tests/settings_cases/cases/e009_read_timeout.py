"""tandem.E009: the proxy read timeout leaves no room for Daphne's ping."""

from caseproj.base import *  # noqa: F403

TANDEM = {"PING_INTERVAL": 20, "WS_READ_TIMEOUT": 22}
