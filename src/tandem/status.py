"""The control channel of a running ``tandem serve``: a unix socket in its runtime directory, found
through a small registry file per instance, used by ``tandem status``, ``tandem stop`` and ``tandem reload``.

Both ends check who is on the other side (SO_PEERCRED): the server answers only its own user or root, and a
client believes a registry entry only when the process answering on its socket is the registered tandem.
The registry is per user (tandem.private), but an entry is still verified before it is used: a stale or
forged one is never sent a command.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tandem.children import Child
from tandem.errors import TandemError
from tandem.plan import Plan
from tandem.private import private_registry

CONTROL_SOCKET = "control.sock"
RELOAD_WAIT = 600.0  # seconds `tandem reload --wait` may take: each Daphne drains in turn


class NotRunning(TandemError):
    exit_code = 6


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a connected unix socket, from the kernel."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid, gid


def may_control(uid: int) -> bool:
    """Only the user running tandem, or root, may ask for its status or stop or reload it."""
    return uid in (os.geteuid(), 0)


@dataclass(frozen=True)
class Instance:
    pid: int
    project: str
    url: str
    mode: str
    runtime_dir: str

    @property
    def control_socket(self) -> Path:
        return Path(self.runtime_dir) / CONTROL_SOCKET


def register(instance: Instance, environ: Mapping[str, str] = os.environ) -> Path:
    from tandem.private import write_file

    path = private_registry(environ) / f"{instance.pid}.json"
    write_file(path, json.dumps(instance.__dict__), 0o600)
    return path


def _read_entry(path: Path) -> Instance | None:
    """An entry file, opened without following a symlink; None when unreadable or not one of ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8") as handle:
        try:
            if os.fstat(handle.fileno()).st_uid != os.geteuid():
                return None
            return Instance(**json.loads(handle.read()))
        except (OSError, ValueError, TypeError):
            return None


def _is_tandem_serve(cmdline: list[str]) -> bool:
    # "tandem serve", "python -m tandem serve" and "manage.py tandem serve" all have both words.
    names = {os.path.basename(part) for part in cmdline}
    return "serve" in cmdline and ("tandem" in names or "tandem" in cmdline)


def not_believed(instance: Instance) -> str | None:
    """Why a live registry entry is not the tandem it claims to be, or None: the pid must be a
    ``tandem serve`` of this user listening on the control socket in the registered runtime directory,
    and that socket must be owned by this user."""
    sock = instance.control_socket
    try:
        info = os.lstat(sock)
    except OSError:
        return f"{sock} does not exist"
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        return f"{sock} is not a socket owned by uid {os.geteuid()}"
    try:
        process = psutil.Process(instance.pid)
        if process.uids().effective != os.geteuid():
            return f"pid {instance.pid} runs as uid {process.uids().effective}"
        if not _is_tandem_serve(process.cmdline()):
            command = " ".join(" ".join(process.cmdline()).split())[:80]
            return f"pid {instance.pid} is not a tandem serve ({command!r})"
        listening = {str(c.laddr) for c in process.net_connections(kind="unix")}
    except psutil.Error as exc:
        return f"pid {instance.pid} cannot be inspected ({exc.__class__.__name__})"
    if str(sock) not in listening:
        return f"pid {instance.pid} does not listen on {sock}"
    return None


def in_other_network_namespace(pid: int) -> bool:
    """Whether ``pid`` runs in another network namespace than this process (False when unknown)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def inspect_registry(environ: Mapping[str, str] = os.environ) -> tuple[list[Instance], list[str]]:
    """(running instances, entries not believed and why). Entries of processes that are gone are stale
    and removed quietly; live ones that fail ``not_believed`` are removed and reported."""
    try:
        directory = private_registry(environ)
    except OSError as exc:
        return [], [f"the instance registry cannot be used: {exc}"]
    found, ignored = [], []
    for path in sorted(directory.glob("*.json")):
        instance = _read_entry(path)
        if instance is not None and in_other_network_namespace(instance.pid):
            # Another "host" on this machine (ip netns exec): its unix sockets are not visible from this
            # network namespace, so it can be neither verified nor asked from here. Left alone.
            continue
        if instance is None or not psutil.pid_exists(instance.pid) or not instance.control_socket.exists():
            reason = None if instance is not None else f"{path.name} is not a registry entry of this user"
        else:
            reason = not_believed(instance)
            if reason is None:
                found.append(instance)
                continue
            reason = f"{path} (pid {instance.pid}): {reason}"
        if reason:
            ignored.append(f"ignored the registry entry {reason}")
        with contextlib.suppress(OSError):
            path.unlink()
    return found, ignored


def instances(project: Path | None = None) -> list[Instance]:
    """Running instances, verified (tandem.status.not_believed), optionally of one project."""
    found, _ = inspect_registry()
    return [i for i in found if project is None or Path(i.project) == project.resolve()]


def choose(project: Path | None, pid: int | None, report: Callable[[str], None] | None = None) -> Instance:
    found, ignored = inspect_registry()
    for line in ignored:
        if report is not None:
            report(line)
    where_project = None if pid else project
    candidates = [i for i in found if where_project is None or Path(i.project) == where_project.resolve()]
    if pid:
        candidates = [i for i in candidates if i.pid == pid]
    if not candidates:
        where = f"pid {pid}" if pid else f"project {project}"
        raise NotRunning(f"no running tandem serve found for {where}", hint="start one with tandem serve")
    if len(candidates) > 1:
        pids = ", ".join(str(i.pid) for i in candidates)
        raise NotRunning(
            f"several tandem instances run for this project (pids {pids})", hint="pick one with --pid"
        )
    return candidates[0]


def send(instance: Instance, command: str, timeout: float = 10.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(instance.control_socket))
            # The registry entry is checked already; the kernel says who actually answers on the socket.
            peer_pid, peer_uid, _ = peer_credentials(sock)
            if peer_pid != instance.pid or peer_uid != os.geteuid():
                raise NotRunning(
                    f"{instance.control_socket} is answered by pid {peer_pid} (uid {peer_uid}), not by the "
                    f"registered tandem (pid {instance.pid}): not sending {command!r}"
                )
            sock.sendall(json.dumps({"command": command}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise NotRunning(
                f"tandem (pid {instance.pid}) did not answer on {instance.control_socket}: {exc}"
            ) from None
    reply: dict[str, Any] = json.loads(data or b"{}")
    return reply


class ControlServer:
    """Accepts one JSON line per connection and answers with the handler's JSON reply."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[str, Callable[[dict[str, Any]], None]], None],
        enrich: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = path
        self.handle = handle
        # Slow additions to a status reply (psutil scans, probes of an edge's hosts), made in this
        # connection's thread: the supervisor's loop only takes the snapshot.
        self.enrich = enrich
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.sock.bind(str(path))
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.closed = False

    def start(self) -> None:
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            _, uid, _ = peer_credentials(conn)
            if not may_control(uid):
                # The socket is 0600 in a private directory, so this is a second line of defence (a
                # loosened mode, a shared directory): say no, and why, without reading the request.
                with contextlib.suppress(OSError):
                    refused = {"ok": False, "message": f"refused: uid {uid} may not control this tandem"}
                    conn.sendall(json.dumps(refused).encode() + b"\n")
                return
            try:
                line = conn.makefile("rb").readline()
                command = str(json.loads(line).get("command", ""))
            except (OSError, ValueError, AttributeError):
                return
            done = threading.Event()
            result: dict[str, Any] = {}

            def reply(payload: dict[str, Any]) -> None:
                result.update(payload)
                done.set()

            self.handle(command, reply)
            # A waited-for reload answers when it has finished or failed (every Daphne replaced in turn).
            if done.wait(RELOAD_WAIT if command == "reload-wait" else 10):
                if command == "status" and self.enrich is not None and isinstance(result.get("status"), dict):
                    self.enrich(result["status"])
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(result).encode() + b"\n")

    def close(self) -> None:
        self.closed = True
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def process_figures(pid: int) -> dict[str, Any]:
    """Memory and open connections of a process and its children (Gunicorn and nginx workers)."""
    if not pid:
        return {"rss_mb": 0.0, "connections": 0}
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"rss_mb": 0.0, "connections": 0}
    rss = 0
    connections = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            rss += proc.memory_info().rss
            connections += sum(
                1 for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_ESTABLISHED
            )
            # Accepted unix connections carry the listening socket's path as their local address; each
            # listener is one more socket with that path, so subtract one per distinct path.
            paths = [c.laddr for c in proc.net_connections(kind="unix") if c.laddr]
            connections += len(paths) - len(set(paths))
    return {"rss_mb": round(rss / 2**20, 1), "connections": connections}


def snapshot(
    plan: Plan, children: list[Child], *, now: float, started: float, reloads: int, state: str
) -> dict[str, Any]:
    """What ``tandem status`` shows: the instance, then each process. Taken in the supervisor's loop, so
    nothing slow here: the live figures are added outside it (add_live_figures)."""
    processes = [
        {
            "name": child.name,
            "role": child.spec.role,
            "pid": child.pid,
            "state": child.state,
            "uptime": round(now - child.started_at, 1) if child.running else 0.0,
            "restarts": child.restarts,
            # Where the supervisor probes it: the public address for nginx, a private socket per Daphne.
            "address": str(child.spec.probe.address),
            "running": child.running,
        }
        for child in children
    ]
    return {
        "mode": plan.mode,
        "url": plan.public_url,
        # What the proxy forwards to (split mode): lets a client such as `tandem bench` reach each app
        # server directly without parsing output or matching command lines.
        "upstreams": (
            {
                name: upstream
                for name, upstream in (
                    ("gunicorn", plan.proxy.wsgi_upstream),  # "" in unified mode: no WSGI server
                    ("daphne", plan.proxy.asgi_upstream),
                )
                if upstream
            }
            if plan.proxy
            else {}
        ),
        "uptime": round(now - started, 1),
        "reloads": reloads,
        "state": state,
        "channel_layer": plan.layer_summary,
        "processes": processes,
    }


def add_live_figures(status: dict[str, Any], plan: Plan) -> None:
    """Memory and connections of each process; on an edge, whether each app host answers with the same
    edge secret (tandem.edge)."""
    for process in status.get("processes", []):
        process.update(process_figures(process["pid"] if process.pop("running", False) else 0))
    if plan.mode == "edge":
        status["hosts"] = edge_hosts(plan)


def edge_hosts(plan: Plan) -> list[dict[str, Any]]:
    """The edge's app hosts probed (at most a second, all at once)."""
    from tandem.edge import probe_pools

    if plan.proxy is None:
        return []
    return probe_pools(plan.proxy.wsgi_servers, plan.proxy.asgi_servers, plan.proxy.proxy_secret)
