"""Passes tandem.E002: four processes share a Redis layer (CASE_REDIS_URL)."""

from caseproj.base import *  # noqa: F403
from caseproj.base import redis_layers

TANDEM = {"PROCS": 4}
CHANNEL_LAYERS = redis_layers()
