"""Which channel layer the processes tandem starts will use, and why: the project's own, a Redis URL the
user gave, the in-memory layer kept on request, or a Redis server tandem runs itself (managed).

Where the processes use Channels' in-memory layer and there is one of them, the child swaps the class for
tandem's (``tandem.layers.inmemory``: the same semantics and CONFIG, O(1) work per message per recipient
instead of a sweep of every channel on each receive). ``--channel-layer channels-memory`` keeps Channels'
class exactly.

Pure: ``serve``, ``check``, ``config`` and ``status`` all ask this one function, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INMEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
TANDEM_INMEMORY_LAYER = "tandem.layers.inmemory.TandemInMemoryChannelLayer"
REDIS_LAYER = "channels_redis.core.RedisChannelLayer"

MEMORY = "memory"  # --channel-layer memory: keep the in-memory layer, whatever the topology
CHANNELS_MEMORY = "channels-memory"  # the same, with Channels' own class even in one process
MEMORY_OPTIONS = (MEMORY, CHANNELS_MEMORY)

SETTINGS = "settings"  # the project's CHANNEL_LAYERS, unchanged
URL = "url"  # --channel-layer redis://...: replaces CHANNEL_LAYERS in every process
MANAGED = "managed"  # tandem runs redis-server on a private unix socket and points the project at it
KEPT_MEMORY = "memory"  # the in-memory layer, kept because the user asked (--channel-layer memory)


@dataclass(frozen=True)
class LayerChoice:
    kind: str  # SETTINGS | URL | MANAGED | KEPT_MEMORY
    backend: str | None  # the dotted class the processes use; None when the project defines no layer
    why: str  # one line for `tandem config`, the startup lines and `status`
    url: str | None = None  # URL: the user's; MANAGED: filled in once the runtime dir is known
    uses_groups: bool = False
    # The in-memory layer, served in its one process by tandem's class (backend stays Channels' name: what
    # the checks reason about, the semantics being the same).
    tandem_memory: bool = False

    @property
    def cross_process(self) -> bool:
        """Whether a group message sent in one process reaches consumers in another."""
        return self.backend is not None and self.backend != INMEMORY_LAYER

    @property
    def name(self) -> str:
        if self.kind == MANAGED:
            return "managed Redis"
        if self.tandem_memory:
            return TANDEM_INMEMORY_LAYER.rsplit(".", 1)[-1]
        return self.backend.rsplit(".", 1)[-1] if self.backend else "none"


def default_layer_config(settings: Any) -> Mapping[str, Any] | None:
    """settings.CHANNEL_LAYERS['default']['CONFIG'], if it is a dict."""
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    default = layers.get("default") if isinstance(layers, dict) else None
    config = default.get("CONFIG") if isinstance(default, dict) else None
    return config if isinstance(config, dict) else None


def describe_config(config: Mapping[str, Any] | None) -> str:
    """The in-memory layer's CONFIG as the startup line shows it."""
    if not config:
        return "CONFIG: Channels' defaults"
    return "CONFIG kept: " + ", ".join(f"{key}={value!r}" for key, value in sorted(config.items()))


def choose_layer(
    option: str | None,
    settings_backend: str | None,
    *,
    spans_processes: bool,
    uses_groups: bool,
    settings_config: Mapping[str, Any] | None = None,
) -> LayerChoice:
    """``option`` is ``--channel-layer`` (None, ``memory``, ``channels-memory`` or a Redis URL);
    ``settings_backend`` the project's CHANNEL_LAYERS['default']['BACKEND'] (None if absent) and
    ``settings_config`` its CONFIG; ``spans_processes``: split mode or more than one Daphne; ``uses_groups``:
    consumers or other project code use channel-layer groups."""
    if option and option not in MEMORY_OPTIONS:
        return LayerChoice(URL, REDIS_LAYER, "--channel-layer", url=option, uses_groups=uses_groups)
    config = settings_config if settings_backend == INMEMORY_LAYER else None
    if option == CHANNELS_MEMORY or (option == MEMORY and spans_processes):
        return LayerChoice(
            KEPT_MEMORY,
            INMEMORY_LAYER,
            f"--channel-layer {option}: the in-memory layer, kept (Channels' class)",
            uses_groups=uses_groups,
        )
    if option == MEMORY:
        return LayerChoice(
            KEPT_MEMORY,
            INMEMORY_LAYER,
            f"--channel-layer memory: the in-memory layer, one process, same semantics, O(1) work per message; "
            f"{describe_config(config)}; --channel-layer channels-memory keeps Channels' class",
            uses_groups=uses_groups,
            tandem_memory=True,
        )
    if settings_backend == INMEMORY_LAYER and spans_processes and uses_groups:
        return LayerChoice(
            MANAGED,
            REDIS_LAYER,
            "the project's InMemoryChannelLayer cannot carry group messages between processes, "
            "so tandem runs redis-server for them (--channel-layer memory keeps the in-memory layer)",
            uses_groups=uses_groups,
        )
    if settings_backend is None:
        return LayerChoice(
            SETTINGS, None, "settings.CHANNEL_LAYERS has no 'default' layer", uses_groups=uses_groups
        )
    if settings_backend == INMEMORY_LAYER and not spans_processes:
        return LayerChoice(
            SETTINGS,
            INMEMORY_LAYER,
            f"in place of settings.CHANNEL_LAYERS' InMemoryChannelLayer: one process, same semantics, O(1) work "
            f"per message; {describe_config(config)}; --channel-layer channels-memory keeps Channels' class",
            uses_groups=uses_groups,
            tandem_memory=True,
        )
    return LayerChoice(SETTINGS, settings_backend, "settings.CHANNEL_LAYERS", uses_groups=uses_groups)
