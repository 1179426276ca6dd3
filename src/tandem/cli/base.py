"""What every command shares: the click group, option sets, project loading and error handling.

Every TandemError becomes one line on stderr and its own exit code (handle_errors); only the cli package exits.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from tandem import __version__
from tandem.errors import BootError, TandemError

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_KEYS = ("project", "settings", "pythonpath")


def project_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "--project",
                type=click.Path(file_okay=False, path_type=Path),
                help="Django project root (where manage.py is). Default: the current directory.",
            ),
            click.option(
                "--settings",
                help="Settings module. Default: DJANGO_SETTINGS_MODULE, else read from manage.py. "
                "Without a manage.py, the directory is served like python -m django serves it.",
            ),
            click.option(
                "--pythonpath",
                "pythonpath",
                multiple=True,
                type=click.Path(file_okay=False, path_type=Path),
                help="A directory to add to the front of sys.path, as django-admin takes (repeatable).",
            ),
            click.option(
                "--asgi",
                help="ASGI application as module:attr. Default: settings.ASGI_APPLICATION, else <project>.asgi:application.",
            ),
            click.option(
                "--wsgi",
                help="WSGI application as module:attr. Default: settings.WSGI_APPLICATION, else <project>.wsgi:application.",
            ),
            click.option(
                "--channel-layer",
                help="Use a Redis channel layer at this URL (redis://HOST:PORT/N) instead of settings.CHANNEL_LAYERS, "
                "or 'memory' to keep the in-memory layer (no managed Redis; tandem's O(1)-per-message class in one "
                "process), or 'channels-memory' for Channels' InMemoryChannelLayer class exactly.",
            ),
        ]
    ):
        func = decorator(func)
    return func


def serve_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "--mode",
                type=click.Choice(["unified", "split"]),
                help="unified: Daphne alone. split: Gunicorn + Daphne behind nginx. Default: unified.",
            ),
            click.option("--bind", help="Public address to listen on. Default: 127.0.0.1."),
            click.option(
                "--port",
                type=int,
                help="Public port. 0 picks a free one (the Ready: line tells which). Default: 8000.",
            ),
            click.option(
                "--procs",
                help="Daphne processes sharing one socket, or 'auto' (cores with a Redis layer, else 1).",
            ),
            click.option("--workers", help="Gunicorn workers in split mode, or 'auto' (2 x cores)."),
            click.option(
                "--allow-inmemory",
                is_flag=True,
                default=None,
                help="Allow --procs > 1 with InMemoryChannelLayer (only if consumers use no groups).",
            ),
            click.option(
                "--internal",
                type=click.Choice(["unix", "tcp"]),
                help="Split mode: app servers on unix sockets (default) or 127.0.0.1 ports.",
            ),
            click.option(
                "--runtime-dir",
                help="Directory for sockets, pid and temp files. Default: a new private dir under /tmp.",
            ),
            click.option(
                "--asgi-prefix",
                "asgi_prefixes",
                multiple=True,
                help="Split mode: also send this HTTP path prefix to Daphne (repeatable).",
            ),
            click.option(
                "--graceful-timeout",
                type=float,
                help="Seconds in-flight requests get to finish on stop. Default: 30.",
            ),
            click.option(
                "--ping-interval", type=int, help="Daphne's WebSocket ping interval in seconds. Default: 20."
            ),
            click.option("--nginx", help="nginx executable for split mode. Default: nginx on PATH."),
            click.option(
                "--nginx-user",
                help="Split mode as root: the unprivileged user nginx's workers run as. "
                "Default: www-data, else nobody.",
            ),
            click.option(
                "--access-log/--no-access-log",
                "access_log",
                default=None,
                help="One line per request, written by the server itself (nginx in split mode, Daphne in "
                "unified). Default: on.",
            ),
            click.option(
                "--access-log-file",
                help="Append the access log to this file (reopened on SIGUSR1 and reload, for logrotate). "
                "Default: the terminal.",
            ),
            click.option(
                "--access-log-format",
                type=click.Choice(["common", "combined", "json"]),
                help="Access log line format. Default: common.",
            ),
            click.option(
                "--app-access-log",
                is_flag=True,
                default=None,
                help="Split mode: Gunicorn and Daphne log each request too (nginx already does).",
            ),
            click.option(
                "--redis-server",
                help="redis-server executable, for the Redis tandem runs when groups span processes. "
                "Default: redis-server on PATH, /usr/bin or /usr/sbin.",
            ),
            click.option(
                "--skip-checks",
                is_flag=True,
                default=None,
                help="Start even when tandem's deployment checks find errors (they run before anything starts).",
            ),
            click.option(
                "--keep-redis-timeouts",
                is_flag=True,
                default=None,
                help="Leave the project's Redis read timeouts as written (tandem raises ones of 5 s or less, W012).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def cli_values(options: dict[str, Any]) -> dict[str, object]:
    """The options the user gave, keyed by Config field name (None: not given)."""
    values = {k: v for k, v in options.items() if k not in PROJECT_KEYS}
    if not values.get("asgi_prefixes"):
        values.pop("asgi_prefixes", None)
    return values


def boot_error_report(exc: BootError) -> str:
    """The child's last output cut down to what matters (its exception and the user's own frames, not a
    wall of Daphne and importlib frames), then the one error line, which names that exception too."""
    from tandem.tracebacks import excerpt, parse_crash

    lines = []
    if exc.output:
        lines.append("tandem: last output of the failed process:")
        lines += [f"    {line}" for line in excerpt(exc.output)]
    crash = parse_crash(exc.output)
    message = f"{exc.message}: {crash.summary()}" if crash else exc.message
    lines.append(f"tandem: error: {message}; {exc.hint}" if exc.hint else f"tandem: error: {message}")
    return "\n".join(lines)


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BootError as exc:
            click.echo(boot_error_report(exc), err=True)
            sys.exit(exc.exit_code)
        except TandemError as exc:
            click.echo(f"tandem: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def load_project(options: dict[str, Any], *, require_wsgi: bool = False) -> Any:
    from tandem.launcher import load

    return load(
        cli_values(options),
        os.environ,
        project_dir=options.get("project"),
        settings_module=options.get("settings"),
        require_wsgi=require_wsgi,
        pythonpath=tuple(options.get("pythonpath") or ()),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="django-tandem")
def main() -> None:
    """Serve a Django project's HTTP and WebSocket traffic, unified (Daphne) or split
    (Gunicorn + Daphne behind nginx), from one command. Run it where manage.py lives."""


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
