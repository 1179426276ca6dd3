"""serve, config, routes, export."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.base import handle_errors, load_project, main, options_for, print_table
from tandem.config import Config
from tandem.errors import TandemError, UsageError

if TYPE_CHECKING:
    from tandem.routeview import RouteView


@main.command()
@options_for("serve")
@click.option(
    "--ready-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds each process gets to answer its first probe.",
)
@handle_errors
def serve(ready_timeout: float, **options: Any) -> None:
    """Run the project: prints 'Ready: http://HOST:PORT/' once every process answers."""
    from tandem.launcher import serve as run_serve

    loaded = load_project(options)
    sys.exit(run_serve(loaded, os.environ, ready_timeout=ready_timeout))


def _format_value(value: object) -> str:
    if value is None:
        return "auto" if value is None else ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _shown_value(name: str, value: object, secret: set[str]) -> str:
    """An option's value as `tandem config` prints it (text and JSON alike): a secret as set or not, the
    channel layer's URL without its password (redis://:***@host), as tandem's other messages give it."""
    from tandem.redishosts import redact

    if name in secret:
        return "(set)" if value else "-"
    if name == "channel_layer" and isinstance(value, str):
        return redact(value)
    return _format_value(value)


def effective_layer_row(loaded: Any) -> tuple[str, str, str]:
    from tandem.launcher import effective_layer

    try:
        layer = effective_layer(loaded, os.environ)
    except TandemError as exc:
        return ("channel_layer (effective)", "unknown", str(exc))
    return ("channel_layer (effective)", layer.name, layer.why)


def _layer_warning(target: str, per_process: bool, loaded: Any) -> tuple[str, ...]:
    """What serve would fix with a managed Redis, an export of the bare servers cannot: say so."""
    from tandem.launcher import effective_layer
    from tandem.layerchoice import MANAGED

    if target == "systemd" and not per_process:
        return ()  # the unit runs `tandem serve`, which starts that Redis itself
    if loaded.config.role == "edge":
        return ()  # an edge runs no app server: its channel layer is never used
    try:
        layer = effective_layer(loaded, os.environ)
    except TandemError:
        return ()
    if layer.kind != MANAGED:
        return ()
    return (
        "tandem serve gives this project a Redis channel layer of its own (its groups span processes), but "
        "the exported servers run on the project's InMemoryChannelLayer, where group messages sent from "
        "views never arrive: export with --channel-layer redis://HOST:PORT/0 (your Redis), or use "
        "`tandem export systemd` (it runs tandem serve)",
    )


@main.command("config")
@options_for("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def show_config(as_json: bool, **options: Any) -> None:
    """Show every effective setting and where it came from (CLI > TANDEM_* env > settings.TANDEM > default)."""
    loaded = load_project(options)
    config: Config = loaded.config
    project = loaded.project
    secret = {"diagnostic_token", "edge_secret"}  # shown as set or not, never printed
    rows = [
        (name, _shown_value(name, value, secret), config.sources.get(name, "default"))
        for name, value in config.values().items()
    ]
    facts = [
        ("project", str(project.root), project.root_source),
        ("settings", project.settings_module, project.settings_source),
        ("sys_path", os.pathsep.join(project.pythonpath), project.sys_path_note or "like python -m django"),
        ("asgi_app", project.asgi_app, project.asgi_source),
        ("wsgi_app", project.wsgi_app, project.wsgi_source),
        ("static", f"{project.static_url} -> {project.static_root or 'STATIC_ROOT not set'}", "settings"),
        ("media", f"{project.media_url} -> {project.media_root or 'MEDIA_ROOT not set'}", "settings"),
        ("channel_layer_backend", project.channel_layer.backend or "none", project.channel_layer.source),
        effective_layer_row(loaded),
        ("ws_read_timeout (effective)", str(config.proxy_read_timeout), "derived from ping_interval"),
    ]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "config": {r[0]: {"value": r[1], "source": r[2]} for r in rows},
                    "project": {f[0]: {"value": f[1], "source": f[2]} for f in facts},
                },
                indent=2,
            )
        )
        return
    width = max(len(r[0]) for r in rows + facts)
    click.echo("Project")
    for name, value, source in facts:
        click.echo(f"  {name:<{width}}  {value}  [{source}]")
    click.echo("Options")
    for name, value, source in rows:
        click.echo(f"  {name:<{width}}  {value}  [{source}]")


@main.command()
@options_for("routes")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema 1: see README, tandem routes).")
@handle_errors
def routes(as_json: bool, **options: Any) -> None:
    """Show which process answers each URL prefix in the chosen --mode and servers: the routes discovered from
    the project's ASGI routing, each --asgi-prefix, the static and media locations and the catch-all, read
    from the Plan 'tandem serve' would run (nothing is started)."""
    from tandem.launcher import routes_plan
    from tandem.routeview import route_view

    loaded = load_project(options)
    plan = routes_plan(loaded, os.environ)
    assert plan.routes is not None  # routes_plan discovers them in every mode
    view = route_view(plan, plan.routes, loaded.config.asgi_prefixes)
    if as_json:
        click.echo(json.dumps(view.to_json(), indent=2))
        return
    click.echo(_routes_heading(view))
    columns = ("PREFIX", "PROTOCOL", "SERVER", "PROCESSES", "ROUTED BY", "PATTERN", "TARGET")
    print_table(
        columns,
        [
            (r.prefix, r.protocol, r.server, r.processes_text, r.routed_by, r.pattern, r.target)
            for r in view.rows
        ],
    )
    click.echo(_websocket_line(view, plan.routes.websocket_prefixes))
    for warning in view.warnings:
        click.echo(f"warning: {warning}", err=True)


def _routes_heading(view: RouteView) -> str:
    if view.proxy:
        return f"{view.mode} mode: {view.proxy} on {view.public_url} routes each request"
    if view.mode == "app":
        return f"app host ({view.public_url}): the edge routes each request to these servers"
    return f"{view.mode} mode: one server on {view.public_url} answers every request (no proxy)"


def _websocket_line(view: RouteView, discovered: tuple[str, ...]) -> str:
    from tandem.routeview import APPLICATION, CATCH_ALL, PATH_PREFIX, UPGRADE

    if view.websocket_by == "none":
        everything = view.rows[-1].server
        return f"No WebSocket routes: every request no prefix claims goes to {everything}."
    if view.websocket_by == UPGRADE:
        return "WebSockets are routed by Upgrade header: a WebSocket route has no literal path prefix."
    if view.websocket_by == PATH_PREFIX:
        return f"WebSockets are routed by path prefix: {', '.join(view.websocket_prefixes)}"
    if view.websocket_by == CATCH_ALL:
        return (
            f"WebSockets ({', '.join(discovered) or 'no literal prefix'}) go through {view.proxy} to the same "
            "server as everything else; the project's ASGI routing picks the consumer."
        )
    if view.websocket_by == APPLICATION:
        return (
            f"WebSockets ({', '.join(discovered) or 'no literal prefix'}) reach the same server as everything "
            "else; the project's ASGI routing picks the consumer (--mode split shows the proxy's routing)."
        )
    return "WebSockets are routed to the ASGI server by the edge (tandem serve --role edge)."


@main.command("export")
@click.argument("target", type=click.Choice(["nginx", "caddy", "systemd", "procfile", "supervisor"]))
@options_for("export")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into.",
)
@click.option(
    "--per-process", is_flag=True, help="systemd: one unit per process instead of one tandem.service."
)
@click.option("--user", default=None, help="User the servers run as. Default: the user running export.")
@click.option(
    "--group", default="", help="Group the servers run as (default: www-data where nginx's workers need it)."
)
@handle_errors
def export(
    target: str,
    out_dir: Path,
    port: int,
    mode: str,
    per_process: bool,
    user: str | None,
    group: str,
    **options: Any,
) -> None:
    """Write the production configuration for TARGET (nginx, caddy, systemd, procfile, supervisor), rendered from
    the same Plan as 'tandem serve': the same commands, environment and nginx config."""
    import getpass
    import secrets

    from tandem.exporters import check_export, export_files
    from tandem.exporters.carried import carried
    from tandem.exporters.common import ExportOptions, Launch, shared_fd
    from tandem.launcher import export_plan, write_files
    from tandem.pythonpath import environ_value

    runtime_dir = Path(options["runtime_dir"])
    if not runtime_dir.is_absolute():
        # nginx would resolve a relative socket path against its own prefix, not where the servers run.
        raise UsageError(
            f"--runtime-dir {str(runtime_dir)!r} must be an absolute path on the production host",
            hint="e.g. --runtime-dir /run/tandem",
        )
    options["runtime_dir"] = None
    bind = options.pop("bind")
    role = options.get("role") or "single"
    # nginx and caddy export split mode's proxy, or unified mode's with --mode unified given (the proxy in
    # front of Daphne alone); an edge's nginx keeps --mode (the app hosts' own).
    given = click.get_current_context().get_parameter_source("mode") == click.core.ParameterSource.COMMANDLINE
    if target in ("nginx", "caddy") and role != "edge" and not (given and mode == "unified"):
        mode = "split"
    if target in ("nginx", "caddy"):
        if options.get("proxy") not in (None, target):
            raise UsageError(
                f"--proxy {options['proxy']} contradicts export {target}",
                hint=f"export {target} writes {target}'s config: leave --proxy out, or export {options['proxy']}",
            )
        options["proxy"] = target  # given: in unified mode, that is what puts the proxy in front
    loaded = load_project({**options, "mode": mode}, require_wsgi=mode == "split")
    # Everything the export was given, for the one service's `tandem serve`: the same Plan on the host.
    serve = carried(target, loaded.config)
    project = loaded.project
    export_options = ExportOptions(
        user=user or getpass.getuser(),
        group=group,
        per_process=per_process,
        serve_args=serve.args,
        serve_env=serve.environment,
        secret_env=serve.secrets,
        access_log_file=serve.access_log_file,
        # An edge's tandem.service: the Python and project this export ran with (its Plan has no app server
        # to name them).
        launch=Launch(
            sys.executable,
            str(project.root),
            project.settings_module,
            environ_value(project.pythonpath, None),
        ),
    )
    plan = export_plan(
        loaded,
        runtime_dir,
        port=port,
        mode=mode,
        bind=bind,
        # The health probe's token, generated per export: the exported commands carry it.
        probe_token=secrets.token_hex(16),
        shared_fd=shared_fd(target, export_options),
        # A Procfile runner starts each line alone: one Daphne unless asked (then refused, with the why).
        procs=1 if target == "procfile" and loaded.config.procs is None else None,
        # The one systemd service runs `tandem serve`: its Plan is serve's (Granian and uvicorn included).
        served=target == "systemd" and not per_process,
    )
    files = export_files(target, plan, export_options)
    # Checked before anything is written: a config nginx refuses never lands in --out.
    unchecked = check_export(target, files, loaded.config, os.environ)
    for warning in (
        *plan.warnings,
        *((unchecked,) if unchecked else ()),
        *_layer_warning(target, per_process, loaded),
    ):
        click.echo(f"warning: {warning}", err=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in write_files(files, out_dir):
        click.echo(f"wrote {path}")
