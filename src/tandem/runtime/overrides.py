"""Changes applied to the user's settings inside a child, before their application is imported."""

from __future__ import annotations

import importlib
from typing import Any

from tandem.layers.substitute import inmemory_layers, runtime_backend
from tandem.runtime.spec import RuntimeSpec

# channels-redis waits for messages in a blocking BZPOPMIN of up to 5 s (its brpop_timeout), while
# redis-py 8 gives every connection a 5 s socket read timeout by default: an idle consumer's read then
# times out and the consumer dies (WebSocket closed with 1011) after 5 quiet seconds. The read timeout
# must outlast the blocking pop.
REDIS_SOCKET_TIMEOUT = 30.0


# What a layer's CONFIG says about its messages rather than where they live: it means the same to
# channels-redis, so a Redis put in place of the project's layer keeps it (capacity above all: a project
# that raised it for bursts would otherwise lose messages at channels-redis's default of 100).
KEPT_CONFIG = ("capacity", "expiry", "group_expiry", "channel_capacity")


def redis_channel_layers(url: str, previous: Any = None) -> dict[str, Any]:
    host = {"address": url, "socket_timeout": REDIS_SOCKET_TIMEOUT}
    config: dict[str, Any] = {"hosts": [host]}
    default = previous.get("default") if isinstance(previous, dict) else None
    old = default.get("CONFIG") if isinstance(default, dict) else None
    if isinstance(old, dict):
        config.update({key: old[key] for key in KEPT_CONFIG if key in old})
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


def apply_overrides(spec: RuntimeSpec) -> None:
    from django.conf import settings

    inmemory = runtime_backend(spec.channel_layer)
    if inmemory:
        # --channel-layer memory (even where the settings name Redis), or the settings' in-memory layer in
        # one process: Channels' class or tandem's (tandem.layers.inmemory), the project's CONFIG kept.
        settings.CHANNEL_LAYERS = inmemory_layers(getattr(settings, "CHANNEL_LAYERS", None), inmemory)
    elif spec.channel_layer:
        settings.CHANNEL_LAYERS = redis_channel_layers(
            spec.channel_layer, getattr(settings, "CHANNEL_LAYERS", None)
        )
    elif spec.redis_read_timeout and hasattr(settings, "CHANNEL_LAYERS"):
        # The project's own channels-redis hosts with redis-py's 5 s read timeout (tandem.W012).
        from tandem.redishosts import raise_read_timeouts

        settings.CHANNEL_LAYERS, _ = raise_read_timeouts(settings.CHANNEL_LAYERS, spec.redis_read_timeout)
    if spec.trust_proxy:
        # Behind tandem's proxy, which overwrites X-Forwarded-Proto on every request (from --trusted-proxy
        # peers it passes theirs on) and is the only one reaching these app servers (--internal tcp: the
        # header is removed from requests without the proxy's secret): so request.is_secure() is true
        # exactly when the client spoke https to the proxy, in Gunicorn and in Daphne alike. Set for
        # tandem's children only; a project's own value for another header would read a header the
        # proxy removes.
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if spec.override_static_root and spec.static_root:
        # The project sets no STATIC_ROOT: {% static %} and a manifest storage must find tandem's copy.
        settings.STATIC_ROOT = spec.static_root


def import_app(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target
