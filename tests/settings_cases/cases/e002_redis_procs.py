"""Passes tandem.E002: four processes share a Redis layer (CASE_REDIS_URL)."""

import os

from caseproj.base import *  # noqa: F403

TANDEM = {"PROCS": 4}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("CASE_REDIS_URL", "unix:///nonexistent-tandem-case/redis.sock"),
                    "socket_timeout": 30,
                }
            ]
        },
    }
}
