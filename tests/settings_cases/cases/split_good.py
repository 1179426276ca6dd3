"""Passes every check in split mode: a Redis layer shared by Gunicorn and Daphne (CASE_REDIS_URL)."""

import os

from caseproj.base import *  # noqa: F403

TANDEM = {"MODE": "split"}
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
