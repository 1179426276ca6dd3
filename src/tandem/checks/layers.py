"""Channel-layer checks: in-process layers across processes, groups with no layer, Redis reachability,
group expiry against the WebSocket lifetime."""

from __future__ import annotations

import inspect
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.messages import error, warning
from tandem.runtime.overrides import REDIS_SOCKET_TIMEOUT, redis_channel_layers

REDIS_BACKENDS = ("channels_redis.core.RedisChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer")
CORE_REDIS_BACKEND = "channels_redis.core.RedisChannelLayer"
DEFAULT_GROUP_EXPIRY = 86400  # channels_redis' default
# tandem starts Daphne without --websocket_timeout, so Daphne's default lifetime applies.
DAPHNE_WEBSOCKET_TIMEOUT = 86400
REDIS_TIMEOUT = 2.0
CHANNELS_REDIS_BLOCKING_POP = 5  # seconds channels-redis blocks in BZPOPMIN waiting for a message

_GROUP_CALL = re.compile(r"\bgroup_(?:add|send|discard)\b")


def uses_groups(consumer: type) -> bool:
    """Whether a consumer joins or sends to channel-layer groups.

    True when it declares ``groups`` or when its own code (any class in its MRO outside Channels) calls
    ``group_add``/``group_send``/``group_discard``. A consumer with ``channel_layer_alias = None`` has no
    layer at all. Calls hidden in helper functions are missed: this never reports groups that are not there.
    """
    if getattr(consumer, "channel_layer_alias", "default") is None:
        return False
    if getattr(consumer, "groups", None):
        return True
    for klass in consumer.__mro__:
        if klass is object or klass.__module__.split(".")[0] == "channels":
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if _GROUP_CALL.search(source):
            return True
    return False


def group_consumers(ctx: CheckContext) -> list[str]:
    return [
        f"{cls.__module__}.{cls.__qualname__} ('{pattern}')"
        for pattern, cls in ctx.consumers.items()
        if uses_groups(cls)
    ]


def check_layer_processes(ctx: CheckContext) -> list[CheckMessage]:
    """E002: an in-process layer shared by several Daphne processes; W003: by Gunicorn and Daphne."""
    layer = ctx.channel_layer
    if ctx.config is None or layer.backend is None or layer.cross_process:
        return []
    found: list[CheckMessage] = []
    users = group_consumers(ctx)
    procs = ctx.daphne_procs
    if procs > 1 and (users or not ctx.config.allow_inmemory):
        why = (
            f"consumers using groups: {', '.join(users)}"
            if users
            else "and --allow-inmemory is not set to say no consumer uses groups"
        )
        found.append(
            error(
                2,
                f"{layer.name} with {procs} Daphne processes: a group message sent in one process never "
                f"reaches sockets connected to another ({why})",
                "use a Redis layer: CHANNEL_LAYERS = {'default': {'BACKEND': "
                "'channels_redis.core.RedisChannelLayer', 'CONFIG': {'hosts': ['redis://127.0.0.1:6379/0']}}} "
                "(or tandem --channel-layer redis://...), or run one process (--procs 1)",
                "settings.CHANNEL_LAYERS",
            )
        )
    if ctx.mode == "split" and users:
        found.append(
            warning(
                3,
                f"{layer.name} in split mode: group messages sent from HTTP views run in Gunicorn workers and "
                f"never reach the WebSocket consumers in Daphne ({', '.join(users)})",
                "use a Redis layer (channels_redis.core.RedisChannelLayer) so Gunicorn and Daphne share groups",
                "settings.CHANNEL_LAYERS",
            )
        )
    return found


def check_groups_without_layer(ctx: CheckContext) -> list[CheckMessage]:
    """E003: consumers call group_add/group_send but CHANNEL_LAYERS has no default layer."""
    if ctx.channel_layer.backend is not None:
        return []
    users = group_consumers(ctx)
    if not users:
        return []
    return [
        error(
            3,
            f"consumers use channel-layer groups but CHANNEL_LAYERS has no 'default' layer, so "
            f"self.channel_layer is None and group_add fails at connect: {', '.join(users)}",
            "add CHANNEL_LAYERS = {'default': {'BACKEND': 'channels_redis.core.RedisChannelLayer', "
            "'CONFIG': {'hosts': ['redis://127.0.0.1:6379/0']}}} (InMemoryChannelLayer for one process only)",
            "settings.CHANNEL_LAYERS",
        )
    ]


def _layers(ctx: CheckContext) -> list[tuple[str, str, dict[str, Any]]]:
    """(alias, backend, CONFIG) for every layer the servers would use."""
    if ctx.config is not None and ctx.config.channel_layer:
        # tandem replaces CHANNEL_LAYERS with this in every process it starts.
        layer = redis_channel_layers(ctx.config.channel_layer)["default"]
        return [("default", str(layer["BACKEND"]), dict(layer["CONFIG"]))]
    layers = getattr(ctx.settings, "CHANNEL_LAYERS", None) or {}
    found = []
    if isinstance(layers, dict):
        for alias, layer in layers.items():
            if isinstance(layer, dict):
                config = layer.get("CONFIG") or {}
                found.append(
                    (str(alias), str(layer.get("BACKEND", "")), config if isinstance(config, dict) else {})
                )
    return found


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _host_kwargs(host: object) -> tuple[str, dict[str, Any]]:
    """(display address, redis.Redis keyword arguments) for one channels_redis ``hosts`` entry."""
    extra: dict[str, Any] = {}
    if isinstance(host, dict):
        extra = {k: v for k, v in host.items() if k in ("password", "username", "db")}
        host = host.get("address", "redis://localhost:6379")
    if isinstance(host, str):
        return redact(host), {"url": host, **extra}
    if isinstance(host, list | tuple) and len(host) == 2:
        return f"{host[0]}:{host[1]}", {"host": str(host[0]), "port": int(host[1]), **extra}
    return repr(host), {}


def ping_redis(host: object, timeout: float = REDIS_TIMEOUT) -> tuple[str, str | None]:
    """(address tried, error or None): connects for real and sends PING."""
    import redis

    shown, kwargs = _host_kwargs(host)
    if not kwargs:
        return shown, "not a host entry channels_redis understands"
    url = kwargs.pop("url", None)
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, **kwargs}
    try:
        client = redis.Redis.from_url(url, **options) if url else redis.Redis(**options)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return shown, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return shown, None


def check_redis_reachable(ctx: CheckContext) -> list[CheckMessage]:
    """E011: a Redis channel layer whose server does not answer."""
    found = []
    for alias, backend, config in _layers(ctx):
        if backend not in REDIS_BACKENDS:
            continue
        if config.get("sentinels"):
            continue  # the master's address is only known by asking the sentinels at run time
        for host in config.get("hosts") or [("localhost", 6379)]:
            shown, problem = ping_redis(host)
            if problem is not None:
                found.append(
                    error(
                        11,
                        f"Redis channel layer '{alias}' unreachable at {shown}: {problem}",
                        "start Redis there, or fix the address in CHANNEL_LAYERS['"
                        f"{alias}']['CONFIG']['hosts'] (or --channel-layer / TANDEM_CHANNEL_LAYER)",
                        "settings.CHANNEL_LAYERS",
                    )
                )
    return found


def _redis_py_major() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("redis").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


def check_redis_read_timeout(ctx: CheckContext) -> list[CheckMessage]:
    """W012: redis-py 8 reads with a 5 s socket timeout by default, as long as channels-redis's blocking
    pop waits for a message, so an idle consumer's read times out and the consumer dies (close 1011)."""
    if _redis_py_major() < 8:
        return []
    found = []
    for alias, backend, config in _layers(ctx):
        if backend not in REDIS_BACKENDS:
            continue
        for host in config.get("hosts") or []:
            timeout = host.get("socket_timeout") if isinstance(host, dict) else None
            if isinstance(timeout, int | float) and timeout > CHANNELS_REDIS_BLOCKING_POP:
                continue
            shown, _ = _host_kwargs(host)
            found.append(
                warning(
                    12,
                    f"channel layer '{alias}' host {shown}: redis-py's default 5 s read timeout equals "
                    "channels-redis's blocking wait, so WebSockets idle for 5 s are closed with 1011",
                    f"write the host as {{'address': '{shown}', 'socket_timeout': {REDIS_SOCKET_TIMEOUT:.0f}}} in "
                    f"CHANNEL_LAYERS['{alias}']['CONFIG']['hosts'] (tandem's --channel-layer does this for you)",
                    "settings.CHANNEL_LAYERS",
                )
            )
    return found


def websocket_timeout(ctx: CheckContext) -> int:
    value = getattr(ctx.config, "websocket_timeout", None)
    return value if isinstance(value, int) else DAPHNE_WEBSOCKET_TIMEOUT


def check_group_expiry(ctx: CheckContext) -> list[CheckMessage]:
    """W011: channels_redis forgets group membership before Daphne closes a long-lived socket."""
    lifetime = websocket_timeout(ctx)
    found = []
    for alias, backend, config in _layers(ctx):
        if backend != CORE_REDIS_BACKEND:
            continue
        expiry = config.get("group_expiry", DEFAULT_GROUP_EXPIRY)
        if not isinstance(expiry, int | float) or (0 <= lifetime <= expiry):
            continue
        limit = f"{lifetime} s" if lifetime >= 0 else "no limit"
        found.append(
            warning(
                11,
                f"channel layer '{alias}': group_expiry {expiry} s is shorter than the WebSocket lifetime "
                f"(Daphne's websocket timeout: {limit}); a socket connected longer than {expiry} s silently "
                "stops receiving group messages",
                f"set CHANNEL_LAYERS['{alias}']['CONFIG']['group_expiry'] to at least {max(lifetime, DEFAULT_GROUP_EXPIRY)}",
                "settings.CHANNEL_LAYERS",
            )
        )
    return found
