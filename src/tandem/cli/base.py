"""What every command shares: the click group, option sets, project loading and error handling.

Every TandemError becomes one line on stderr and its own exit code (handle_errors); only the cli package exits.
"""

from __future__ import annotations

import functools
import os
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from tandem import __version__
from tandem.config import Config
from tandem.errors import BootError, TandemError
from tandem.options import OPTIONS, Option, for_command, shown_default

F = TypeVar("F", bound=Callable[..., Any])

# The Python type of each Config option (bool: a flag; int, float: click checks the number).
_FIELD_TYPES: dict[str, object] = {
    name: hint for name, hint in typing.get_type_hints(Config).items() if hint in (bool, int, float)
}

PROJECT_KEYS = tuple(
    entry.name for entry in OPTIONS if not entry.config
)  # --project, --settings, --pythonpath


def _click_option(entry: Option, command: str) -> Callable[[F], F]:
    """One table entry as a click option of ``command``. A Config option left out is None ("not given"),
    so the next source in the precedence list decides; a command default of its own is shown as such."""
    own = entry.command_default(command)
    default_text = shown_default(entry)
    help_text = own.help if own else entry.help + (f" Default: {default_text}." if default_text else "")
    kwargs: dict[str, Any] = {"help": help_text, "default": own.value if own else None}
    if own:
        kwargs["show_default"] = True
    kind = _FIELD_TYPES.get(entry.name)
    if entry.choices:
        kwargs["type"] = click.Choice(list(entry.choices))
    elif entry.directory:
        kwargs["type"] = click.Path(file_okay=False, path_type=Path)
    elif kind in (int, float):
        kwargs["type"] = kind
    if entry.metavar and not entry.choices:
        kwargs["metavar"] = entry.metavar
    if entry.repeatable:
        kwargs["multiple"] = True
        kwargs.pop("default")
    if kind is bool:
        if entry.switch:
            flag = entry.cli_flag
            return click.option(f"{flag}/--no-{flag[2:]}", entry.name, **kwargs)
        kwargs["is_flag"] = True
    return click.option(entry.cli_flag, entry.name, **kwargs)


def options_for(command: str) -> Callable[[F], F]:
    """Every option the table gives ``command`` a flag for, in the table's order."""

    def decorate(func: F) -> F:
        for entry in reversed(for_command(command)):
            func = _click_option(entry, command)(func)
        return func

    return decorate


def cli_values(options: dict[str, Any]) -> dict[str, object]:
    """The options the user gave, keyed by Config field name (None: not given)."""
    values = {k: v for k, v in options.items() if k not in PROJECT_KEYS}
    for entry in OPTIONS:  # a repeatable flag not given arrives as (): not given, like None
        if entry.repeatable and entry.config and not values.get(entry.name):
            values.pop(entry.name, None)
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
    """Serve a Django project's HTTP and WebSocket traffic, unified (Daphne; behind nginx or Caddy with
    --tls, --proxy or --trusted-proxy) or split (Gunicorn + Daphne behind nginx or Caddy), from one command.
    Run it where manage.py lives."""


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
