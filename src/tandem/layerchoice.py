"""Which channel layer the processes tandem starts will use, and why: the project's own, a Redis URL the
user gave, the in-memory layer kept on request, or a Redis server tandem runs itself (managed).

Pure: ``serve``, ``check``, ``config`` and ``status`` all ask this one function, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

INMEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
REDIS_LAYER = "channels_redis.core.RedisChannelLayer"

MEMORY = "memory"  # --channel-layer memory: keep the in-memory layer, whatever the topology

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

    @property
    def cross_process(self) -> bool:
        """Whether a group message sent in one process reaches consumers in another."""
        return self.backend is not None and self.backend != INMEMORY_LAYER

    @property
    def name(self) -> str:
        if self.kind == MANAGED:
            return "managed Redis"
        return self.backend.rsplit(".", 1)[-1] if self.backend else "none"


def choose_layer(
    option: str | None, settings_backend: str | None, *, spans_processes: bool, uses_groups: bool
) -> LayerChoice:
    """``option`` is ``--channel-layer`` (None, ``memory`` or a Redis URL); ``settings_backend`` the project's
    CHANNEL_LAYERS['default']['BACKEND'] (None if absent); ``spans_processes``: split mode or more than one
    Daphne; ``uses_groups``: consumers or other project code use channel-layer groups."""
    if option and option != MEMORY:
        return LayerChoice(URL, REDIS_LAYER, "--channel-layer", url=option, uses_groups=uses_groups)
    if option == MEMORY:
        return LayerChoice(
            KEPT_MEMORY,
            INMEMORY_LAYER,
            "--channel-layer memory: the in-memory layer, kept",
            uses_groups=uses_groups,
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
    return LayerChoice(SETTINGS, settings_backend, "settings.CHANNEL_LAYERS", uses_groups=uses_groups)
