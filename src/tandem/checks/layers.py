"""Channel-layer checks: in-process layers across processes, groups with no layer, Redis reachability and
read timeouts, group expiry against the WebSocket lifetime.

Every check asks the one layer choice (``ctx.layer_choice``, layerchoice.choose_layer): with the Redis server
tandem manages, the project's in-memory layer is replaced in every process, so E002/E013/E014/W003 do not
apply and there is no Redis of the user's to reach (E011) or to time out (W012).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage

from tandem.checks.context import CheckContext
from tandem.checks.groups import uses_groups
from tandem.checks.messages import finding
from tandem.config import Config
from tandem.layerchoice import KEPT_MEMORY, MANAGED, SETTINGS, URL
from tandem.redishosts import INVALID, SENTINEL, RedisHost, layer_hosts, redact, redis_layers
from tandem.runtime.overrides import REDIS_SOCKET_TIMEOUT, redis_channel_layers

__all__ = ["redact", "uses_groups"]

CORE_REDIS_BACKEND = "channels_redis.core.RedisChannelLayer"
DEFAULT_GROUP_EXPIRY = 86400  # channels_redis' default
REDIS_TIMEOUT = 2.0

REDIS_HINT = (
    "drop --channel-layer memory so tandem runs its own Redis for the processes it starts, or use a Redis "
    "layer (--channel-layer redis://... or channels_redis.core.RedisChannelLayer in CHANNEL_LAYERS)"
)


def group_consumers(ctx: CheckContext) -> list[str]:
    return ctx.group_consumers


def _senders(ctx: CheckContext, limit: int = 3) -> str:
    shown = ctx.group_senders[:limit]
    more = len(ctx.group_senders) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def check_layer_processes(ctx: CheckContext) -> list[CheckMessage]:
    """An in-memory layer across processes. E002: several Daphne processes; E013: project code outside
    consumers sends group messages while Gunicorn serves HTTP (split); E014: --channel-layer memory across
    processes for a project using groups, without --allow-inmemory; W003: in split mode when only the
    consumers use groups (lost only if HTTP code sends group messages)."""
    choice = ctx.layer_choice
    config = ctx.config
    if config is None or not ctx.in_memory or choice.kind not in (SETTINGS, KEPT_MEMORY):
        return []
    found: list[CheckMessage] = []
    users = ctx.group_consumers
    procs = ctx.daphne_procs
    if procs > 1 and not config.allow_inmemory:
        why = f"consumers using groups: {', '.join(users)}" if users else "and --allow-inmemory is not set"
        found.append(
            finding(
                "E002",
                f"{choice.name} with {procs} Daphne processes: a group message sent in one process never "
                f"reaches sockets connected to another ({why})",
                REDIS_HINT + ", or run one process (--procs 1), or --allow-inmemory if no code uses groups",
                "settings.CHANNEL_LAYERS",
            )
        )
    if ctx.mode != "split":
        return found
    if ctx.group_senders:
        found.append(
            finding(
                "E013",
                f"{choice.name} in split mode: project code outside consumers sends group messages "
                f"({_senders(ctx)}); it runs in Gunicorn workers, whose in-memory layer no WebSocket consumer "
                "in Daphne listens to, so those messages never arrive",
                REDIS_HINT,
                "settings.CHANNEL_LAYERS",
            )
        )
    elif users and choice.kind == KEPT_MEMORY and not config.allow_inmemory:
        found.append(
            finding(
                "E014",
                f"--channel-layer memory in split mode for consumers using groups ({', '.join(users)}): "
                "group messages sent from Gunicorn (HTTP code) never reach them",
                REDIS_HINT + ", or add --allow-inmemory if no HTTP code sends group messages",
                "settings.CHANNEL_LAYERS",
            )
        )
    elif users:
        found.append(
            finding(
                "W003",
                f"{choice.name} in split mode: if HTTP code sends group messages, they run in Gunicorn workers "
                f"and never reach the WebSocket consumers in Daphne ({', '.join(users)}); tandem found no "
                "group_send outside consumers in the project's modules",
                REDIS_HINT,
                "settings.CHANNEL_LAYERS",
            )
        )
    return found


def check_groups_without_layer(ctx: CheckContext) -> list[CheckMessage]:
    """E003: consumers call group_add/group_send but CHANNEL_LAYERS has no default layer."""
    if ctx.layer_choice.backend is not None:
        return []
    users = ctx.group_consumers
    if not users:
        return []
    return [
        finding(
            "E003",
            f"consumers use channel-layer groups but CHANNEL_LAYERS has no 'default' layer, so "
            f"self.channel_layer is None and group_add fails at connect: {', '.join(users)}",
            "add CHANNEL_LAYERS = {'default': {'BACKEND': 'channels_redis.core.RedisChannelLayer', "
            "'CONFIG': {'hosts': ['redis://127.0.0.1:6379/0']}}} (InMemoryChannelLayer for one process only)",
            "settings.CHANNEL_LAYERS",
        )
    ]


def _layers(ctx: CheckContext) -> list[tuple[str, str, dict[str, Any]]]:
    """(alias, backend, CONFIG) for every Redis layer of the user's the servers would use: none with the
    managed Redis (tandem's own) or the in-memory layer kept."""
    choice = ctx.layer_choice
    if choice.kind in (MANAGED, KEPT_MEMORY):
        return []
    if choice.kind == URL and choice.url:
        # tandem replaces CHANNEL_LAYERS with this in every process it starts.
        return redis_layers(redis_channel_layers(choice.url))
    return redis_layers(getattr(ctx.settings, "CHANNEL_LAYERS", None))


def ping_redis(host: RedisHost, timeout: float = REDIS_TIMEOUT) -> str | None:
    """The error, or None: connects for real and sends PING (with the entry's password and db)."""
    import redis

    options: dict[str, Any] = dict(host.connect)
    url = options.pop("url", None)
    # The check's own short timeouts: a down Redis must not hang `tandem check`.
    options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client = redis.Redis.from_url(url, **options) if url else redis.Redis(**options)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError, TypeError) as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def app_host(ctx: CheckContext) -> str:
    """On an app host (--role app): which one could not reach Redis, as the edge's operator knows it."""
    if ctx.config is None or ctx.config.role != "app":
        return ""
    import socket

    return f" from app host {socket.gethostname()} ({ctx.config.bind})"


def check_redis_reachable(ctx: CheckContext) -> list[CheckMessage]:
    """E011: a Redis channel layer whose server does not answer (or refuses the entry's password)."""
    found = []
    for alias, _backend, config in _layers(ctx):
        for _entry, host in layer_hosts(config):
            if host.kind == SENTINEL:
                continue  # the master's address is only known by asking the sentinels at run time
            problem = host.problem if host.kind == INVALID else ping_redis(host)
            if problem is None:
                continue
            found.append(
                finding(
                    "E011",
                    f"Redis channel layer '{alias}' unreachable at {host.shown}{app_host(ctx)}: {problem}",
                    "start Redis there, or fix the address (or password) in CHANNEL_LAYERS['"
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
    pop waits for a message, so an idle consumer's read times out and the consumer dies (close 1011).

    ``serve`` raises the timeout in the processes it starts (unless --keep-redis-timeouts), so its own run
    does not report it; ``tandem check`` does, for a production deployment that may not run under tandem."""
    if _redis_py_major() < 8:
        return []
    if ctx.serving and ctx.config is not None and not ctx.config.keep_redis_timeouts:
        return []
    found = []
    for alias, _backend, config in _layers(ctx):
        for _entry, host in layer_hosts(config):
            if not host.short_timeout:
                continue
            now = f"{host.socket_timeout:g} s" if host.timeout_set else "redis-py's default 5 s"
            found.append(
                finding(
                    "W012",
                    f"channel layer '{alias}' host {host.shown}: a read timeout of {now} is not longer than "
                    "channels-redis's 5 s blocking wait, so WebSockets idle for 5 s are closed with 1011",
                    f"set 'socket_timeout': {REDIS_SOCKET_TIMEOUT:.0f} on that host in "
                    f"CHANNEL_LAYERS['{alias}']['CONFIG']['hosts'] (e.g. {{'address': '{host.shown}', "
                    f"'socket_timeout': {REDIS_SOCKET_TIMEOUT:.0f}}}); tandem serve raises it for the processes "
                    "it starts unless --keep-redis-timeouts",
                    "settings.CHANNEL_LAYERS",
                )
            )
    return found


def websocket_timeout(ctx: CheckContext) -> int:
    """The WebSocket lifetime tandem starts Daphne with (TANDEM_WEBSOCKET_TIMEOUT; its default is Daphne's)."""
    return ctx.config.websocket_timeout if ctx.config is not None else Config().websocket_timeout


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
            finding(
                "W011",
                f"channel layer '{alias}': group_expiry {expiry} s is shorter than the WebSocket lifetime "
                f"(Daphne's websocket timeout: {limit}); a socket connected longer than {expiry} s silently "
                "stops receiving group messages",
                f"set CHANNEL_LAYERS['{alias}']['CONFIG']['group_expiry'] to at least {max(lifetime, DEFAULT_GROUP_EXPIRY)}",
                "settings.CHANNEL_LAYERS",
            )
        )
    return found
