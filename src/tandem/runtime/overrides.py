"""Changes applied to the user's settings inside a child, before their application is imported."""

from __future__ import annotations

import importlib
from typing import Any

from tandem.runtime.spec import RuntimeSpec


def redis_channel_layers(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


def apply_overrides(spec: RuntimeSpec) -> None:
    from django.conf import settings

    if spec.channel_layer:
        settings.CHANNEL_LAYERS = redis_channel_layers(spec.channel_layer)


def import_app(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target
