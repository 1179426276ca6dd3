"""The command line: parses arguments and calls the public functions in tandem.launcher. Nothing else.

Every TandemError becomes one line on stderr and its own exit code; only this module exits.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from tandem import __version__
from tandem.config import Config
from tandem.errors import BootError, TandemError

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_KEYS = ("project", "settings")


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
                help="Settings module. Default: DJANGO_SETTINGS_MODULE, else read from manage.py.",
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
                help="Use a Redis channel layer at this URL (redis://HOST:PORT/N) instead of settings.CHANNEL_LAYERS.",
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


def _load(options: dict[str, Any], *, require_wsgi: bool = False) -> Any:
    from tandem.launcher import load

    return load(
        cli_values(options),
        os.environ,
        project_dir=options.get("project"),
        settings_module=options.get("settings"),
        require_wsgi=require_wsgi,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="django-tandem")
def main() -> None:
    """Serve a Django project's HTTP and WebSocket traffic, unified (Daphne) or split
    (Gunicorn + Daphne behind nginx), from one command. Run it where manage.py lives."""


@main.command()
@project_options
@serve_options
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

    loaded = _load(options)
    sys.exit(run_serve(loaded, os.environ, ready_timeout=ready_timeout))


def _format_value(value: object) -> str:
    if value is None:
        return "auto" if value is None else ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


@main.command("config")
@project_options
@serve_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def show_config(as_json: bool, **options: Any) -> None:
    """Show every effective setting and where it came from (CLI > TANDEM_* env > settings.TANDEM > default)."""
    loaded = _load(options)
    config: Config = loaded.config
    project = loaded.project
    secret = {"diagnostic_token"}  # shown as set or not, never printed
    rows = [
        (
            name,
            ("(set)" if value else "-") if name in secret else _format_value(value),
            config.sources.get(name, "default"),
        )
        for name, value in config.values().items()
    ]
    facts = [
        ("project", str(project.root), "--project" if options.get("project") else "current directory"),
        ("settings", project.settings_module, project.settings_source),
        ("asgi_app", project.asgi_app, project.asgi_source),
        ("wsgi_app", project.wsgi_app, project.wsgi_source),
        ("static", f"{project.static_url} -> {project.static_root or 'STATIC_ROOT not set'}", "settings"),
        ("media", f"{project.media_url} -> {project.media_root or 'MEDIA_ROOT not set'}", "settings"),
        ("channel_layer_backend", project.channel_layer.backend or "none", project.channel_layer.source),
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
@project_options
@click.option(
    "--asgi-prefix", "asgi_prefixes", multiple=True, help="Also send this HTTP prefix to Daphne (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def routes(as_json: bool, **options: Any) -> None:
    """Show which URL prefixes go to which server, discovered from the project's ASGI routing."""
    from tandem.launcher import routes_with_prefixes

    loaded = _load(options)
    table = routes_with_prefixes(loaded)
    prefixes = loaded.config.asgi_prefixes
    rows = []
    for route in table.routes:
        server = "daphne" if route.protocol == "websocket" or route.protocol == "http" else "?"
        rows.append(
            {
                "prefix": route.prefix,
                "protocol": route.protocol,
                "server": server,
                "pattern": route.pattern,
                "target": route.target,
            }
        )
    for prefix in prefixes:
        rows.append(
            {
                "prefix": prefix,
                "protocol": "http",
                "server": "daphne",
                "pattern": "(--asgi-prefix)",
                "target": "-",
            }
        )
    rows.append(
        {
            "prefix": "/",
            "protocol": "http",
            "server": "gunicorn (split) / daphne (unified)",
            "pattern": "(everything else)",
            "target": loaded.project.wsgi_app,
        }
    )
    routing = (
        "Upgrade header"
        if table.route_by_upgrade
        else "path prefix"
        if table.for_protocol("websocket")
        else "none"
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "routes": rows,
                    "websocket_prefixes": list(table.websocket_prefixes),
                    "route_by": routing,
                    "warnings": list(table.warnings),
                },
                indent=2,
            )
        )
        return
    columns = ("prefix", "protocol", "server", "pattern", "target")
    print_table(tuple(c.upper() for c in columns), [tuple(str(row[c]) for c in columns) for row in rows])
    if not table.for_protocol("websocket"):
        click.echo(
            "No WebSocket routes: in split mode every request goes to Gunicorn (Daphne gets --asgi-prefix paths)."
        )
    elif table.route_by_upgrade:
        click.echo("WebSockets are routed by Upgrade header: a WebSocket route has no literal path prefix.")
    else:
        click.echo(f"WebSockets are routed by path prefix: {', '.join(table.websocket_prefixes)}")
    for warning in table.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command("export")
@click.argument("target", type=click.Choice(["nginx"]))
@project_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into.",
)
@click.option(
    "--runtime-dir",
    default="/run/tandem",
    show_default=True,
    help="Where the production servers put their sockets.",
)
@click.option("--port", type=int, default=80, show_default=True, help="Port nginx listens on.")
@click.option(
    "--asgi-prefix", "asgi_prefixes", multiple=True, help="Also send this HTTP prefix to Daphne (repeatable)."
)
@click.option(
    "--internal",
    type=click.Choice(["unix", "tcp"]),
    help="App servers on unix sockets (default) or 127.0.0.1 ports.",
)
@handle_errors
def export(target: str, out_dir: Path, port: int, **options: Any) -> None:
    """Write the production configuration for TARGET, rendered from the same Plan as 'serve --mode split'."""
    from tandem.exporters import export_files
    from tandem.launcher import export_plan, write_files

    runtime_dir = Path(options["runtime_dir"])
    options["runtime_dir"] = None
    loaded = _load(options, require_wsgi=True)
    plan = export_plan(loaded, runtime_dir, port=port)
    files = export_files(target, plan)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in write_files(files, out_dir):
        click.echo(f"wrote {path}")


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _control(command: str, pid: int | None, project: Path | None) -> tuple[Any, dict[str, Any]]:
    """Sends ``command`` to the running instance serving ``project`` (or ``pid``): (instance, reply)."""
    from tandem.status import choose, send

    instance = choose(project or Path.cwd(), pid)
    return instance, send(instance, command)


def control_options(func: F) -> F:
    func = click.option(
        "--pid", type=int, help="The tandem serve process to talk to (default: the one serving this project)."
    )(func)
    func = click.option(
        "--project",
        type=click.Path(file_okay=False, path_type=Path),
        help="Project root. Default: the current directory.",
    )(func)
    return func


@main.command()
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def status(pid: int | None, project: Path | None, as_json: bool) -> None:
    """Show the processes of a running 'tandem serve': pid, role, state, uptime, restarts, connections."""
    instance, reply = _control("status", pid, project)
    info = reply.get("status", {})
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(
        f"{info.get('mode')} mode at {info.get('url')}  state {info.get('state')}  uptime {info.get('uptime')} s  reloads {info.get('reloads')}  (tandem pid {instance.pid})"
    )
    header = ("NAME", "ROLE", "PID", "STATE", "UPTIME", "RESTARTS", "CONNS", "RSS MB")
    rows = [
        (
            p["name"],
            p["role"],
            str(p["pid"]),
            p["state"],
            f"{p['uptime']}",
            str(p["restarts"]),
            str(p["connections"]),
            str(p["rss_mb"]),
        )
        for p in info.get("processes", [])
    ]
    print_table(header, rows)


@main.command()
@control_options
@handle_errors
def reload(pid: int | None, project: Path | None) -> None:
    """Reload a running 'tandem serve' with new code, without refusing a request (same as SIGHUP)."""
    _, reply = _control("reload", pid, project)
    click.echo(reply.get("message", "reloading"))
    if not reply.get("ok"):
        sys.exit(1)


@main.command()
@control_options
@handle_errors
def stop(pid: int | None, project: Path | None) -> None:
    """Stop a running 'tandem serve' gracefully (same as SIGTERM)."""
    _, reply = _control("stop", pid, project)
    click.echo(reply.get("message", "stopping"))


@main.command()
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="Django project root (where manage.py is). Default: the current directory.",
)
@click.option(
    "--settings", help="Settings module. Default: DJANGO_SETTINGS_MODULE, else read from manage.py."
)
@click.option("--modes", default="unified,split", show_default=True, help="Topologies to measure.")
@click.option(
    "--variants",
    help="Only these variants (comma-separated): unified-1, unified-n, unified-1-redis, split-unix, "
    "split-tcp, split-redis. Default: every variant of --modes.",
)
@click.option(
    "--duration", type=float, default=10.0, show_default=True, help="Seconds per HTTP/echo measurement."
)
@click.option(
    "--warmup", type=float, default=2.0, show_default=True, help="Seconds of unrecorded load before each."
)
@click.option("--http-path", default="/healthz", show_default=True, help="HTTP path to load.")
@click.option("--ws-path", default="/ws/echo/", show_default=True, help="WebSocket echo route.")
@click.option(
    "--fanout-path",
    default="/ws/chat/{room}/",
    show_default=True,
    help="Chat-protocol route for the broadcast fan-out; {room} is replaced.",
)
@click.option("--connections", type=int, default=32, show_default=True, help="HTTP connections (wrk -c).")
@click.option("--clients", type=int, default=32, show_default=True, help="WebSocket echo clients.")
@click.option("--fanout", default="100,1000", show_default=True, help="Clients in the room, per fan-out run.")
@click.option(
    "--fanout-messages", type=int, default=20, show_default=True, help="Messages posted per fan-out run."
)
@click.option(
    "--max-conns", type=int, default=8000, show_default=True, help="Idle WebSockets to open (0: skip)."
)
@click.option(
    "--conns-timeout", type=float, default=60.0, show_default=True, help="Seconds allowed to open them."
)
@click.option(
    "--http-tool",
    type=click.Choice(["auto", "wrk", "python"]),
    default="auto",
    show_default=True,
    help="auto: wrk when installed, else the (labelled) Python fallback.",
)
@click.option(
    "--ready-timeout",
    type=float,
    default=90.0,
    show_default=True,
    help="Seconds each topology gets to start.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write every figure here."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report here.",
)
@handle_errors
def bench(**options: Any) -> None:
    """Start each topology for real on this project, measure it, and recommend one."""
    from tandem.bench.main import bench as run_bench

    sys.exit(run_bench(options, os.environ, ["tandem", *sys.argv[1:]]))


@main.command("check")
@project_options
@click.option(
    "--mode", type=click.Choice(["unified", "split"]), help="The topology to check for. Default: unified."
)
@click.option("--procs", help="Daphne processes you will run, or 'auto'.")
@click.option("--allow-inmemory", is_flag=True, default=None, help="You assert no consumer uses groups.")
@click.option("--ping-interval", type=int, help="Daphne's WebSocket ping interval in seconds. Default: 20.")
@click.option(
    "--asgi-prefix", "asgi_prefixes", multiple=True, help="HTTP prefixes you send to Daphne (repeatable)."
)
@click.option(
    "--public-url", help="The address users reach, e.g. https://chat.example.com (TLS, CSRF, origins)."
)
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
    """Probe a running deployment at URL from outside; exits 1 when any probe FAILs."""
    from tandem.verify import VerifyOptions
    from tandem.verify import verify as run_verify

    report = run_verify(
        VerifyOptions(
            url=url,
            ws_paths=tuple(options["ws_paths"]),
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
