"""Passes tandem.E009: the read timeout is comfortably longer than the ping interval."""

from caseproj.base import *  # noqa: F403

TANDEM = {"PING_INTERVAL": 20, "WS_READ_TIMEOUT": 30}
