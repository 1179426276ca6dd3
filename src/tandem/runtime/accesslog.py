"""Daphne's access log as tandem writes it: one line per request, in batches, straight to the target.

Daphne's own access log writes each line through ``sys.stdout`` (a write system call per request, and in
tandem a pipe the parent had to read line by line). Here lines collect in memory and go out at most once a
second or when 4 KiB are pending, in writes of whole lines no larger than PIPE_BUF, so lines from several
processes sharing one terminal never tear. A file target is reopened when logrotate has moved it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH

CHUNK = 4096  # PIPE_BUF on Linux: a write this size or smaller to a pipe is atomic


class BufferedLog:
    """Lines held in memory until ``flush``; ``write`` flushes itself once a chunk is full."""

    def __init__(self, fd: int | None = None, path: str | None = None) -> None:
        if (fd is None) == (path is None):
            raise ValueError("give an fd or a path")
        self.path = path
        self.fd = fd if fd is not None else self._open()
        self.pending: list[str] = []
        self.size = 0
        self.failed = False

    def _open(self) -> int:
        assert self.path is not None
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, line: str) -> None:
        self.pending.append(line)
        self.size += len(line)
        if self.size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        lines, self.pending, self.size = self.pending, [], 0
        chunk: list[str] = []
        length = 0
        for line in lines:
            if chunk and length + len(line) > CHUNK:
                self._write("".join(chunk))
                chunk, length = [], 0
            chunk.append(line)
            length += len(line)
        self._write("".join(chunk))

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError as exc:
            # A closed terminal or a full disk must not take the server down; say so once.
            if not self.failed:
                self.failed = True
                print(f"access log: writing failed ({exc.strerror}); lines are lost", flush=True)

    def reopen_if_moved(self) -> None:
        """logrotate renames the file and expects writers to start a new one (as nginx does on USR1)."""
        if self.path is None:
            return
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self.flush()
            old, self.fd = self.fd, self._open()
            os.close(old)

    def close(self) -> None:
        self.flush()
        if self.path is not None:
            os.close(self.fd)


class _Clock:
    """``[30/Nov/2026:23:30:56 +0000]``, formatted once per second, not once per line."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""
        self.iso = ""

    def now(self) -> tuple[str, str]:
        second = int(time.time())
        if second != self.second:
            local = time.localtime(second)
            self.second = second
            self.text = time.strftime("%d/%b/%Y:%H:%M:%S %z", local)
            self.iso = time.strftime("%Y-%m-%dT%H:%M:%S%z", local)
        return self.text, self.iso


_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def _escape(text: str) -> str:
    """As nginx escapes its log variables: a client cannot end the quoted field or the line."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02X}", text) if _UNSAFE.search(text) else text


def request_target(raw: bytes) -> str:
    """A request's path (and query) for the log as Daphne gives it: the bytes the client sent, percent-escapes
    kept (``/caf%C3%A9/``, never decoded); bytes outside ASCII, which Daphne refuses, shown as their repr."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return repr(raw)


def _host(client: str | None) -> str:
    # Daphne gives "ip:port"; the log shows the address, like nginx and Gunicorn.
    return client.rsplit(":", 1)[0] if client else "-"


def is_probe(details: Mapping[str, Any], headers: Mapping[str, str], token: str) -> bool:
    """tandem's own requests carry the probe token (HTTP: its header is seen). Its WebSocket probes reach
    Daphne only on the private unix socket, where Daphne knows no client address (public traffic arrives
    over TCP, or through nginx, whose X-Forwarded-For Daphne reads)."""
    if token and headers.get(PROBE_HEADER) == token:
        return True
    return details.get("client") is None and details.get("path") == PROBE_PATH


class DaphneAccessLog:
    """Daphne's ``action_logger``: called with ``(protocol, action, details)``; ``headers`` returns the
    headers of the HTTP request whose response is finishing (referer, user agent, probe token)."""

    def __init__(
        self,
        log: BufferedLog,
        fmt: str = "common",
        prefix: str = "",
        headers: Callable[[], Mapping[str, str]] | None = None,
        probe_token: str = "",
    ) -> None:
        self.log = log
        self.probe_token = probe_token
        self.fmt = fmt
        self.prefix = prefix
        self.headers = headers or dict
        self.clock = _Clock()

    def __call__(self, protocol: str, action: str, details: Mapping[str, Any]) -> None:
        if protocol == "http" and action == "complete":
            self.entry(details, "", details.get("status"), details.get("size"), details.get("time_taken"))
        elif protocol == "websocket" and action in ("connected", "rejected"):
            # One line per WebSocket, at the handshake's outcome (nginx logs its own at the close).
            verb = "WSCONNECT" if action == "connected" else "WSREJECT"
            self.entry(
                details, f"{verb} {details['path']}", 101 if action == "connected" else 403, None, None
            )

    def entry(
        self,
        details: Mapping[str, Any],
        request: str,
        status: Any,
        size: Any,
        taken: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One line; ``headers`` are the request's (else ``self.headers()``, Daphne's replying request)."""
        headers = self.headers() if headers is None else headers
        if is_probe(details, headers, self.probe_token):
            return
        if not request:  # HTTP: the request line as the client sent it
            request = f"{details['method']} {details['path']} {headers.get('protocol', 'HTTP/1.1')}"
        stamp, iso = self.clock.now()
        host = _host(details.get("client"))
        seconds = f"{taken:.3f}" if taken is not None else "-"
        if self.fmt == "json":
            record = {
                "time": iso,
                "remote_addr": host,
                "request": request,
                "status": status,
                "bytes": size,
                "request_time": seconds,
                "referer": headers.get("referer", ""),
                "user_agent": headers.get("user-agent", ""),
            }
            self.log.write(self.prefix + json.dumps(record, separators=(",", ":")) + "\n")
            return
        size_text = "-" if size is None else size
        line = f'{host} - - [{stamp}] "{_escape(request)}" {status or "-"} {size_text}'
        if self.fmt == "combined":
            referer, agent = headers.get("referer", "-"), headers.get("user-agent", "-")
            line += f' "{_escape(referer)}" "{_escape(agent)}"'
        self.log.write(f"{self.prefix}{line} {seconds}\n")
