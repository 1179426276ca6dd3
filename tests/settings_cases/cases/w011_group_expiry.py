"""tandem.W011: channels_redis forgets groups after an hour; sockets live a day."""

from caseproj.base import *  # noqa: F403
from caseproj.base import redis_layers

CHANNEL_LAYERS = redis_layers(group_expiry=3600)
