"""The ``handbuilt-split`` reference: Gunicorn, Daphne and nginx started by hand, as the Channels docs and
the classic deployment article do it, not through ``tandem serve``.

    gunicorn PROJECT.wsgi:application --workers (2 x cores) + 1 --bind 127.0.0.1:PORT
    daphne -b 127.0.0.1 -p PORT PROJECT.asgi:application
    nginx: proxy_pass to each, Upgrade/Connection headers on the WebSocket location, static alias

The module names come from tandem's project discovery (settings.WSGI_APPLICATION / ASGI_APPLICATION), the
nginx binary from tandem.programs. The ports are free loopback ports picked at run time and bound by each
server itself, with the docs' commands unchanged (no inherited sockets): when another process takes one in
between, the server exits with "Address already in use" and the whole stack starts again on new ports, a
bounded number of times; a server counts as ready only once it holds the listener on its port. No upstream
keep-alive, no unix sockets, no tuning: what a user gets from the docs. nginx's access log is off as in
every other variant and Gunicorn writes none by default; Daphne's per-connection lines stay on, as the docs
leave them (to a file, as under a process manager), which costs the echo figure a little. Every process gets its own session and is
stopped by its pid (tandem.bench.processes): TERM, a bounded wait, KILL, and its children too, and its
temporary directory is removed, whatever way the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import psutil

from tandem.bench.processes import kill_processes, stop_processes
from tandem.bench.server import POLL, StartFailed, wait_idle
from tandem.project import Project
from tandem.routes import WEBSOCKET, RouteTable

HOST = "127.0.0.1"
MIME_TYPES = "/etc/nginx/mime.types"
# The ports are free when picked and bound by each server later, as the docs' commands bind them: another
# process may take one in between. The server then exits saying so, and the stack starts again.
PORT_ATTEMPTS = 3
IN_USE = "Address already in use"  # strerror(EADDRINUSE), in Gunicorn's, Daphne's and nginx's exit lines
RETRY_STOP_TIMEOUT = 10.0


class PortTaken(StartFailed):
    """A server exited because another process took its port after free_ports picked it."""


def docs_workers(cores: int) -> int:
    """Gunicorn's documented starting point: (2 x $num_cores) + 1."""
    return 2 * max(1, cores) + 1


def websocket_locations(table: RouteTable) -> tuple[str, ...]:
    """The nginx locations that get the Upgrade headers: the first path segment of each WebSocket route
    (``/ws/`` for the usual ``ws/...`` routes), as the classic config has one ``location /ws/``."""
    locations = set()
    for route in table.for_protocol(WEBSOCKET):
        first = route.prefix.strip("/").split("/", 1)[0]
        if not first:
            raise StartFailed(
                f"the WebSocket route /{route.pattern} has no literal path prefix: a hand-written nginx "
                "config cannot route it by location"
            )
        locations.add(f"/{first}/")
    return tuple(sorted(locations))


def nginx_config(
    *,
    prefix: Path,
    nginx_port: int,
    gunicorn_port: int,
    daphne_port: int,
    ws_locations: Sequence[str],
    static_url: str | None,
    static_root: Path | None,
    mime_types: str = MIME_TYPES,
) -> str:
    """The config as the classic article writes it (server block and locations), with the pid, logs and
    temp files in ``prefix`` so it runs without touching /etc or /var."""
    ws_blocks = "".join(
        f"""
        location {location} {{
            proxy_pass http://127.0.0.1:{daphne_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_redirect off;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $server_name;
        }}
"""
        for location in ws_locations
    )
    static = ""
    if static_url and static_root and static_url.startswith("/") and static_url.endswith("/"):
        static = f"""
        location {static_url} {{
            alias {static_root}/;
        }}
"""
    mime = f"include {mime_types};" if Path(mime_types).is_file() else "types { text/html html; }"
    return f"""# handbuilt-split: the classic Django Channels nginx config (tandem bench reference variant)
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log;
daemon off;

events {{
    worker_connections 768;
}}

http {{
    sendfile on;
    tcp_nopush on;
    {mime}
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    server {{
        listen {HOST}:{nginx_port};
        server_name localhost;
{static}{ws_blocks}
        location / {{
            proxy_pass http://127.0.0.1:{gunicorn_port};
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on now (bound to 0, read, released together). Free
    now only: another process may take one before its server binds it (see PORT_ATTEMPTS)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def console_script(name: str) -> list[str]:
    """The command the docs type (``gunicorn``, ``daphne``): the one installed next to this Python."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-m", name]


def _answers(url: str) -> bool:
    """Any HTTP answer at all (the app's 404 counts); nginx's own 502/504 mean the upstream is not up."""
    try:
        response = httpx.get(url, timeout=2.0, trust_env=False, follow_redirects=False)
    except httpx.HTTPError:
        return False
    return response.status_code not in (502, 503, 504)


class HandbuiltRun:
    """The three processes of the hand-built split layout, in a temporary directory of their own."""

    def __init__(
        self,
        project: Project,
        table: RouteTable,
        *,
        nginx: str,
        environ: Mapping[str, str],
        cores: int,
    ) -> None:
        self.project = project
        self.table = table
        self.nginx = nginx
        self.workdir: Path | None = None  # its own directory, made by start() and removed by stop()
        self.environ = environ
        self.cores = cores
        self.started = time.monotonic()
        self.url: str | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.descendants: dict[int, psutil.Process] = {}
        self.ports: dict[str, int] = {}
        self.retry_problems: list[str] = []  # what stopping an attempt given up for a taken port found

    # --- start ------------------------------------------------------------------------------------------

    def commands(self) -> dict[str, list[str]]:
        assert self.workdir is not None
        g, d = self.ports["gunicorn"], self.ports["daphne"]
        conf = self.workdir / "nginx.conf"
        return {
            "gunicorn": [*console_script("gunicorn"), self.project.wsgi_app,
                         "--workers", str(docs_workers(self.cores)), "--bind", f"{HOST}:{g}"],
            "daphne": [*console_script("daphne"), "-b", HOST, "-p", str(d), self.project.asgi_app],
            "nginx": [self.nginx, "-p", f"{self.workdir}/", "-c", str(conf),
                      "-e", str(self.workdir / "nginx-error.log")],
        }  # fmt: skip

    def _env(self) -> dict[str, str]:
        env = dict(self.environ)
        # What a systemd unit's WorkingDirectory and Environment lines give the classic setup.
        env["DJANGO_SETTINGS_MODULE"] = self.project.settings_module
        env["PYTHONPATH"] = os.pathsep.join(
            [*self.project.pythonpath, *filter(None, [env.get("PYTHONPATH")])]
        )
        return env

    def start(self) -> None:
        """Writes the nginx config and starts the three processes; on any failure stops what started."""
        self.procs, self.descendants, self.url = {}, {}, None
        try:
            # Its own directory, outside the bench's private one: nginx's workers (nobody, under root)
            # must reach the temp paths in it, as they reach /var/lib/nginx on a real server.
            self.workdir = workdir = Path(tempfile.mkdtemp(prefix="tandem-handbuilt-"))
            workdir.chmod(0o711)
            self.ports = dict(zip(("gunicorn", "daphne", "nginx"), free_ports(3), strict=True))
            (workdir / "nginx.conf").write_text(
                nginx_config(
                    prefix=workdir,
                    nginx_port=self.ports["nginx"],
                    gunicorn_port=self.ports["gunicorn"],
                    daphne_port=self.ports["daphne"],
                    ws_locations=websocket_locations(self.table),
                    static_url=self.project.static_url,
                    static_root=self.project.static_root,
                ),
                encoding="utf-8",
            )
            env = self._env()
            for role, argv in self.commands().items():
                with open(workdir / f"{role}.log", "ab") as log:
                    self.procs[role] = subprocess.Popen(
                        argv, cwd=self.project.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True,
                    )  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float) -> float:
        """Starts the stack and polls until Gunicorn, Daphne and nginx each listen on their port and answer
        HTTP (the app servers directly, and through nginx). Seconds from the start. Raises StartFailed when
        one exits or the deadline passes, leaving what started to ``stop()``, which the caller runs on every
        path. A port another process took between ``free_ports`` and the server's own bind (it exits with
        "Address already in use") starts everything again on new ports, ``PORT_ATTEMPTS`` times at most."""
        self.started = time.monotonic()
        deadline = self.started + timeout
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.start()
            try:
                self._poll_ready(deadline, timeout)
                break
            except PortTaken as exc:
                if attempt == PORT_ATTEMPTS:
                    raise StartFailed(f"{exc} (tried {PORT_ATTEMPTS} sets of free ports)") from None
                self.retry_problems = self.stop(RETRY_STOP_TIMEOUT)  # the earlier attempts' too
        return time.monotonic() - self.started

    def _poll_ready(self, deadline: float, timeout: float) -> None:
        pending = {role: f"http://{HOST}:{self.ports[role]}/" for role in ("gunicorn", "daphne", "nginx")}
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    if self._port_taken(role):
                        raise PortTaken(
                            f"{role} exited: {IN_USE} on port {self.ports[role]}, taken by another process "
                            "after it was picked"
                        )
                    raise StartFailed(f"{role} exited with code {proc.returncode}{self._log_tail(role)}")
            for role in [r for r in ("gunicorn", "daphne", "nginx") if r in pending]:
                # Its own listener first: whoever took the port may answer HTTP too.
                if listens_on(self.procs[role].pid, self.ports[role]) and _answers(pending[role]):
                    del pending[role]
            if not pending:
                self.url = f"http://{HOST}:{self.ports['nginx']}/"
                self.remember_descendants()
                return
            time.sleep(POLL)  # wait-ok: polling interval of a bounded wait
        raise StartFailed(f"not ready within {timeout:.0f} s (no answer from {', '.join(pending)})")

    def _port_taken(self, role: str) -> bool:
        """Whether ``role`` exited because its port was in use: all three say so in these words (nginx in
        its error log), on the line naming the port."""
        port = str(self.ports[role])
        return any(IN_USE in line and port in line for line in self._log_lines(role))

    def _log_lines(self, role: str) -> list[str]:
        """What the process (and, for nginx, its error log) wrote."""
        assert self.workdir is not None
        lines: list[str] = []
        for name in (f"{role}.log", "nginx-error.log" if role == "nginx" else ""):
            with contextlib.suppress(OSError):
                if name:
                    lines += (self.workdir / name).read_text(errors="replace").strip().splitlines()
        return lines

    def _log_tail(self, role: str) -> str:
        """The last line the process (or, for nginx, its error log) wrote: why it exited."""
        lines = self._log_lines(role)
        return f": {lines[-1][:300]}" if lines else ""

    # --- what measurements ask --------------------------------------------------------------------------

    def remember_descendants(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(proc.pid)
                self.descendants.setdefault(parent.pid, parent)
                for child in parent.children(recursive=True):
                    self.descendants.setdefault(child.pid, child)

    def wait_idle(self, *, below: float = 0.15, quiet: float = 0.5, bound: float = 30.0) -> bool:
        self.remember_descendants()
        return wait_idle(lambda: self.descendants.values(), below=below, quiet=quiet, bound=bound)

    def direct_url(self, role: str) -> str | None:
        return None  # not measured: split-tcp measures the app servers reached directly

    def rss_kb(self, role: str = "daphne") -> int | None:
        return None  # not measured here

    # --- stop -------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> list[str]:
        """TERM each (nginx first, as the proxy in front), a bounded wait, KILL; then every child of theirs
        is waited for and killed if it lingers, and the temporary directory is removed, whatever happened.
        Returns what went wrong (in an attempt given up for a taken port too). A second Ctrl-C kills at
        once."""
        try:
            problems = stop_processes(self._ordered(), self._known, timeout, owner="its server")
            return [*self.retry_problems, *problems]
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    def kill(self) -> None:
        kill_processes(self._ordered(), self._known())

    def _ordered(self) -> dict[str, subprocess.Popen[bytes]]:
        return {role: self.procs[role] for role in ("nginx", "daphne", "gunicorn") if role in self.procs}

    def _known(self) -> list[psutil.Process]:
        self.remember_descendants()
        return list(self.descendants.values())


def listens_on(pid: int, port: int) -> bool:
    """Whether ``pid`` or one of its descendants (Gunicorn's workers, nginx's) listens on ``port``: an
    answer there is then this server's, not that of whoever took the port between free_ports and its bind."""
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
    return False
