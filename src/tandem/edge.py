"""App hosts behind an edge (``--role app`` / ``--role edge``): the upstream addresses, the shared edge
secret, and the probe that tells whether an upstream answers and holds the same secret.

Pure functions, except ``probe_upstream`` (one bounded HTTP request) and ``probe_all``.
"""

from __future__ import annotations

import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tandem.plan import host_for_url

# The app servers answer EDGE_PATH, without the user's code, when a request carries the edge secret
# (tandem.runtime.asgi.TrustedProxyASGI, tandem.runtime.wsgi.TandemWSGI): 200 when it matches, 403 when
# not; so the edge (status, check) tells "down" from "a different secret".
from tandem.runtime.spec import EDGE_PATH

__all__ = ["EDGE_PATH", "Answer", "Upstream", "parse_upstream", "parse_upstreams", "probe_pools"]
SECRET_MIN_LENGTH = 16
# nginx_quote carries any of these; "$", quotes, spaces and control characters would need escaping in
# nginx, Caddy, systemd and shells alike, so a secret is plain.
_SECRET = re.compile(r"[A-Za-z0-9._~+/=-]+")
_HOST = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upstream:
    host: str  # a name or an IPv4 address; an IPv6 address without brackets
    http_port: int
    ws_port: int

    @property
    def http(self) -> str:
        """``host:port`` as nginx's ``server`` directive takes it."""
        return f"{host_for_url(self.host)}:{self.http_port}"

    @property
    def ws(self) -> str:
        return f"{host_for_url(self.host)}:{self.ws_port}"

    def __str__(self) -> str:
        return f"{host_for_url(self.host)}:{self.http_port}:{self.ws_port}"


def _port(text: str, what: str, source: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{source!r}: the {what} port must be a number from 1 to 65535, not {text!r}")
    return int(text)


def parse_upstream(text: str, http_port: int = 8000, ws_port: int = 8001) -> Upstream:
    """``HOST[:HTTP_PORT[:WS_PORT]]`` (IPv6 in brackets: ``[::1]:8000:8001``); missing ports are the
    defaults (--http-port, --ws-port)."""
    source = text
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not host or not re.fullmatch(r"[0-9A-Fa-f:.]+", host) or (rest and not rest.startswith(":")):
            raise ValueError(f"{source!r} is not HOST[:HTTP_PORT[:WS_PORT]] (IPv6: [ADDR]:HTTP:WS)")
        ports = rest[1:].split(":") if rest else []
    else:
        host, *ports = text.split(":")
        if not host or not _HOST.fullmatch(host):
            raise ValueError(f"{source!r} is not HOST[:HTTP_PORT[:WS_PORT]] (a host name or address)")
    if len(ports) > 2:
        raise ValueError(f"{source!r} is not HOST[:HTTP_PORT[:WS_PORT]]: too many ':'")
    http = _port(ports[0], "HTTP", source) if ports else http_port
    ws = _port(ports[1], "WebSocket", source) if len(ports) > 1 else ws_port
    return Upstream(host, http, ws)


def parse_upstreams(texts: tuple[str, ...], http_port: int, ws_port: int) -> tuple[Upstream, ...]:
    """Each upstream once, in the order given."""
    found: list[Upstream] = []
    for text in texts:
        upstream = parse_upstream(text, http_port, ws_port)
        if upstream not in found:
            found.append(upstream)
    return tuple(found)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be the edge secret, or None."""
    if len(secret) < SECRET_MIN_LENGTH:
        return f"must be at least {SECRET_MIN_LENGTH} characters (e.g. python -c 'import secrets; print(secrets.token_hex(16))')"
    if not _SECRET.fullmatch(secret):
        return "may hold only letters, digits and . _ ~ + / = - (it goes into nginx's config and unit files)"
    return None


@dataclass(frozen=True)
class Answer:
    """What one app server port said to the edge's probe."""

    address: str
    state: str  # "ok" | "secret differs" | "no answer" | "not tandem"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def probe_upstream(address: str, host: str, port: int, secret: str, timeout: float = 1.0) -> Answer:
    """GET EDGE_PATH with the secret on ``host:port``: "ok" (same secret), "secret differs" (403 from
    tandem's runtime), "no answer" (connection refused, timed out), "not tandem" (another answer)."""
    request = (
        f"GET {EDGE_PATH} HTTP/1.1\r\nHost: {host_for_url(host)}\r\nX-Tandem-Proxy: {secret}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            data = b""
            while len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        return Answer(address, "no answer", str(exc) or type(exc).__name__)
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    try:
        reply = json.loads(body or b"{}")
    except ValueError:
        reply = {}
    edge = reply.get("edge") if isinstance(reply, dict) else None
    if status == [b"200"] and edge == "ok":
        return Answer(address, "ok", f"pid {reply.get('pid')}")
    if status == [b"403"] and edge:
        return Answer(address, "secret differs", str(edge))
    code = status[0].decode("latin-1") if status else "nothing"
    return Answer(address, "not tandem", f"answered {code} to {EDGE_PATH}")


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def probe_pools(
    wsgi_servers: tuple[str, ...], asgi_servers: tuple[str, ...], secret: str, timeout: float = 1.0
) -> list[dict[str, object]]:
    """Every app host of the edge's two pools (``host:port`` each, the same order: one app host per
    position) probed at once, bounded by ``timeout``: for ``tandem status`` and ``tandem check`` on the
    edge. A unified app host serves both on one port, probed once."""
    jobs: list[tuple[int, str, str]] = []
    for index, (http, ws) in enumerate(zip(wsgi_servers, asgi_servers, strict=True)):
        jobs.append((index, "http", http))
        if ws != http:
            jobs.append((index, "ws", ws))
    if not jobs:
        return []

    def run(job: tuple[int, str, str]) -> Answer:
        host, port = _split(job[2])
        return probe_upstream(job[2], host, port, secret, timeout)

    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        answers = list(pool.map(run, jobs))
    rows: dict[int, dict[str, object]] = {}
    for (index, kind, address), answer in zip(jobs, answers, strict=True):
        row = rows.setdefault(index, {"host": _split(address)[0], "answers": True})
        row[kind] = {"address": answer.address, "state": answer.state, "detail": answer.detail}
        row["answers"] = bool(row["answers"]) and answer.ok
    return [rows[index] for index in sorted(rows)]
