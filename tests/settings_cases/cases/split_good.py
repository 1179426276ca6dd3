"""Passes every check in split mode: a Redis layer shared by Gunicorn and Daphne (CASE_REDIS_URL)."""

from caseproj.base import *  # noqa: F403
from caseproj.base import redis_layers

TANDEM = {"MODE": "split"}
CHANNEL_LAYERS = redis_layers()
