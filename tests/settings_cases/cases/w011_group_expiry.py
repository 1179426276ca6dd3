"""tandem.W011: channels_redis forgets groups after an hour; sockets live a day."""

import os

from caseproj.base import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("CASE_REDIS_URL", "unix:///nonexistent-tandem-case/redis.sock"),
                    "socket_timeout": 30,
                }
            ],
            "group_expiry": 3600,
        },
    }
}
