"""Every host form channels-redis accepts, read as channels-redis reads it (tandem.redishosts), and the
read-timeout rewrite serve applies in the processes it starts (W012)."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.config import resolve_config
from tandem.redishosts import (
    INVALID,
    SENTINEL,
    TCP,
    URL,
    layer_hosts,
    parse_host,
    raise_read_timeouts,
    read_timeout_for,
    redis_timeout_fix,
    short_timeout_hosts,
)

PW = "s3cret"

# (entry, kind, shown, connect kwargs, socket_timeout, short)
CASES: list[tuple[object, str, str, dict[str, Any], float | None, bool]] = [
    ("redis://10.0.0.1:6379/0", URL, "redis://10.0.0.1:6379/0", {"url": "redis://10.0.0.1:6379/0"}, 5.0, True),
    (b"redis://h:1", URL, "redis://h:1", {"url": "redis://h:1"}, 5.0, True),
    (f"redis://:{PW}@h:6379/2", URL, "redis://:***@h:6379/2", {"url": f"redis://:{PW}@h:6379/2"}, 5.0, True),
    ("redis://h:1/0?socket_timeout=30", URL, "redis://h:1/0?socket_timeout=30",
     {"url": "redis://h:1/0?socket_timeout=30"}, 30.0, False),
    ("unix:///run/redis.sock", URL, "unix:///run/redis.sock", {"url": "unix:///run/redis.sock"}, 5.0, True),
    (("127.0.0.1", 6380), TCP, "127.0.0.1:6380", {"host": "127.0.0.1", "port": 6380}, 5.0, True),
    (["redis.internal", "6381"], TCP, "redis.internal:6381", {"host": "redis.internal", "port": 6381}, 5.0, True),
    ({"address": "unix:///run/redis.sock", "password": PW}, URL, "unix:///run/redis.sock",
     {"url": "unix:///run/redis.sock", "password": PW}, 5.0, True),
    ({"address": "redis://h:1", "socket_timeout": 30}, URL, "redis://h:1",
     {"url": "redis://h:1", "socket_timeout": 30}, 30.0, False),
    # The URL's query wins over the keyword in redis-py's from_url.
    ({"address": "redis://h:1?socket_timeout=2", "socket_timeout": 30}, URL, "redis://h:1?socket_timeout=2",
     {"url": "redis://h:1?socket_timeout=2", "socket_timeout": 30}, 2.0, True),
    ({"address": "redis://h:1", "socket_timeout": None}, URL, "redis://h:1",
     {"url": "redis://h:1", "socket_timeout": None}, None, False),
    # The form issue 9 found read as localhost:6379.
    ({"host": "10.1.2.3", "port": 6390, "password": PW, "db": 3}, TCP, "10.1.2.3:6390/3",
     {"host": "10.1.2.3", "port": 6390, "password": PW, "db": 3}, 5.0, True),
    ({"host": "h", "socket_timeout": 5}, TCP, "h:6379", {"host": "h", "socket_timeout": 5}, 5.0, True),
    ({"host": "h", "socket_timeout": 5.5}, TCP, "h:6379", {"host": "h", "socket_timeout": 5.5}, 5.5, False),
    ({"path": "/run/r.sock"}, TCP, "unix:///run/r.sock", {"path": "/run/r.sock"}, 5.0, True),
    ({"sentinels": [("s1", 26379), ("s2", 26379)], "master_name": "main", "password": PW,
      "sentinel_kwargs": {"password": "x"}}, SENTINEL, "sentinel master 'main' via s1:26379, s2:26379",
     {"password": PW}, 5.0, True),
    (("h",), INVALID, "('h',)", {}, 5.0, False),
    (("h", "port"), INVALID, "('h', 'port')", {}, 5.0, False),
    (42, INVALID, "42", {}, 5.0, False),
    ({"address": 7}, INVALID, "7", {}, 5.0, False),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "kind", "shown", "connect", "timeout", "short"), CASES)
def test_parse_host(
    entry: object, kind: str, shown: str, connect: dict[str, Any], timeout: float | None, short: bool
) -> None:
    host = parse_host(entry)
    assert (host.kind, host.shown, dict(host.connect)) == (kind, shown, connect)
    assert host.socket_timeout == timeout
    assert host.short_timeout is short
    assert PW not in host.shown


def test_layer_hosts_default_and_misuse() -> None:
    [(_, default)] = layer_hosts({})
    assert default.shown == "redis://localhost:6379"
    [(_, single)] = layer_hosts({"hosts": "redis://h:1"})
    assert single.kind == INVALID and "must be a list" in (single.problem or "")


@pytest.mark.parametrize("entry", [case[0] for case in CASES if case[5]])
def test_raised_entries_are_long_enough(entry: object) -> None:
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [entry]}}}
    raised, changed = raise_read_timeouts(layers, 30.0)
    assert len(changed) == 1
    [new] = raised["default"]["CONFIG"]["hosts"]  # type: ignore[index]
    after = parse_host(new)
    assert after.socket_timeout == 30.0 and not after.short_timeout
    # Everything else about the host is kept: the same place, the same password.
    before = parse_host(entry)
    assert after.shown.split("?")[0] == before.shown.split("?")[0]
    assert {k: v for k, v in after.connect.items() if k not in ("socket_timeout", "url")} == {
        k: v for k, v in before.connect.items() if k not in ("socket_timeout", "url")
    }
    assert layers["default"]["CONFIG"]["hosts"] == [entry]  # the input is not modified


def test_raise_leaves_fine_layers_alone() -> None:
    layers: dict[str, object] = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [("h", 1)]}},
        "ok": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://h:1", "socket_timeout": 30}]},
        },
        "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "implicit": {"BACKEND": "channels_redis.core.RedisChannelLayer"},
    }
    raised, changed = raise_read_timeouts(layers, 30.0)
    assert changed == ["'default' h:1", "'implicit' redis://localhost:6379"]
    assert raised["ok"] is layers["ok"] and raised["memory"] is layers["memory"]  # type: ignore[index]
    assert [a for a, _ in short_timeout_hosts(layers)] == ["default", "implicit"]
    assert short_timeout_hosts(raised) == []


class Settings:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"host": "10.1.2.3", "port": 6390, "password": PW}]},
        }
    }


def test_serve_fix_line_and_opt_out() -> None:
    line = redis_timeout_fix(Settings, resolve_config({}, {}, {}))
    assert line is not None and "10.1.2.3:6390" in line and "--keep-redis-timeouts" in line
    assert PW not in line
    assert redis_timeout_fix(Settings, resolve_config({}, {"TANDEM_KEEP_REDIS_TIMEOUTS": "1"}, {})) is None
    assert redis_timeout_fix(Settings, resolve_config({"keep_redis_timeouts": True}, {}, {})) is None
    # --channel-layer replaces CHANNEL_LAYERS with hosts tandem writes itself (30 s).
    assert redis_timeout_fix(Settings, resolve_config({"channel_layer": "redis://h:1"}, {}, {})) is None
    assert read_timeout_for(False, None) == 30.0 and read_timeout_for(True, None) is None
