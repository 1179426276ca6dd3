"""Small, dependency-free probes the supervisor polls: does a server answer HTTP on this address?"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import ssl
from typing import Any

from tandem.plan import Address, Probe


def _connect(probe: Probe, timeout: float) -> socket.socket:
    address = probe.address
    if address.path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.path)
        except OSError:
            sock.close()
            raise
        return sock
    host = (address.host or "127.0.0.1").strip("[]")
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    sock = socket.create_connection((host, address.port or 0), timeout=timeout)
    if not probe.tls:
        return sock
    try:
        return _probe_tls().wrap_socket(sock)
    except OSError:
        sock.close()
        raise


def _probe_tls() -> ssl.SSLContext:
    """The proxy's own public port over TLS: whether it answers is the question, not who it is (its
    certificate may be for a public name; the connection never leaves this machine's loopback)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def http_status(probe: Probe, timeout: float = 2.0, *, websocket: bool = False) -> int | None:
    """The HTTP status the server answers with (101 for a WebSocket handshake), or None when it does not
    answer in time."""
    lines = [f"GET {probe.path} HTTP/1.1", f"Host: {probe.host_header}"]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    else:
        lines.append("Connection: close")
    lines += [f"{name}: {value}" for name, value in probe.headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    try:
        with _connect(probe, timeout) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n" not in data and len(data) < 4096:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def identity(probe: Probe, timeout: float = 2.0, *, via: Address | None = None) -> dict[str, Any] | None:
    """The JSON tandem's health probe answers with (``{"status": "ok", "pid": ..., "shared": ...}``), asked
    on the probe's own address or ``via`` another (a Daphne's shared socket); None without an answer."""
    if via is not None:
        probe = dataclasses.replace(probe, address=via)
    lines = [f"GET {probe.path} HTTP/1.1", f"Host: {probe.host_header}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in probe.headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    data = b""
    try:
        with _connect(probe, timeout) as sock:
            sock.sendall(request)
            while len(data) < 65536:  # the answer is a few hundred bytes; the server closes after it
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    try:
        found = json.loads(body)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def redis_pong(probe: Probe, timeout: float = 2.0) -> bool:
    """A managed redis-server is up when PING gets +PONG (a loading or broken server answers -ERR)."""
    try:
        with _connect(probe, timeout) as sock:
            sock.sendall(b"PING\r\n")
            data = b""
            while b"\r\n" not in data and len(data) < 256:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return data.startswith(b"+PONG")


def answers(probe: Probe, timeout: float = 2.0) -> bool:
    """Readiness: the server answers its protocol at all (any HTTP status; PONG from Redis)."""
    if probe.protocol == "redis":
        return redis_pong(probe, timeout)
    return http_status(probe, timeout) is not None


def alive(probe: Probe, timeout: float = 2.0) -> bool:
    """Liveness: a WebSocket handshake for probes that ask for one, PONG from Redis, else any HTTP answer."""
    if probe.protocol == "redis":
        return redis_pong(probe, timeout)
    if probe.websocket:
        return http_status(probe, timeout, websocket=True) == 101
    return http_status(probe, timeout) is not None
