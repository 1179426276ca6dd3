"""status, reload, stop: talk to a running tandem serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tandem.cli.base import F, handle_errors, main, print_table


def _control(
    command: str, pid: int | None, project: Path | None, timeout: float = 10.0
) -> tuple[Any, dict[str, Any]]:
    """Sends ``command`` to the running instance serving ``project`` (or ``pid``): (instance, reply)."""
    from tandem.status import choose, send

    # Registry entries not believed (stale, forged) are named on stderr; the command goes on without them.
    instance = choose(
        project or Path.cwd(), pid, report=lambda line: click.echo(f"warning: {line}", err=True)
    )
    reply = send(instance, command, timeout)
    if not reply:  # it closed the connection unanswered (it stopped meanwhile, or timed out)
        from tandem.status import NotRunning

        raise NotRunning(f"tandem (pid {instance.pid}) gave no answer to {command!r}")
    return instance, reply


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
    click.echo(f"channel layer: {info.get('channel_layer')}")
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
    hosts = info.get("hosts")
    if hosts is not None:  # an edge: its app hosts, probed now
        click.echo("app hosts:")
        print_table(("HOST", "ANSWERS", "HTTP", "WEBSOCKET"), [_host_row(h) for h in hosts])


def _host_row(host: dict[str, Any]) -> tuple[str, ...]:
    def port(kind: str) -> str:
        found = host.get(kind) or host.get("http") or {}
        detail = f" ({found.get('detail')})" if found.get("state") != "ok" and found.get("detail") else ""
        return f"{found.get('address')} {found.get('state')}{detail}"

    return (str(host.get("host")), "yes" if host.get("answers") else "NO", port("http"), port("ws"))


@main.command()
@control_options
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Return when the reload has finished or failed (and exit non-zero with its cause if it failed), "
    "or as soon as it has started.",
)
@handle_errors
def reload(pid: int | None, project: Path | None, wait: bool) -> None:
    """Reload a running 'tandem serve' with new code, without refusing a request (SIGHUP does the same,
    without waiting). A reload that fails leaves the running processes serving."""
    from tandem.status import RELOAD_WAIT

    if wait:
        _, reply = _control("reload-wait", pid, project, timeout=RELOAD_WAIT + 5)
    else:
        _, reply = _control("reload", pid, project)
    click.echo(reply.get("message", "reloading"))
    if not reply.get("ok"):
        sys.exit(8 if wait else 1)


@main.command()
@control_options
@handle_errors
def stop(pid: int | None, project: Path | None) -> None:
    """Stop a running 'tandem serve' gracefully (same as SIGTERM)."""
    _, reply = _control("stop", pid, project)
    click.echo(reply.get("message", "stopping"))
    if reply.get("ok") is False:
        sys.exit(1)
