"""Every tandem option, declared once: one entry per option, in the order ``--help`` and the README show them.

An option's Python type and default are its field in ``tandem.config.Config`` (precise for mypy, parsed by
type there); everything else about it is here: the help text, which commands take it as a flag, its choices.
The environment variable (``TANDEM_<NAME>``) and the ``settings.TANDEM`` key (``<NAME>``) follow from the name.
From this table come the click options (``tandem.cli.base.options_for``), the flag names in error messages
(``tandem.config.describe_source``), the choices the Config validates, and the README's option table
(``python -m tandem.options --write README.md``; tests/unit/test_options.py fails when they disagree).

To add an option: a field in Config, an entry here, then regenerate the README table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# The commands an option can be a flag of.
SERVE = "serve"
CONFIG = "config"
CHECK = "check"
ROUTES = "routes"
EXPORT = "export"
BENCH = "bench"
RUNS = (SERVE, CONFIG)  # what serve takes, tandem config shows the effect of


@dataclass(frozen=True)
class CommandDefault:
    """A command whose flag has a default of its own (export writes for a production host: port 80)."""

    command: str
    value: object
    help: str


@dataclass(frozen=True)
class Option:
    name: str  # the Config field; for a location option (config=False) the click parameter
    help: str  # one sentence or two, for --help and the README
    commands: tuple[str, ...] = ()  # () : no flag, set in the environment or settings.TANDEM only
    metavar: str = ""  # how the README writes the value: `--port N`
    choices: tuple[str, ...] = ()  # the only values accepted (validated by Config, offered by click)
    default_text: str = ""  # how the default reads when the value alone does not say it
    flag: str = ""  # default: "--" + the name with dashes
    switch: bool = False  # a boolean with --x/--no-x (else a boolean is a plain flag)
    repeatable: bool = False  # a tuple value: the flag may be given several times
    config: bool = (
        True  # False: where the project is (--project, --settings, --pythonpath), not a Config field
    )
    directory: bool = False  # the value is a directory (click.Path)
    command_defaults: tuple[CommandDefault, ...] = ()

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "TANDEM_" + self.name.upper()

    @property
    def settings_key(self) -> str:
        return self.name.upper()

    def command_default(self, command: str) -> CommandDefault | None:
        return next((d for d in self.command_defaults if d.command == command), None)


PROJECT_COMMANDS = (SERVE, CONFIG, CHECK, ROUTES, EXPORT)

OPTIONS: tuple[Option, ...] = (
    # --- where the project is -------------------------------------------------------------------------
    Option(
        "project", "Django project root (where manage.py is).", (*PROJECT_COMMANDS, BENCH), "DIR",
        default_text="the current directory", config=False, directory=True,
    ),
    Option(
        "settings", "Settings module. Without a manage.py, the directory is served like python -m django serves it.",
        (*PROJECT_COMMANDS, BENCH), "MOD", default_text="DJANGO_SETTINGS_MODULE, else read from manage.py",
        config=False,
    ),
    Option(
        "pythonpath", "A directory to add to the front of sys.path, as django-admin takes it (repeatable).",
        PROJECT_COMMANDS, "DIR", default_text="none", config=False, directory=True, repeatable=True,
    ),
    Option(
        "asgi", "ASGI application as module:attr.", PROJECT_COMMANDS, "M:A",
        default_text="settings.ASGI_APPLICATION, else <project>.asgi:application",
    ),
    Option(
        "wsgi", "WSGI application as module:attr.", PROJECT_COMMANDS, "M:A",
        default_text="settings.WSGI_APPLICATION, else <project>.wsgi:application",
    ),
    # --- topology ---------------------------------------------------------------------------------------
    Option(
        "mode", "unified: Daphne alone (behind nginx or Caddy with --tls, --proxy or --trusted-proxy). split: "
        "Gunicorn + Daphne behind nginx or Caddy.", (*RUNS, CHECK, ROUTES, EXPORT),
        choices=("unified", "split"),
        command_defaults=(
            CommandDefault(EXPORT, "split", "Topology the exports run (nginx and caddy: split, or unified behind the proxy when --mode unified is given)."),
        ),
    ),
    Option(
        "role",
        "single: everything on this host. app: only the app servers, on --bind with --http-port/--ws-port, "
        "behind an edge. edge: only nginx, in front of the app hosts named by --upstream.",
        (*RUNS, CHECK, EXPORT), choices=("single", "app", "edge"),
    ),
    Option(
        "http_port", "--role app: Gunicorn's port (split mode); the edge's default HTTP port of an upstream.",
        (*RUNS, CHECK, EXPORT), "N",
    ),
    Option(
        "ws_port",
        "--role app: Daphne's port (unified mode: HTTP and WebSocket); the edge's default WebSocket port.",
        (*RUNS, CHECK, EXPORT), "N",
    ),
    Option(
        "upstreams", "--role edge: an app host, HOST[:HTTP_PORT[:WS_PORT]] (repeatable).",
        (*RUNS, CHECK, EXPORT), "HOST[:H[:W]]", default_text="none", flag="--upstream", repeatable=True,
    ),
    Option(
        "edge_secret",
        "--role app/edge: the secret the edge sends on every request; the app hosts believe forwarded "
        "headers only with it (at least 16 characters, the same on every host).",
        (*RUNS, CHECK, EXPORT), "SECRET", default_text="none (required by app and edge)",
    ),
    Option(
        "bind", "Public address to listen on.", (*RUNS, EXPORT), "HOST",
        command_defaults=(CommandDefault(EXPORT, "0.0.0.0", "Public address tandem serve or Daphne binds."),),
    ),
    Option(
        "port", "Public port. 0 picks a free one (the Ready: line tells which).", (*RUNS, EXPORT), "N",
        command_defaults=(CommandDefault(EXPORT, 80, "Public port (nginx's, or Daphne's in unified mode)."),),
    ),
    Option(
        "procs", "Daphne processes sharing one socket, or 'auto'.", (*RUNS, CHECK, ROUTES, EXPORT), "N|auto",
        default_text="auto: cores with a cross-process channel layer, else 1",
    ),
    Option(
        "workers", "WSGI workers in split mode (Gunicorn's or Granian's), or 'auto'.", (*RUNS, EXPORT),
        "N|auto", default_text="auto: 2 x cores for Gunicorn, cores for Granian",
    ),
    Option(
        "threads", "Threads per WSGI worker in split mode (Gunicorn's gthread worker above 1; Granian's "
        "blocking threads).", (*RUNS, EXPORT), "N", default_text="1",
    ),
    Option(
        "http_server", "Split mode's WSGI server: gunicorn, or granian (pip install 'django-tandem[servers]').",
        (*RUNS, CHECK, ROUTES), choices=("gunicorn", "granian"),
    ),
    Option(
        "ws_server", "Split mode's ASGI (WebSocket) server: daphne, gunicorn-asgi (Gunicorn 27's ASGI worker) "
        "or uvicorn.", (*RUNS, CHECK, ROUTES), choices=("daphne", "gunicorn-asgi", "uvicorn"),
    ),
    Option(
        "server", "Unified mode's one server: daphne, gunicorn-asgi or uvicorn.", (*RUNS, CHECK, ROUTES),
        choices=("daphne", "gunicorn-asgi", "uvicorn"),
    ),
    Option(
        "channel_layer",
        "Use a Redis channel layer at this URL (redis://HOST:PORT/N, also unix:///path.sock) instead of "
        "settings.CHANNEL_LAYERS, or 'memory' to keep the in-memory layer (no managed Redis; tandem's "
        "O(1)-per-message class in one process), or 'channels-memory' for Channels' InMemoryChannelLayer class "
        "exactly.",
        PROJECT_COMMANDS, "URL|memory|channels-memory",
        default_text="settings.CHANNEL_LAYERS, or a Redis tandem runs when groups span processes",
    ),
    Option(
        "allow_inmemory", "Allow --procs > 1 with the in-memory layer (only if your consumers use no groups).",
        (*RUNS, CHECK),
    ),
    Option(
        "internal", "Behind tandem's proxy: app servers on unix sockets, or 127.0.0.1 ports.", (*RUNS, EXPORT),
        choices=("unix", "tcp"),
    ),
    Option(
        "runtime_dir",
        "Directory for sockets, pid files, nginx config and temp paths; an existing one must be yours and private.",
        (*RUNS, EXPORT), "DIR", default_text="a new private dir under /tmp",
        command_defaults=(CommandDefault(EXPORT, "/run/tandem", "Where the production servers put their sockets."),),
    ),
    Option(
        "asgi_prefixes", "Split mode: also send this HTTP path prefix to Daphne (SSE, long polling; repeatable).",
        (*RUNS, CHECK, ROUTES, EXPORT), "/PREFIX/", default_text="none", flag="--asgi-prefix", repeatable=True,
    ),
    Option(
        "public_url", "The address users reach, e.g. https://chat.example.com (for the TLS, CSRF and origin checks; export caddy: the site, with automatic HTTPS).",
        (CONFIG, CHECK, EXPORT), "URL", default_text="none: those checks are skipped",
    ),
    # --- TLS and the proxies in front (tandem.tls) -------------------------------------------------------
    Option(
        "tls",
        "self-signed: the proxy speaks https (HTTP/2 and HTTP/1.1) with a certificate for the bind host that "
        "tandem generates into the runtime dir and names, for local work. In unified mode the proxy is then "
        "put in front of Daphne.",
        (*RUNS, ROUTES, BENCH), "self-signed", default_text="off: plain HTTP (unless --tls-cert)",
    ),
    Option(
        "tls_cert", "The proxy speaks https with this certificate (PEM, chain included); needs --tls-key. "
        "In unified mode the proxy is then put in front of Daphne.",
        (*RUNS, ROUTES, BENCH), "FILE", default_text="none",
    ),
    Option("tls_key", "The private key (PEM) of --tls-cert.", (*RUNS, ROUTES, BENCH), "FILE", default_text="none"),
    Option(
        "redirect_port", "With TLS: this port answers plain HTTP with a redirect (308) to the https port.",
        RUNS, "N", default_text="none",
    ),
    Option(
        "hsts", "With TLS: send Strict-Transport-Security with this max-age in seconds (0: not sent).",
        RUNS, "SECONDS",
    ),
    Option(
        "trusted_proxies",
        "A proxy or balancer in front (an address or CIDR, repeatable): X-Forwarded-For and X-Forwarded-Proto "
        "are taken from these peers and passed on; from anyone else they are overwritten. In unified mode "
        "tandem's proxy is then put in front of Daphne to do it.",
        (*RUNS, CHECK, ROUTES, EXPORT), "CIDR", default_text="none", flag="--trusted-proxy", repeatable=True,
    ),
    # --- timeouts and limits ----------------------------------------------------------------------------
    Option("graceful_timeout", "Seconds in-flight requests get to finish on stop and reload.", RUNS, "S"),
    Option("ping_interval", "Daphne's WebSocket ping interval in seconds.", (*RUNS, CHECK), "S"),
    Option("ping_timeout", "Seconds Daphne waits for a ping's answer before it closes the WebSocket.", (), "S"),
    Option(
        "websocket_timeout",
        "Seconds a WebSocket may stay open at most (Daphne's --websocket_timeout; -1: no limit). Channel "
        "layers' group_expiry should be longer (tandem.W011).",
        (), "S",
    ),
    Option(
        "ws_read_timeout", "The proxy's read timeout for an idle WebSocket; must exceed the ping interval + 2 s.",
        (), "S", default_text="max(60, 3 x ping interval)",
    ),
    Option(
        "max_body_size", "Largest request body (nginx's client_max_body_size, and Daphne's own limit: 413 above it).",
        (), "SIZE",
    ),
    Option("header_timeout", "Seconds a request's headers get to arrive (slowloris: 408); 0 turns it off.", (), "S"),
    Option("ws_max_message_size", "Larger WebSocket messages or frames are closed with 1009.", (), "SIZE"),
    Option("ws_max_queue", "Messages waiting for the app per WebSocket before tandem stops reading.", (), "N"),
    Option("ws_write_buffer", "Unsent bytes per WebSocket before the app's send() waits.", (), "SIZE"),
    Option("ws_send_timeout", "A send() waiting this long on a client that does not read: 1008; 0 waits forever.", (), "S"),
    Option(
        "gc_threshold", "Python's generation-0 garbage collection threshold in the app server processes, "
        "which also freeze what the application's import left alive (fewer full collections stalling a "
        "broadcast); Python's own default is 700.", (*RUNS, EXPORT), "N",
    ),
    # --- logging ----------------------------------------------------------------------------------------
    Option(
        "access_log", "One line per request, written by the server itself (nginx in split mode, Daphne in unified).",
        RUNS, switch=True,
    ),
    Option(
        "access_log_file", "Append the access log to this file (reopened on SIGUSR1 and reload, for logrotate).",
        RUNS, "PATH", default_text="the terminal",
    ),
    Option("access_log_format", "Access log line format.", RUNS, choices=("common", "combined", "json")),
    Option("app_access_log", "Split mode: Gunicorn and Daphne log each request too (nginx already does).", RUNS),
    # --- what serve does before it starts ---------------------------------------------------------------
    Option("skip_checks", "Start even when tandem's deployment checks find errors (they run before anything starts).", RUNS),
    Option(
        "keep_redis_timeouts",
        "Leave the project's Redis read timeouts as written (tandem raises ones of 5 s or less, W012).", RUNS,
    ),
    # --- programs tandem runs ---------------------------------------------------------------------------
    Option(
        "nginx", "nginx executable for the proxy in front (and export's nginx -t).", (*RUNS, EXPORT), "PATH",
        default_text="nginx on PATH, then /usr/sbin, /usr/local/sbin, /usr/local/nginx/sbin",
    ),
    Option(
        "proxy", "The reverse proxy in front, nginx or caddy (pip install 'django-tandem[caddy]'): split mode "
        "always runs one; given in unified mode (flag, TANDEM_PROXY or settings), it puts one in front of Daphne. "
        "export systemd, procfile and supervisor: the proxy their config is for.",
        (*RUNS, ROUTES, EXPORT), choices=("nginx", "caddy"),
    ),
    Option(
        "caddy", "caddy executable for --proxy caddy.", RUNS, "PATH",
        default_text="caddy beside tandem's Python, else on PATH",
    ),
    Option(
        "nginx_user", "As root: the unprivileged user nginx's workers run as (root keeps them root).",
        RUNS, "USER", default_text="www-data, else nobody",
    ),
    Option(
        "redis_server", "redis-server executable, for the Redis tandem runs when groups span processes.", RUNS,
        "PATH", default_text="redis-server on PATH, /usr/bin or /usr/sbin",
    ),
    # --- supervision ------------------------------------------------------------------------------------
    Option("probe_interval", "Seconds between liveness probes of each ready process.", (), "S"),
    Option("probe_timeout", "A probe unanswered for this many seconds failed.", (), "S"),
    Option("probe_failures", "Failed probes in a row before a hung process is killed and restarted.", (), "N"),
    Option(
        "diagnostic_token",
        "Enables GET /.tandem/diagnose for tandem verify (at least 16 characters).", (), "TOKEN",
        default_text="none: off",
    ),
)  # fmt: skip

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
CONFIG_OPTIONS: tuple[Option, ...] = tuple(option for option in OPTIONS if option.config)


def option(name: str) -> Option:
    return BY_NAME[name]


def for_command(command: str) -> tuple[Option, ...]:
    return tuple(option for option in OPTIONS if command in option.commands)


# --- the README's table, generated ---------------------------------------------------------------------

BEGIN = "<!-- options:begin (generated by python -m tandem.options --write README.md) -->"
END = "<!-- options:end -->"


def shown_default(entry: Option) -> str:
    """The default as the help and the README say it."""
    if entry.default_text or not entry.config:
        return entry.default_text
    from tandem.config import Config

    value = getattr(Config(), entry.name)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_table() -> str:
    rows = [
        "| option | environment / `settings.TANDEM` | commands | meaning | default |",
        "|---|---|---|---|---|",
    ]
    for entry in OPTIONS:
        if not entry.commands:
            flag = "(no flag)"
        elif entry.switch:
            flag = f"`{entry.cli_flag}/--no-{entry.cli_flag[2:]}`"
        else:
            value = entry.metavar or "|".join(entry.choices)
            flag = f"`{entry.cli_flag} {value}`" if value else f"`{entry.cli_flag}`"
        where = f"`{entry.env}`, `{entry.settings_key}`" if entry.config else "-"
        overrides = "; ".join(f"{d.command}: `{d.value}`" for d in entry.command_defaults)
        default = shown_default(entry) + (f" ({overrides})" if overrides else "")
        rows.append(
            f"| {_cell(flag)} | {where} | {', '.join(entry.commands) or '-'} | {_cell(entry.help)} | "
            f"{_cell(default)} |"
        )
    return "\n".join(rows) + "\n"


def with_table(text: str) -> str:
    """``text`` (the README) with the generated table between the markers."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the README has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{readme_table()}{END}{tail}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(readme_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
