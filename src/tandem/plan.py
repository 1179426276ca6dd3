"""The Plan: which processes run, on which sockets, with which files. Built by a topology, run by the
Supervisor or written out by an exporter, so what is tested locally is what is deployed."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tandem.accesslog import AccessLogTarget
from tandem.config import Config, cpu_count, describe_source
from tandem.errors import UsageError
from tandem.layerchoice import KEPT_MEMORY, LayerChoice
from tandem.project import ChannelLayer, Project
from tandem.routes import RouteTable


@dataclass(frozen=True)
class File:
    """A file a renderer produced. ``path`` is relative to the directory the command writes into."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class Address:
    """Where a server listens: a unix socket path or a TCP host and port."""

    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def nginx(self) -> str:
        return f"unix:{self.path}" if self.path else f"{host_for_url(self.host or '')}:{self.port}"

    def gunicorn(self) -> str:
        return f"unix:{self.path}" if self.path else f"{host_for_url(self.host or '')}:{self.port}"

    def __str__(self) -> str:
        return self.nginx()


def host_for_url(host: str) -> str:
    """IPv6 literals go in brackets in URLs and listen directives."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class BoundSocket:
    """A listening socket: bound by the supervisor (``fd`` set, port 0 resolved) or, for an export,
    only the address the production servers will bind themselves (``fd`` None)."""

    address: Address
    fd: int | None = None


@dataclass(frozen=True)
class Probe:
    """How the supervisor knows a process is up: an HTTP request that must get any answer."""

    address: Address
    path: str
    host_header: str
    headers: Mapping[str, str] = field(default_factory=dict)
    websocket: bool = False  # Daphne: a WebSocket handshake proves its event loop runs, not just its accept
    protocol: str = "http"  # "http", or "redis" for the managed redis-server (PING must get PONG)
    # Daphne: the shared socket it must accept on. Readiness needs an answer through it from this very
    # process (the probe's answer names its pid; tandem.supervisor.starting). ``shared_fd``: the
    # supervisor's own descriptor of that socket, whose identity the process reports if the kernel keeps
    # handing the probes to the other processes.
    shared: Address | None = None
    shared_fd: int | None = None
    tls: bool = False  # the proxy's public port speaks TLS (tandem.tls): the probe does too, unverified


class Role(enum.StrEnum):
    """What a process is to the supervisor: its stop order, its reload (HUP, one-at-a-time replacement,
    config reload) and its restart follow from it. A StrEnum, so a role reads and compares as its name."""

    DAPHNE = "daphne"  # tandem's Daphne, and any ASGI server with its lifecycle (replaced one at a time)
    GUNICORN = "gunicorn"  # an arbiter: HUP replaces its workers
    GUNICORN_ASGI = "gunicorn-asgi"
    NGINX = "nginx"
    CADDY = "caddy"
    REDIS = "redis"


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # shown as the prefix of every output line, e.g. "daphne.1"
    role: Role
    argv: tuple[str, ...]
    env: Mapping[str, str]
    probe: Probe
    inherited_fds: tuple[int, ...] = ()  # listening sockets the child adopts (same numbers in the child)
    cwd: str | None = None
    # Sent on SIGUSR1 to tandem (logrotate) when the process writes a log file it must reopen; None: none.
    reopen_signal: int | None = None
    # Run to apply a changed config without a restart when no signal does it (Caddy: ``caddy reload``
    # through its admin socket); empty: a changed config is applied with SIGHUP (nginx).
    reload_argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaticLocation:
    url: str  # "/static/"
    root: str  # directory, ending with "/"
    media: bool = False
    expires: str = "1h"  # nginx's expires: sets Expires and Cache-Control max-age


@dataclass(frozen=True)
class ProxySpec:
    project: str
    listen: str  # "127.0.0.1:8000" or "80"
    server_names: tuple[str, ...]
    wsgi_upstream: str  # "unix:/run/tandem/gunicorn.sock" or "127.0.0.1:8001"; "" with asgi_only
    asgi_upstream: str
    ws_prefixes: tuple[str, ...]
    route_by_upgrade: bool
    asgi_prefixes: tuple[str, ...]
    static_locations: tuple[StaticLocation, ...]
    ws_read_timeout: int
    ping_interval: int
    max_body_size: str
    route_summary: str
    managed: bool
    prefix: str = ""  # managed: the runtime directory holding pid and temp paths
    forwarded_proto: str = "$scheme"
    name: str = "tandem"  # prefix of the upstream and map variable names: unique per project in one nginx
    wsgi_app: str = ""  # "module:attr" the WSGI server runs (for the export's instructions)
    asgi_app: str = ""
    keepalive: int = 32
    keepalive_timeout: int = 30  # seconds; below Daphne's (Twisted's) 60 s idle timeout
    backlog: int | None = None
    worker_processes: str = "auto"
    # A proxied WebSocket holds two connections (client and upstream): room for ~8,000 sockets per worker.
    worker_connections: int = 16384
    worker_rlimit_nofile: int = 20000
    access_log: str = "off"  # a path nginx opens (/dev/fd/N for the terminal), or "off"
    access_log_format: str = ""  # the log_format body (tandem.accesslog.nginx_log_format)
    access_log_json: bool = False  # escape=json
    access_log_buffer: str = "32k"
    probe_token: str = ""  # requests carrying it (tandem's own probes) are left out of the access log
    # The access line's name of the server that answered from each pool (--http-server, --ws-server,
    # unified mode's --server).
    wsgi_label: str = "gunicorn"
    asgi_label: str = "daphne"
    error_log_level: str = "warn"
    # Managed, as root: the unprivileged user and group nginx's workers switch to (tandem.workeruser);
    # empty when tandem is not root (nginx cannot switch then).
    worker_user: str = ""
    worker_group: str = ""
    # --internal tcp: a per-run secret nginx sends on every proxied request; the app servers believe
    # X-Forwarded-For/-Proto and X-Real-IP only on requests that carry it (any local process can connect).
    proxy_secret: str = ""
    mime_types: str = "/etc/nginx/mime.types"
    # Managed Caddy: the listening socket tandem bound (Caddy adopts it as "fd/N"; nginx gets $NGINX).
    listen_fd: int | None = None
    graceful_timeout: float = 30.0  # Caddy's grace_period on stop
    public_url: str = ""  # export caddy --public-url https://HOST: the site address (automatic HTTPS)
    # TLS on the public port (tandem.tls): the certificate and key the proxy reads; empty: plain HTTP.
    tls_cert: str = ""
    tls_key: str = ""
    hsts: int = 0  # Strict-Transport-Security max-age; 0: not sent
    redirect_listen: str = ""  # a second port answering plain HTTP with a redirect to https
    redirect_fd: int | None = None  # managed: that socket, bound by tandem
    # Peers (CIDRs) whose X-Forwarded-For/-Proto are believed and passed on; from anyone else overwritten.
    trusted_proxies: tuple[str, ...] = ()
    # --role edge: the app hosts, "host:port" each, one pool per protocol (least connections), with
    # passive health checks: a server failing ``max_fails`` times is left out for ``fail_timeout`` s, and
    # an idempotent request that failed on it is retried on the next (proxy_next_upstream error timeout).
    wsgi_servers: tuple[str, ...] = ()
    asgi_servers: tuple[str, ...] = ()
    max_fails: int = 1
    fail_timeout: int = 5
    # Unified mode behind the proxy: no WSGI server; every request (HTTP and WebSocket alike) goes to the
    # ASGI upstream with the WebSocket timeouts, and only the static and media locations stay the proxy's.
    asgi_only: bool = False

    @property
    def https_port(self) -> str:
        """The public port (where --redirect-port sends plain HTTP)."""
        return self.listen.rpartition(":")[2]


@dataclass(frozen=True)
class Plan:
    mode: str
    public: Address  # what clients connect to
    runtime_dir: Path
    processes: tuple[ProcessSpec, ...]
    files: tuple[File, ...] = ()
    routes: RouteTable | None = None
    proxy: ProxySpec | None = None  # split mode, or unified behind a proxy: what it routes where
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    layer: LayerChoice | None = None  # the channel layer the processes use, for status
    scheme: str = "http"  # "https" when the proxy in front speaks TLS (tandem.tls)

    @property
    def layer_summary(self) -> str:
        return f"{self.layer.name} ({self.layer.why})" if self.layer else "the project's settings"

    @property
    def public_url(self) -> str:
        return f"{self.scheme}://{host_for_url(self.public.host or '')}:{self.public.port}/"


@dataclass(frozen=True)
class Context:
    """Everything a topology needs to build a Plan."""

    config: Config
    project: Project
    routes: RouteTable | None
    runtime_dir: Path
    sockets: Mapping[str, BoundSocket]  # every listening socket the topology asked for, by name
    python: str  # interpreter for child processes
    probe_token: str
    environ: Mapping[str, str] = field(default_factory=dict)  # base environment for children
    managed: bool = True  # True: tandem serve runs it here; False: exported for a production host
    layer: LayerChoice | None = None  # the channel layer the processes use; None: the project's settings
    redis_server: str = "redis-server"  # the executable for a managed channel layer
    access_log: AccessLogTarget | None = None  # where the servers write their access log; None: off
    proxy_secret: str = ""  # --internal tcp: the header value nginx sends and the app servers require


def daphne_procs(config: Config, project: Project, layer: LayerChoice | None = None) -> int:
    """``--procs``: an explicit number, or auto (cores with a cross-process layer in the settings or from
    --channel-layer, else 1: auto never asks for a managed Redis by itself).

    More than one Daphne on an in-memory layer the user chose to keep (``--channel-layer memory``) while
    the project uses groups would silently drop group messages between processes: refused unless
    ``--allow-inmemory`` (``tandem check`` reports it first, as tandem.E002).
    """
    count = daphne_count(config, project.channel_layer)
    if (
        count > 1
        and layer is not None
        and layer.kind == KEPT_MEMORY
        and layer.uses_groups
        and not config.allow_inmemory
    ):
        where = describe_source("procs", config.sources.get("procs", "default"))
        raise UsageError(
            f"{where} {config.procs} with the in-memory channel layer: group messages sent in one Daphne "
            "process never reach clients connected to another",
            hint="drop --channel-layer memory (tandem then runs Redis for the groups), use --procs 1, "
            "or --allow-inmemory if your consumers use no groups",
        )
    return count


def daphne_count(config: Config, layer: ChannelLayer) -> int:
    """How many Daphne processes a Plan runs: ``--procs``, or auto (cores when ``layer``, the project's
    own or --channel-layer's, reaches across processes, else 1). ``tandem check`` asks this too."""
    if config.procs is None:
        return cpu_count() if layer.cross_process else 1
    return config.procs


def sibling_name(name: str, index: int) -> str:
    """The name in ``Managed.sockets`` of the index-th socket (from 2) of a group bound on one TCP address
    (tandem.sockets.bind_group); the first keeps ``name``."""
    return name if index == 1 else f"{name}+{index}"


def wsgi_workers(config: Config, per_core: int) -> int:
    """--workers, or for auto ``per_core`` workers per core: Gunicorn's sync workers 2, Granian's 1."""
    return config.workers if config.workers is not None else per_core * cpu_count()


# --- building the Plan: the one place a Context is made and a topology asked for its processes ----------


@dataclass(frozen=True)
class Managed:
    """Target of ``tandem serve`` (and its reloads): the Plan runs here, on sockets the supervisor bound."""

    runtime_dir: Path
    sockets: Mapping[str, BoundSocket]  # bound by the launcher from plan_addresses(), port 0 resolved
    probe_token: str
    python: str
    environ: Mapping[str, str] = field(default_factory=dict)  # base environment for children
    layer: LayerChoice | None = None
    redis_server: str = "redis-server"
    access_log: AccessLogTarget | None = None
    proxy_secret: str = ""
    # What serve's checks found and fixed (tandem.preflight), carried into every Plan of the run.
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Export:
    """Target of ``tandem export``: what a production host runs, sockets under ``runtime_dir``, nothing
    bound here. ``shared_fd``: the Daphne socket arrives from the process manager on that descriptor
    (systemd socket activation: 3; supervisord's fcgi-program: 0). ``served``: the host runs ``tandem serve``
    (export systemd's one service), which binds every socket and passes it down: stand-in descriptors, as
    Preview's, so a server that only adopts a socket tandem bound (uvicorn, Granian) is exported too."""

    runtime_dir: Path
    probe_token: str
    python: str
    shared_fd: int | None = None
    served: bool = False


@dataclass(frozen=True)
class Preview:
    """Target of ``tandem routes``: the Plan ``tandem serve`` would run for this Config, with nothing bound,
    written or started. The sockets are the addresses serve would bind (port 0 stays 0); their descriptors
    stand in for the ones serve passes down (numbered from 3), as a server that only adopts a socket
    tandem bound (uvicorn, Granian) is built from one."""

    runtime_dir: Path
    python: str
    layer: LayerChoice | None = None  # the channel layer serve would give the processes


Target = Managed | Export | Preview

# The socket all Daphne processes share: a process manager binds it once and passes it to each.
SHARED_SOCKET = {"split": "asgi", "unified": "public", "app": "asgi"}


def shared_socket(config: Config) -> str:
    """The name of the socket the Daphne processes share: unified mode's public one, unless a proxy stands
    in front (``Config.unified_proxy``) and they listen on the internal "asgi" socket as in split mode."""
    return "asgi" if config.unified_proxy else SHARED_SOCKET.get(topology_name(config), "")


def topology_name(config: Config) -> str:
    """The topology a Config runs: its mode, or its role behind an edge (app, edge)."""
    return config.mode if config.role == "single" else config.role


# An export with --internal tcp: the classic layout, Gunicorn on 8000 and Daphne on 8001 (a managed run
# binds port 0 and reads the real port back; an export names ports the host will bind).
EXPORT_TCP_PORTS = {"wsgi": 8000, "asgi": 8001}


def plan_addresses(config: Config, runtime_dir: Path) -> dict[str, Address]:
    """Every listening socket the mode's topology needs, by name (the launcher binds them for serve)."""
    from tandem.topologies import topology_for

    return topology_for(config).sockets(config, runtime_dir)


def new_proxy_secret(config: Config) -> str:
    """App servers on local TCP ports behind the proxy: the proxy proves it is the sender with this
    per-run secret (tandem.runtime); empty otherwise."""
    import secrets

    if config.role != "single":  # app hosts behind an edge: the secret they share (tandem.E016 if unset)
        return config.edge_secret or ""
    proxied = config.mode == "split" or config.unified_proxy
    return secrets.token_hex(16) if proxied and config.internal == "tcp" else ""


def _export_sockets(config: Config, target: Export) -> dict[str, BoundSocket]:
    sockets = {}
    for fd, (name, address) in enumerate(plan_addresses(config, target.runtime_dir).items(), 3):
        if name in EXPORT_TCP_PORTS and not address.is_unix and address.port == 0:
            address = Address(host=address.host, port=EXPORT_TCP_PORTS[name])
        shared = target.shared_fd if name == shared_socket(config) else None
        sockets[name] = BoundSocket(address, fd if target.served else shared)
    return sockets


def export_access_log(config: Config, target: Export) -> AccessLogTarget | None:
    """Where the exported app servers write tandem's access-log lines: the --access-log-file each appends to
    itself, as under ``tandem serve`` (which servers log follows serve's rule,
    tandem.topologies.processes.app_access_log). The one service's ``tandem serve`` opens it itself.
    --app-access-log without a file is refused: serve sends those lines to its terminal, which an exported
    process does not have."""
    if not config.access_log or target.served:
        return None
    if config.access_log_file:
        import os

        path = os.path.abspath(config.access_log_file)  # resolved where export ran, as the one service's
        return AccessLogTarget(path=path, format=config.access_log_format)
    if config.app_access_log:
        raise UsageError(
            "--app-access-log without --access-log-file: an exported server has no tandem terminal to write "
            "its access lines to",
            hint="add --access-log-file PATH (each server appends to it), leave --app-access-log out (nginx "
            "logs every request), or export systemd without --per-process (its tandem serve logs them)",
        )
    return None


def build_plan(config: Config, project: Project, routes: RouteTable | None, target: Target) -> Plan:
    """The Plan for ``config.mode``: serve runs it, a reload rebuilds it with the new routes, export writes
    it, ``routes``/``check``/``bench`` read it. Every Context is made here and nowhere else
    (tests/unit/test_build_plan.py fails on a second construction site)."""
    from tandem.servers import gives_up_notes
    from tandem.topologies import topology_for

    if isinstance(target, Preview):
        # What serve builds, on stand-in descriptors: the same Context, managed, nothing bound.
        addresses = plan_addresses(config, target.runtime_dir)
        sockets = {name: BoundSocket(address, fd) for fd, (name, address) in enumerate(addresses.items(), 3)}
        target = Managed(
            target.runtime_dir, sockets, probe_token="", python=target.python, layer=target.layer
        )
    if isinstance(target, Export):
        context = Context(
            config=config,
            project=project,
            routes=routes,
            runtime_dir=target.runtime_dir,
            sockets=_export_sockets(config, target),
            python=target.python,
            probe_token=target.probe_token,
            managed=False,
            proxy_secret=new_proxy_secret(config) if config.role != "single" else "",
            access_log=export_access_log(config, target),
        )
        exported = topology_for(config).build(context)
        # Behind nginx the servers stay quiet unless --app-access-log, as under serve: say where lines go.
        quiet = exported.proxy is not None and config.proxy != "caddy" and not config.app_access_log
        if context.access_log is not None and quiet:
            note = (
                f"--access-log-file {context.access_log.path}: the exported servers do not write it behind "
                "nginx (add --app-access-log for their lines); the host's nginx writes its own access_log"
            )
            return replace(exported, warnings=(*exported.warnings, note))
        return exported
    context = Context(
        config=config,
        project=project,
        routes=routes,
        runtime_dir=target.runtime_dir,
        sockets=target.sockets,
        python=target.python,
        probe_token=target.probe_token,
        environ=target.environ,
        layer=target.layer,
        redis_server=target.redis_server,
        access_log=target.access_log,
        proxy_secret=target.proxy_secret,
    )
    plan = topology_for(config).build(context)
    caveats = gives_up_notes(tuple(p.name for p in plan.processes))  # --server/--ws-server's, said at start
    return replace(
        plan, warnings=(*plan.warnings, *target.warnings), notes=(*target.notes, *plan.notes, *caveats)
    )
