"""The public functions the CLI calls: load the project and config, discover routes, build the Plan,
then run it (serve) or write it (export). Data flows one way: Config -> Project + Routes -> Plan."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tandem import private
from tandem.accesslog import close_target, open_target
from tandem.children import Liveness
from tandem.config import Config, resolve_config
from tandem.errors import ProjectError, UsageError
from tandem.layerchoice import LayerChoice
from tandem.plan import (
    BoundSocket,
    Export,
    File,
    Managed,
    Plan,
    Preview,
    build_plan,
    new_proxy_secret,
    plan_addresses,
    sibling_name,
)
from tandem.printer import Printer
from tandem.programs import require_caddy, require_nginx, require_redis_server
from tandem.project import Project, discover, open_project
from tandem.proxies.validate import caddy_validate, nginx_test
from tandem.routes import RouteTable, discover_routes, overlapping_http_urls
from tandem.sdnotify import Notifier
from tandem.servers import reuse_port_groups
from tandem.serving import Serving, access_log_fds
from tandem.sockets import bind_group, close_all
from tandem.status import CONTROL_SOCKET, ControlServer, Instance, add_live_figures, register
from tandem.supervisor import Supervisor
from tandem.tls import describe as describe_tls
from tandem.tls import ensure_certificate, tls_files
from tandem.topologies import topology, topology_for
from tandem.tracebacks import exception_line, where_in
from tandem.workeruser import nginx_workers, open_to_workers


@dataclass(frozen=True)
class Loaded:
    config: Config
    project: Project
    settings: Any
    cli: Mapping[str, object] = field(default_factory=dict)  # the options given, for the checks


def load(
    cli: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    project_dir: Path | None = None,
    settings_module: str | None = None,
    cwd: Path | None = None,
    require_wsgi: bool = False,
    pythonpath: tuple[Path, ...] = (),
) -> Loaded:
    """Find the project, import its settings, resolve the Config, discover the project's facts."""
    location, settings = open_project(project_dir, settings_module, environ, cwd or Path.cwd(), pythonpath)
    root, module, module_source = location.root, location.settings_module, location.settings_source
    config = resolve_config(cli, environ, getattr(settings, "TANDEM", None) or {})
    project = discover(
        root,
        module,
        module_source,
        settings,
        asgi=config.asgi,
        asgi_source=config.sources.get("asgi", "--asgi").replace("cli", "--asgi"),
        wsgi=config.wsgi,
        wsgi_source=config.sources.get("wsgi", "--wsgi").replace("cli", "--wsgi"),
        channel_layer_override=config.channel_layer,
        # Unified mode never runs the WSGI app: a Channels-only project without wsgi.py is fine there.
        check_wsgi=require_wsgi or config.mode == "split",
        location=location,
    )
    return Loaded(config, project, settings, dict(cli))


def setup_django() -> None:
    import django

    try:
        django.setup()
    except Exception as exc:
        raise ProjectError(
            f"Django failed to set up: {exception_line(exc)}", hint="run python manage.py check"
        ) from None


def discover_project_routes(project: Project, settings: Any) -> RouteTable:
    """Imports the project's ASGI application in this process and walks its routing."""
    setup_django()
    from tandem.runtime.overrides import import_app

    try:
        application = import_app(project.asgi_app)
    except Exception as exc:
        raise ProjectError(
            f"importing the ASGI application {project.asgi_app} failed: {exception_line(exc)}"
            f"{where_in(exc, project.root)}",
            hint=f"fix that error in {project.asgi_app.partition(':')[0]} or what it imports",
        ) from None
    table = discover_routes(application)
    urlconf_name = getattr(settings, "ROOT_URLCONF", None)
    if urlconf_name:
        try:
            urlconf = __import__(urlconf_name, fromlist=["urlpatterns"])
        except Exception as exc:
            return replace(
                table, warnings=(*table.warnings, f"could not import ROOT_URLCONF: {exception_line(exc)}")
            )
        overlaps = overlapping_http_urls(table, urlconf)
        if overlaps:
            table = replace(table, warnings=(*table.warnings, *overlaps))
    return table


def routes_with_prefixes(loaded: Loaded) -> RouteTable:
    return discover_project_routes(loaded.project, loaded.settings)


def effective_layer(loaded: Loaded, environ: Mapping[str, str]) -> LayerChoice:
    """The channel layer serve would give the processes (imports the ASGI app to see who uses groups)."""
    from tandem.checks.context import CheckContext

    setup_django()
    return CheckContext(loaded.settings, environ, loaded.cli).layer_choice


def make_runtime_dir(config: Config) -> tuple[Path, bool]:
    """The private directory for sockets, pid and temp files (checked: tandem.private). Returns
    (path, created_by_us)."""
    return private.runtime_dir(config.runtime_dir)


def write_files(files: tuple[File, ...], directory: Path, dir_mode: int = 0o755) -> list[Path]:
    """Each file written under a temporary name and renamed into place: a symlink planted at a target
    is replaced, never written through. ``dir_mode``: for directories created on the way (an export's
    are ordinary; the runtime directory's stay private)."""
    written = []
    for file in files:
        target = directory / file.path
        private.write_file(target, file.content, file.mode, dir_mode)
        written.append(target)
    return written


def child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment children start from: the caller's, minus tandem's own options."""
    return {k: v for k, v in environ.items() if not k.startswith("TANDEM_")}


def prepare(loaded: Loaded, environ: Mapping[str, str], *, say: Callable[[str], None]) -> Serving:
    """Everything before starting processes: checks, routes, sockets, the Plan, its files, preflight."""
    from tandem.layerchoice import MANAGED
    from tandem.preflight import preflight

    config = loaded.config
    if config.role == "edge" and config.proxy != "nginx":
        raise UsageError("--role edge runs nginx only", hint="drop --proxy caddy")
    # The proxy runs in split mode on one host (in unified mode when TLS or --proxy asks for it), and alone
    # on an edge; an app host runs none.
    proxied = (config.mode == "split" and config.role == "single") or config.role == "edge"
    proxied = proxied or config.unified_proxy
    nginx = require_nginx(config, environ) if proxied and config.proxy == "nginx" else None
    caddy = require_caddy(config, environ) if proxied and config.proxy == "caddy" else None
    setup_django()
    checked = preflight(loaded, environ, child_environ(environ), say=say)
    project = checked.project
    redis_server = require_redis_server(config, environ) if checked.layer.kind == MANAGED else ""
    routes = routes_with_prefixes(loaded) if topology_for(config).needs_routes else None
    runtime_dir, created = make_runtime_dir(config)
    bound_sockets: list[socket.socket] = []
    access_log = None
    try:
        access_log = open_target(config, report=say)
        sockets: dict[str, BoundSocket] = {}
        groups = reuse_port_groups(config)
        for name, address in plan_addresses(config, runtime_dir).items():
            for index, (sock, bound) in enumerate(bind_group(address, groups.get(name, 1)), 1):
                bound_sockets.append(sock)
                sockets[sibling_name(name, index)] = bound
        # the nginx or caddy found, wherever it is
        config = replace(config, nginx=nginx or config.nginx, caddy=caddy or config.caddy)
        target = Managed(
            runtime_dir=runtime_dir,
            sockets=sockets,
            probe_token=secrets.token_hex(16),
            python=sys.executable,
            environ=child_environ(environ),
            layer=checked.layer,
            redis_server=redis_server,
            access_log=access_log,
            proxy_secret=new_proxy_secret(config),
            warnings=checked.warnings,
            notes=checked.notes,
        )
        tls = tls_files(config, runtime_dir)
        if tls is not None:  # made or checked before anything starts; the proxy reads the files
            ensure_certificate(tls)
        plan = build_plan(config, project, routes, target)
        if tls is not None:
            say(describe_tls(tls, plan.public_url, plan.proxy.redirect_listen if plan.proxy else ""))
        checked.collect_static(say)
        write_files(plan.files, runtime_dir, dir_mode=0o700)
        for process in plan.processes:  # working directories of managed services (nginx, redis)
            if process.cwd and Path(process.cwd).is_relative_to(runtime_dir):
                Path(process.cwd).mkdir(parents=True, exist_ok=True, mode=0o700)
        # As root: nginx's workers (another user) may pass through to the app servers' sockets, no further.
        open_to_workers(plan, nginx_workers(config.nginx_user) if nginx is not None else None)
        if nginx is not None:
            nginx_test(nginx, runtime_dir / "nginx" / "nginx.conf", access_log_fds(target))
        if caddy is not None:
            caddy_validate(caddy, runtime_dir / "caddy" / "Caddyfile")
    except BaseException:
        close_all(bound_sockets)
        close_target(access_log)
        if created:
            shutil.rmtree(runtime_dir, ignore_errors=True)
        raise
    return Serving(plan, bound_sockets, runtime_dir, created, config, project, target)


def serve(
    loaded: Loaded,
    environ: Mapping[str, str],
    *,
    printer: Printer | None = None,
    ready_timeout: float = 60.0,
) -> int:
    """``tandem serve``: run the Plan until stopped. Prints ``Ready: URL`` once every process answers."""
    out = printer or Printer(("tandem",))
    notifier = Notifier.from_environ(environ)  # under systemd Type=notify (tandem export systemd)
    serving = prepare(loaded, environ, say=lambda line: out.write("tandem", line))
    plan = serving.plan
    names = tuple(p.name for p in plan.processes)
    printer = printer or Printer(names)
    for note in plan.notes:
        printer.write("tandem", note)
    printer.write("tandem", f"channel layer: {plan.layer_summary}")

    def ready(plan: Plan) -> None:
        printer.write(
            "tandem", f"{plan.mode} mode, {len(plan.processes)} process(es), runtime dir {plan.runtime_dir}"
        )
        # One block, right before Ready, so the warnings are not scrolled away by the start-up lines.
        for warning in plan.warnings:
            lines = warning.splitlines()
            first = lines[0] if lines[0].startswith("tandem.") else f"warning: {lines[0]}"
            for line in (first, *lines[1:]):
                printer.write("tandem", line)
        printer.raw(f"Ready: {plan.public_url}")
        notifier.ready(f"Ready: {plan.public_url}")

        def reachable() -> None:
            problem = unreachable_reason(plan.public_url, loaded.project, serving.target.probe_token)
            if problem:
                printer.write("tandem", f"warning: {problem}")

        # Off the loop: it runs the user's own / view, which may take its time.
        threading.Thread(target=reachable, name="tandem-reachable", daemon=True).start()

    supervisor = Supervisor(
        plan,
        listeners=(printer,),
        ready_timeout=ready_timeout,
        stop_timeout=loaded.config.graceful_timeout + 5,
        prepare_reload=serving.prepare_reload,
        liveness=Liveness(
            loaded.config.probe_interval, loaded.config.probe_timeout, loaded.config.probe_failures
        ),
        on_ready=ready,
        output=printer.child_lines,
        notify=notifier,
    )
    control: ControlServer | None = None
    registration: Path | None = None
    try:  # from here on, whatever fails leaves no runtime dir, socket or pump behind
        control = ControlServer(
            serving.runtime_dir / CONTROL_SOCKET,
            supervisor.request,
            enrich=lambda status: add_live_figures(status, serving.plan),
        )
        control.start()
        registration = register(
            Instance(
                os.getpid(), str(loaded.project.root), plan.public_url, plan.mode, str(serving.runtime_dir)
            ),
            environ,
        )
        # From here on the supervisor's loop and the children's readers only queue lines; one thread writes.
        printer.start()
        return supervisor.run()
    finally:
        if registration is not None:
            registration.unlink(missing_ok=True)
        if control is not None:
            control.close()
        serving.close()
        printer.close()


def unreachable_reason(url: str, project: Project, token: str) -> str | None:
    """Ready means reachable: ask the printed URL exactly as a browser will (its Host header). Django answers
    400 to a Host outside ALLOWED_HOSTS (DEBUG off): say so and what to add. Serving goes on, as the public
    host may well be another name."""
    import httpx

    from tandem.runtime.spec import PROBE_HEADER

    try:
        # The probe header keeps this request out of the access log; Django still sees an ordinary GET.
        # verify=False: tandem's own proxy on this machine, whose certificate may be self-signed.
        status = httpx.get(
            url, headers={PROBE_HEADER: token}, timeout=5.0, verify=False, trust_env=False
        ).status_code
    except Exception:  # whatever fails here, serving goes on: this only adds a hint
        return None
    if status != 400:
        return None
    host = httpx.URL(url).host
    if any(allowed in ("*", host) for allowed in project.allowed_hosts):
        return f"{url} answers 400 Bad Request"
    return (
        f"{url} answers 400 Bad Request: ALLOWED_HOSTS {list(project.allowed_hosts)} does not include "
        f"{host!r} (DEBUG is off); add {host!r} to ALLOWED_HOSTS to use this address"
    )


def export_plan(
    loaded: Loaded,
    runtime_dir: Path,
    port: int = 80,
    *,
    mode: str = "split",
    bind: str | None = None,
    probe_token: str = "",
    shared_fd: int | None = None,
    procs: int | None = None,
    served: bool = False,
) -> Plan:
    """What a production host runs: sockets under ``runtime_dir``, nothing bound here (``shared_fd``: the
    Daphne socket arrives from the process manager on that descriptor; tandem.exporters.common; ``served``:
    the host runs ``tandem serve``, which binds them all, tandem.plan.Export)."""
    config = replace(loaded.config, mode=mode, port=port, bind=bind or loaded.config.bind)
    if procs is not None:
        config = replace(config, procs=procs)
    routes = routes_with_prefixes(loaded) if topology(mode).needs_routes else None
    target = Export(runtime_dir, probe_token, sys.executable, shared_fd, served)
    return build_plan(config, loaded.project, routes, target)


def routes_plan(loaded: Loaded, environ: Mapping[str, str]) -> Plan:
    """``tandem routes``: the Plan serve would run for this Config (a Preview target: nothing bound, written
    or started), with the routes discovered in every mode, so each route is shown with the process that
    answers it. A project without STATIC_ROOT gets tandem's own directory, named as serve names it."""
    from tandem.preflight import with_static_root

    routes = routes_with_prefixes(loaded)
    project = with_static_root(loaded.project, environ, [], prepare=False)
    # serve's runtime directory is made fresh per run; a stand-in names where its sockets would be.
    runtime_dir = Path(
        os.path.abspath(loaded.config.runtime_dir or Path(tempfile.gettempdir()) / "tandem-preview")
    )
    target = Preview(runtime_dir, sys.executable, layer=effective_layer(loaded, environ))
    return build_plan(loaded.config, project, routes, target)
