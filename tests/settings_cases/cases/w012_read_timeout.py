"""W012: a Redis host written as a plain URL, so redis-py 8's 5 s read timeout applies."""

from caseproj.base import *  # noqa: F403
from caseproj.base import redis_layers

TANDEM = {"MODE": "split"}
CHANNEL_LAYERS = redis_layers(host_timeout=None)
