"""The control channel of a running ``tandem serve``: a unix socket in its runtime directory, found
through a small registry file per instance, used by ``tandem status``, ``tandem stop`` and ``tandem reload``."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tandem.children import Child
from tandem.errors import TandemError
from tandem.plan import Plan

CONTROL_SOCKET = "control.sock"


class NotRunning(TandemError):
    exit_code = 6


def registry_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"tandem-{os.getuid()}-instances"


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


def register(instance: Instance) -> Path:
    directory = registry_dir()
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{instance.pid}.json"
    path.write_text(json.dumps(instance.__dict__), encoding="utf-8")
    return path


def instances(project: Path | None = None) -> list[Instance]:
    """Running instances (stale registry files of dead processes are removed), optionally of one project."""
    found = []
    for path in sorted(registry_dir().glob("*.json")) if registry_dir().is_dir() else []:
        try:
            instance = Instance(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if not psutil.pid_exists(instance.pid) or not instance.control_socket.exists():
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if project is None or Path(instance.project) == project.resolve():
            found.append(instance)
    return found


def choose(project: Path | None, pid: int | None) -> Instance:
    candidates = instances(None if pid else project)
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

    def __init__(self, path: Path, handle: Callable[[str, Callable[[dict[str, Any]], None]], None]) -> None:
        self.path = path
        self.handle = handle
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
            if done.wait(10):
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
    """What ``tandem status`` shows: the instance, then each process with its live figures."""
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
            **process_figures(child.pid if child.running else 0),
        }
        for child in children
    ]
    return {
        "mode": plan.mode,
        "url": plan.public_url,
        # What the proxy forwards to (split mode): lets a client such as `tandem bench` reach each app
        # server directly without parsing output or matching command lines.
        "upstreams": (
            {"gunicorn": plan.proxy.wsgi_upstream, "daphne": plan.proxy.asgi_upstream} if plan.proxy else {}
        ),
        "uptime": round(now - started, 1),
        "reloads": reloads,
        "state": state,
        "channel_layer": plan.layer_summary,
        "processes": processes,
    }
