"""W012: a Redis host written as a plain URL, so redis-py 8's 5 s read timeout applies."""

import os

from caseproj.base import *  # noqa: F403

TANDEM = {"MODE": "split"}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("CASE_REDIS_URL", "unix:///nonexistent-tandem-case/redis.sock")]},
    }
}
