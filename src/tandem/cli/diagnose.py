"""check and verify."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from tandem.cli.base import cli_values, handle_errors, main, options_for


@main.command("check")
@options_for("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def check(as_json: bool, **options: Any) -> None:
    """Deployment checks (tandem.E001..., tandem.W001...); exits 1 when any error is found."""
    from tandem.checks.runner import check_project

    report = check_project(
        cli_values(options),
        os.environ,
        project_dir=options.get("project"),
        settings_module=options.get("settings"),
        pythonpath=tuple(options.get("pythonpath") or ()),
    )
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(1 if report.errors else 0)


@main.command("verify")
@click.argument("url")
@click.option(
    "--ws",
    "ws_paths",
    multiple=True,
    help="WebSocket path to probe (repeatable). Default: the project's routes.",
)
@click.option(
    "--echo",
    "echo_paths",
    multiple=True,
    help="A WebSocket path that echoes text frames (repeatable): the only routes sent a data frame.",
)
@click.option("--cookie", help="Cookie header for routes that need a login, e.g. 'sessionid=...'.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    help="'Name: value' header sent with each WebSocket handshake (repeatable), e.g. a bearer token.",
)
@click.option("--static-path", help="A static file's URL path. Default: one from the project's STATIC_ROOT.")
@click.option(
    "--token",
    help="The diagnostic token the site is configured with. Default: TANDEM_DIAGNOSTIC_TOKEN, settings.",
)
@click.option(
    "--idle",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds an idle WebSocket must survive (0: skip).",
)
@click.option(
    "--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for each answer."
)
@click.option("--cacert", help="CA certificate file to trust for https.")
@click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate.")
@click.option(
    "--project", type=click.Path(file_okay=False, path_type=Path), help="Project to read routes from."
)
@click.option("--settings", help="Settings module of that project.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def verify(url: str, as_json: bool, **options: Any) -> None:
    """Probe a running deployment at URL from outside; exits 1 when any probe FAILs.

    Read-only unless --echo names a route: WebSocket routes get a handshake and a ping control frame.
    """
    from tandem.verify import VerifyOptions
    from tandem.verify import verify as run_verify

    report = run_verify(
        VerifyOptions(
            url=url,
            ws_paths=tuple(options["ws_paths"]),
            echo_paths=tuple(options["echo_paths"]),
            cookie=options["cookie"],
            headers=tuple(options["headers"]),
            static_path=options["static_path"],
            token=options["token"],
            idle=options["idle"],
            timeout=options["timeout"],
            cacert=options["cacert"],
            insecure=options["insecure"],
            project_dir=options["project"],
            settings_module=options["settings"],
        ),
        os.environ,
    )
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        from rich.console import Console

        from tandem.verify.report import render

        render(report, Console(width=None if sys.stdout.isatty() else 120))
    sys.exit(1 if report.failed else 0)
