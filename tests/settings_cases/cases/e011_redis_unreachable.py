"""tandem.E011: a Redis channel layer nobody listens at."""

from caseproj.base import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["unix:///nonexistent-tandem-case/redis.sock"]},
    }
}
