"""The CHANNEL_LAYERS a child uses when the in-memory layer is chosen (pure: applied by
``tandem.runtime.overrides`` before the project's application is imported)."""

from __future__ import annotations

from typing import Any

from tandem.layerchoice import CHANNELS_MEMORY, INMEMORY_LAYER, TANDEM_INMEMORY_LAYER

# RuntimeSpec.channel_layer values: the in-memory layer with Channels' class, or with tandem's.
CHANNELS_MEMORY_SPEC = "memory"
TANDEM_MEMORY_SPEC = "tandem-memory"
INMEMORY_BACKENDS = (INMEMORY_LAYER, TANDEM_INMEMORY_LAYER)


def runtime_backend(spec_value: str | None) -> str | None:
    """The in-memory class a RuntimeSpec.channel_layer value asks for (None: not the in-memory layer)."""
    if spec_value == TANDEM_MEMORY_SPEC:
        return TANDEM_INMEMORY_LAYER
    if spec_value in (CHANNELS_MEMORY_SPEC, CHANNELS_MEMORY):  # the option itself where no choice was made
        return INMEMORY_LAYER
    return None


def inmemory_layers(current: Any, backend: str) -> dict[str, Any]:
    """``current`` (settings.CHANNEL_LAYERS) with ``backend`` as the in-memory class.

    Every alias already in memory keeps its CONFIG (capacity, expiry, group_expiry, channel_capacity) and
    any other key; other aliases are left alone. Settings without an in-memory ``default`` (a Redis layer
    replaced by ``--channel-layer memory``, or none) get a ``default`` of ``backend`` with Channels' defaults,
    and nothing else, as before."""
    layers = current if isinstance(current, dict) else {}
    default = layers.get("default")
    if not (isinstance(default, dict) and default.get("BACKEND") in INMEMORY_BACKENDS):
        return {"default": {"BACKEND": backend}}
    result: dict[str, Any] = {}
    for alias, layer in layers.items():
        if isinstance(layer, dict) and layer.get("BACKEND") in INMEMORY_BACKENDS:
            layer = {**layer, "BACKEND": backend}
        result[alias] = layer
    return result
