"""channels-redis ``hosts`` entries, read the way channels-redis reads them (``channels_redis.utils``:
``decode_hosts`` then ``create_pool``), for the checks (E011 reachable, W012 read timeout) and for raising a
too-short read timeout in the processes tandem starts.

The forms channels-redis accepts, per entry:
- a URL string (``redis://:pw@host:6379/0``, ``rediss://``, ``unix:///path.sock``): ``from_url(address)``;
- a ``(host, port)`` tuple or list;
- a dict with ``address`` (a URL) plus redis-py keyword arguments (``password``, ``db``, ``socket_timeout``…):
  ``from_url(address, **rest)``, where options in the URL's query win over the keywords (redis-py);
- a dict with ``master_name`` and ``sentinels`` (plus ``sentinel_kwargs``): a Sentinel pool, the rest are the
  master connection's keyword arguments;
- any other dict: ``ConnectionPool(**entry)`` (``host``, ``port``, ``password``, ``db``, ``path``…).
No hosts at all means ``redis://localhost:6379``.

Pure: no connection is made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tandem.config import Config

DEFAULT_ADDRESS = "redis://localhost:6379"
# redis-py 8's default socket read timeout, and channels-redis's blocking pop (BZPOPMIN) wait: a read timeout
# not longer than the wait kills an idle consumer.
REDIS_PY_DEFAULT_TIMEOUT = 5.0
CHANNELS_REDIS_BLOCKING_POP = 5.0

URL = "url"
TCP = "tcp"
SENTINEL = "sentinel"
INVALID = "invalid"

REDIS_BACKENDS = ("channels_redis.core.RedisChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer")

# Keyword arguments of a connection that are not about where it goes.
_CONNECTION_KEYS = ("password", "username", "db", "ssl", "socket_timeout", "socket_connect_timeout")
_NOT_SET = object()


@dataclass(frozen=True)
class RedisHost:
    kind: str  # URL | TCP | SENTINEL | INVALID
    shown: str  # the address for messages, without the password
    connect: Mapping[str, Any] = field(default_factory=dict)  # redis.Redis(**connect), or from_url(url=...)
    # The read timeout the connection gets: a number, None (explicitly no timeout), or redis-py's default
    # when the entry sets none (``timeout_set`` False).
    socket_timeout: float | None = REDIS_PY_DEFAULT_TIMEOUT
    timeout_set: bool = False
    problem: str | None = None  # INVALID: why channels-redis cannot use the entry

    @property
    def short_timeout(self) -> bool:
        """The read timeout is not longer than channels-redis's blocking wait (W012)."""
        if self.kind == INVALID:
            return False
        return self.socket_timeout is not None and self.socket_timeout <= CHANNELS_REDIS_BLOCKING_POP


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _url_timeout(url: str) -> object:
    """The ``socket_timeout`` in the URL's query (redis-py lets it override the keyword), or _NOT_SET."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "socket_timeout":
            try:
                return float(value)
            except ValueError:
                return _NOT_SET
    return _NOT_SET


def _timeout(options: Mapping[str, Any], url: str | None = None) -> tuple[float | None, bool]:
    in_url = _url_timeout(url) if url else _NOT_SET
    value = in_url if in_url is not _NOT_SET else options.get("socket_timeout", _NOT_SET)
    if value is _NOT_SET:
        return REDIS_PY_DEFAULT_TIMEOUT, False
    if value is None:
        return None, True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), True
    return REDIS_PY_DEFAULT_TIMEOUT, False


def _tcp_shown(options: Mapping[str, Any]) -> str:
    if options.get("path"):
        return f"unix://{options['path']}"
    host = options.get("host", "localhost")
    port = options.get("port", 6379)
    db = options.get("db")
    return f"{host}:{port}" + (f"/{db}" if db not in (None, 0, "0") else "")


def parse_host(entry: object) -> RedisHost:
    """One ``hosts`` entry, as channels-redis will connect to it."""
    if isinstance(entry, bytes):
        entry = entry.decode()
    if isinstance(entry, str):
        timeout, explicit = _timeout({}, entry)
        return RedisHost(URL, redact(entry), {"url": entry}, timeout, explicit)
    if isinstance(entry, list | tuple):
        if len(entry) != 2:
            return RedisHost(INVALID, repr(entry), problem="a host tuple must be (host, port)")
        try:
            port = int(entry[1])
        except (TypeError, ValueError):
            return RedisHost(INVALID, repr(entry), problem=f"port {entry[1]!r} is not a number")
        options = {"host": str(entry[0]), "port": port}
        return RedisHost(TCP, _tcp_shown(options), options)
    if not isinstance(entry, Mapping):
        return RedisHost(INVALID, repr(entry), problem="not a host entry channels-redis understands")
    options = {str(k): v for k, v in entry.items()}
    if "address" in options:
        address = options.pop("address")
        if isinstance(address, bytes):
            address = address.decode()
        if not isinstance(address, str):
            return RedisHost(INVALID, repr(address), problem="'address' must be a redis:// or unix:// URL")
        timeout, explicit = _timeout(options, address)
        return RedisHost(URL, redact(address), {"url": address, **options}, timeout, explicit)
    if "master_name" in options:
        given = options.get("sentinels")
        sentinels: list[object] = list(given) if isinstance(given, list | tuple) else []
        places = ", ".join(f"{s[0]}:{s[1]}" for s in sentinels if isinstance(s, list | tuple) and len(s) == 2)
        timeout, explicit = _timeout(options)
        master = {
            k: v for k, v in options.items() if k not in ("master_name", "sentinels", "sentinel_kwargs")
        }
        shown = f"sentinel master '{options['master_name']}' via {places or 'no sentinels'}"
        return RedisHost(SENTINEL, shown, master, timeout, explicit)
    timeout, explicit = _timeout(options)
    return RedisHost(TCP, _tcp_shown(options), options, timeout, explicit)


def layer_hosts(config: Mapping[str, Any]) -> list[tuple[object, RedisHost]]:
    """(entry, parsed) for every host of one layer's CONFIG; none given means localhost:6379."""
    hosts = config.get("hosts")
    if not hosts:
        return [(DEFAULT_ADDRESS, parse_host(DEFAULT_ADDRESS))]
    if isinstance(hosts, str | bytes):
        return [(hosts, RedisHost(INVALID, repr(hosts), problem="'hosts' must be a list, even of one host"))]
    if not isinstance(hosts, list | tuple):
        return [(hosts, RedisHost(INVALID, repr(hosts), problem="'hosts' must be a list of host entries"))]
    return [(entry, parse_host(entry)) for entry in hosts]


def redis_layers(channel_layers: object) -> list[tuple[str, str, dict[str, Any]]]:
    """(alias, backend, CONFIG) for every channels-redis layer in a CHANNEL_LAYERS value."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    if not isinstance(channel_layers, Mapping):
        return found
    for alias, layer in channel_layers.items():
        if not isinstance(layer, Mapping) or str(layer.get("BACKEND", "")) not in REDIS_BACKENDS:
            continue
        config = layer.get("CONFIG") or {}
        found.append((str(alias), str(layer["BACKEND"]), dict(config) if isinstance(config, Mapping) else {}))
    return found


def _without_url_timeout(url: str) -> str:
    if _url_timeout(url) is _NOT_SET:
        return url  # untouched: urlunsplit would turn unix:///path into unix:/path
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "socket_timeout"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_read_timeout(entry: object, timeout: float) -> object:
    """The entry rewritten so its connections read with ``timeout`` (the entry itself when it is fine)."""
    parsed = parse_host(entry)
    if not parsed.short_timeout:
        return entry
    if isinstance(entry, bytes):
        entry = entry.decode()
    if isinstance(entry, str):
        return {"address": _without_url_timeout(entry), "socket_timeout": timeout}
    if isinstance(entry, list | tuple):
        return {**parsed.connect, "socket_timeout": timeout}  # host and port, the port as a number
    rewritten = {str(k): v for k, v in entry.items()} if isinstance(entry, Mapping) else {}
    if isinstance(rewritten.get("address"), str):
        # A socket_timeout in the URL's query would win over the keyword: take it out.
        rewritten["address"] = _without_url_timeout(rewritten["address"])
    rewritten["socket_timeout"] = timeout
    return rewritten


def raise_read_timeouts(channel_layers: object, timeout: float) -> tuple[object, list[str]]:
    """(CHANNEL_LAYERS with every too-short Redis read timeout raised to ``timeout``, the hosts changed).

    Layers and hosts that are fine are left as they are; the input is not modified."""
    if not isinstance(channel_layers, Mapping):
        return channel_layers, []
    changed: list[str] = []
    result: dict[str, Any] = {}
    for alias, layer in channel_layers.items():
        result[alias] = layer
        if not isinstance(layer, Mapping) or str(layer.get("BACKEND", "")) not in REDIS_BACKENDS:
            continue
        config = layer.get("CONFIG") or {}
        if not isinstance(config, Mapping):
            continue
        hosts = list(config.get("hosts") or [DEFAULT_ADDRESS])
        if isinstance(config.get("hosts"), str | bytes):
            continue  # channels-redis refuses it anyway
        new_hosts = []
        raised = False
        for entry in hosts:
            new = with_read_timeout(entry, timeout)
            if new is not entry:
                raised = True
                changed.append(f"'{alias}' {parse_host(entry).shown}")
            new_hosts.append(new)
        if raised:
            result[alias] = {**layer, "CONFIG": {**config, "hosts": new_hosts}}
    return result, changed


def short_timeout_hosts(channel_layers: object) -> list[tuple[str, RedisHost]]:
    """(alias, host) for every Redis host whose read timeout is not longer than the blocking wait."""
    return [
        (alias, host)
        for alias, _backend, config in redis_layers(channel_layers)
        for _entry, host in layer_hosts(config)
        if host.short_timeout
    ]


def read_timeout_for(keep_redis_timeouts: bool, channel_layer_option: str | None) -> float | None:
    """What ``RuntimeSpec.redis_read_timeout`` gets: the raised timeout, or None to leave hosts alone
    (--keep-redis-timeouts, or --channel-layer, whose layers tandem writes itself)."""
    from tandem.runtime.overrides import REDIS_SOCKET_TIMEOUT

    if keep_redis_timeouts or channel_layer_option:
        return None
    return REDIS_SOCKET_TIMEOUT


def redis_timeout_fix(settings: Any, config: Config) -> str | None:
    """The one line ``serve`` prints when it raises the project's too-short Redis read timeouts (W012) in
    the processes it starts; None when nothing is raised."""
    timeout = read_timeout_for(config.keep_redis_timeouts, config.channel_layer)
    if timeout is None:
        return None
    _, changed = raise_read_timeouts(getattr(settings, "CHANNEL_LAYERS", None), timeout)
    if not changed:
        return None
    return (
        f"raising the Redis read timeout to {timeout:g} s for {', '.join(changed)} in the processes tandem "
        "starts (redis-py's 5 s closes idle WebSockets; tandem check: W012; --keep-redis-timeouts leaves it)"
    )
