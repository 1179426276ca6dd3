"""When tandem serves the in-memory layer with its own class, and what the child's CHANNEL_LAYERS become."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tandem.layerchoice import (
    INMEMORY_LAYER,
    KEPT_MEMORY,
    MANAGED,
    SETTINGS,
    TANDEM_INMEMORY_LAYER,
    URL,
    choose_layer,
    default_layer_config,
)
from tandem.layers.substitute import inmemory_layers, runtime_backend

REDIS = "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("option", "backend", "spans", "groups", "kind", "tandem_memory"),
    [
        # the project's in-memory layer, one process: tandem's class
        (None, INMEMORY_LAYER, False, True, SETTINGS, True),
        (None, INMEMORY_LAYER, False, False, SETTINGS, True),
        # several processes: Channels' class (or a managed Redis when groups need to cross)
        (None, INMEMORY_LAYER, True, False, SETTINGS, False),
        (None, INMEMORY_LAYER, True, True, MANAGED, False),
        # --channel-layer memory: tandem's class in one process, Channels' across several
        ("memory", INMEMORY_LAYER, False, True, KEPT_MEMORY, True),
        ("memory", REDIS, False, True, KEPT_MEMORY, True),
        ("memory", INMEMORY_LAYER, True, True, KEPT_MEMORY, False),
        # --channel-layer channels-memory: Channels' class, always
        ("channels-memory", INMEMORY_LAYER, False, True, KEPT_MEMORY, False),
        ("channels-memory", REDIS, False, False, KEPT_MEMORY, False),
        ("channels-memory", INMEMORY_LAYER, True, True, KEPT_MEMORY, False),
        # not in memory at all
        (None, REDIS, False, True, SETTINGS, False),
        (None, None, False, False, SETTINGS, False),
        ("redis://127.0.0.1:6379/0", INMEMORY_LAYER, False, True, URL, False),
    ],
)
def test_choice(
    option: str | None, backend: str | None, spans: bool, groups: bool, kind: str, tandem_memory: bool
) -> None:
    choice = choose_layer(option, backend, spans_processes=spans, uses_groups=groups)
    assert (choice.kind, choice.tandem_memory) == (kind, tandem_memory)
    if tandem_memory:
        # The checks keep reasoning about "the in-memory layer": same semantics, one process.
        assert choice.backend == INMEMORY_LAYER and not choice.cross_process
        assert choice.name == "TandemInMemoryChannelLayer"
        assert "channels-memory keeps Channels' class" in choice.why
    elif kind == KEPT_MEMORY:
        assert choice.name == "InMemoryChannelLayer"


def test_why_names_the_config_kept() -> None:
    config = {"capacity": 500, "expiry": 10}
    choice = choose_layer(
        None, INMEMORY_LAYER, spans_processes=False, uses_groups=True, settings_config=config
    )
    assert "CONFIG kept: capacity=500, expiry=10" in choice.why
    bare = choose_layer(None, INMEMORY_LAYER, spans_processes=False, uses_groups=True)
    assert "CONFIG: Channels' defaults" in bare.why
    # A Redis project's CONFIG is not the in-memory layer's: --channel-layer memory starts from defaults.
    replaced = choose_layer(
        "memory", REDIS, spans_processes=False, uses_groups=True, settings_config={"hosts": ["x"]}
    )
    assert "CONFIG: Channels' defaults" in replaced.why and "hosts" not in replaced.why


class Settings:
    def __init__(self, layers: Any) -> None:
        self.CHANNEL_LAYERS = layers


@pytest.mark.parametrize(
    ("layers", "config"),
    [
        ({"default": {"BACKEND": INMEMORY_LAYER, "CONFIG": {"capacity": 5}}}, {"capacity": 5}),
        ({"default": {"BACKEND": INMEMORY_LAYER}}, None),
        ({}, None),
        (None, None),
        ({"default": {"BACKEND": INMEMORY_LAYER, "CONFIG": "nonsense"}}, None),
    ],
)
def test_default_layer_config(layers: Any, config: Any) -> None:
    assert default_layer_config(Settings(layers)) == config


def test_runtime_backend() -> None:
    assert runtime_backend("tandem-memory") == TANDEM_INMEMORY_LAYER
    assert runtime_backend("memory") == INMEMORY_LAYER
    assert runtime_backend("channels-memory") == INMEMORY_LAYER
    assert runtime_backend("redis://x") is None
    assert runtime_backend(None) is None


def test_substitution_keeps_config_and_other_aliases() -> None:
    layers = {
        "default": {"BACKEND": INMEMORY_LAYER, "CONFIG": {"capacity": 7, "expiry": 5, "group_expiry": 60}},
        "other": {"BACKEND": INMEMORY_LAYER, "TEST_CONFIG": {"capacity": 1}},
        "redis": {"BACKEND": REDIS, "CONFIG": {"hosts": ["redis://x"]}},
    }
    result = inmemory_layers(layers, TANDEM_INMEMORY_LAYER)
    assert result == {
        "default": {
            "BACKEND": TANDEM_INMEMORY_LAYER,
            "CONFIG": {"capacity": 7, "expiry": 5, "group_expiry": 60},
        },
        "other": {"BACKEND": TANDEM_INMEMORY_LAYER, "TEST_CONFIG": {"capacity": 1}},
        "redis": {"BACKEND": REDIS, "CONFIG": {"hosts": ["redis://x"]}},
    }
    assert layers["default"]["BACKEND"] == INMEMORY_LAYER  # the settings' own dicts are not changed
    # and back: channels-memory over settings tandem already rewrote (or a project naming tandem's class)
    assert inmemory_layers(result, INMEMORY_LAYER)["default"]["BACKEND"] == INMEMORY_LAYER


@pytest.mark.parametrize("layers", [{"default": {"BACKEND": REDIS, "CONFIG": {"hosts": ["x"]}}}, {}, None])
def test_substitution_replaces_a_layer_that_is_not_in_memory(layers: Any) -> None:
    assert inmemory_layers(layers, TANDEM_INMEMORY_LAYER) == {"default": {"BACKEND": TANDEM_INMEMORY_LAYER}}


def test_the_class_named_exists() -> None:
    from django.utils.module_loading import import_string

    cls = import_string(TANDEM_INMEMORY_LAYER)
    layer = cls(**{"capacity": 3, "expiry": 5, "group_expiry": 10, "channel_capacity": {"a.*": 1}})
    assert (layer.capacity, layer.expiry, layer.group_expiry) == (3, 5, 10)
    assert re.fullmatch(r"[\w.]+", TANDEM_INMEMORY_LAYER)


def test_a_redis_put_in_place_of_the_projects_layer_keeps_what_its_config_says_about_messages() -> None:
    from tandem.runtime.overrides import redis_channel_layers

    previous = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 5000, "expiry": 30, "group_expiry": 3600, "unknown": 1},
        }
    }
    config = redis_channel_layers("unix:///run/t/redis.sock", previous)["default"]["CONFIG"]
    assert config["capacity"] == 5000 and config["expiry"] == 30 and config["group_expiry"] == 3600
    assert "unknown" not in config and config["hosts"][0]["address"] == "unix:///run/t/redis.sock"
    assert "capacity" not in redis_channel_layers("redis://127.0.0.1:6379/0")["default"]["CONFIG"]
