"""Where the access log goes and what its lines look like, decided in the parent for every server.

The servers write their access log themselves, to a descriptor or file tandem hands them: the request
path never goes through tandem's process (a Python pipe reader per line cost a third of the throughput,
and a supervisor loop busy printing access lines let WebSocket keepalive pings time out). Only lifecycle
and error output still reaches the supervisor through a pipe.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from tandem.config import Config
from tandem.errors import UsageError
from tandem.logpump import LogPump

LABEL_WIDTH = 8  # "gunicorn", "daphne.1": the prefix column the printer and the servers' own lines share


def label(name: str) -> str:
    """``"nginx    |"``: the prefix of a process's lines on the terminal."""
    return f"{name:<{max(LABEL_WIDTH, len(name))}} |"


@dataclass(frozen=True)
class AccessLogTarget:
    """An open descriptor (for the terminal: the write end of tandem's log pump, which copies to stdout
    without ever blocking a server) or a file path each server opens itself in append mode, so it can
    reopen it after logrotate moved it."""

    fd: int | None = None
    path: str | None = None
    format: str = "common"
    pump: LogPump | None = None  # the terminal: the servers write to ``fd``, a pipe this copies to stdout

    @property
    def child_path(self) -> str:
        """A path a server that only opens paths (nginx, Gunicorn) can open: /dev/fd/N reopens the log
        pump's pipe."""
        return self.path if self.path is not None else f"/dev/fd/{self.fd}"

    @property
    def inherited_fds(self) -> tuple[int, ...]:
        return (self.fd,) if self.fd is not None else ()

    def prefix(self, name: str) -> str:
        """On the terminal each line carries the process name like the rest of tandem's output; a file
        gets bare lines that log tools parse."""
        return label(name) + " " if self.path is None else ""

    @property
    def buffer(self) -> str:
        # Writes of at most PIPE_BUF (4 KiB) to a pipe are atomic: lines from several servers sharing the
        # terminal never tear. A file opened with O_APPEND takes larger writes whole.
        return "4k" if self.path is None else "32k"


def open_target(
    config: Config, stdout_fd: int | None = None, report: Callable[[str], None] | None = None
) -> AccessLogTarget | None:
    """The access log target for ``tandem serve``, or None when the access log is off. The caller closes
    it once the servers have stopped. ``report`` hears about lines dropped because stdout fell behind."""
    if not config.access_log:
        return None
    if config.access_log_file:
        path = os.path.abspath(config.access_log_file)
        try:
            # Created (or checked) here, so a bad path is one clear error before any server starts.
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            raise UsageError(
                f"cannot open the access log file {path}: {exc.strerror}",
                hint="choose a writable path with --access-log-file, or --no-access-log",
            ) from None
        return AccessLogTarget(path=path, format=config.access_log_format)
    fd = sys.stdout.fileno() if stdout_fd is None else stdout_fd
    # Never the terminal itself: a reader falling behind would block the servers (tandem.logpump).
    pump = LogPump(fd, report)
    return AccessLogTarget(fd=pump.write_fd, format=config.access_log_format, pump=pump)


def close_target(target: AccessLogTarget | None) -> None:
    if target is None:
        return
    if target.pump is not None:
        target.pump.close()
    elif target.fd is not None:
        with contextlib.suppress(OSError):
            os.close(target.fd)


# --- nginx: one line per request, with the upstream that answered --------------------------------------------

_NGINX_COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
_NGINX_EXTRA = "{upstream} $request_time $upstream_response_time"
_NGINX_JSON = (
    '{{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":$status,'
    '"bytes":$body_bytes_sent,"upstream":"{upstream}","request_time":$request_time,'
    '"upstream_time":"$upstream_response_time","referer":"$http_referer","user_agent":"$http_user_agent"}}'
)


def nginx_log_format(fmt: str, upstream_variable: str, prefix: str = "") -> str:
    """The body of nginx's ``log_format``: common or combined plus the upstream's name (the server that
    answered: "gunicorn", "daphne", "uvicorn"...; "-" for files nginx served), the request time and the
    upstream's time; or JSON."""
    if fmt == "json":
        return prefix + _NGINX_JSON.format(upstream=upstream_variable)
    line = _NGINX_COMMON
    if fmt == "combined":
        line += ' "$http_referer" "$http_user_agent"'
    return prefix + line + " " + _NGINX_EXTRA.format(upstream=upstream_variable)


# --- Gunicorn (only with --app-access-log in split mode) --------------------------------------------------

_GUNICORN_COMMON = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s'
GUNICORN_JSON_ATOM = "tandem_json"  # filled in by tandem.runtime.gunicorn_log.TandemLogger


def gunicorn_log_format(fmt: str, prefix: str = "") -> str:
    if fmt == "json":
        return prefix + f"%({GUNICORN_JSON_ATOM})s"
    line = _GUNICORN_COMMON
    if fmt == "combined":
        line += ' "%(f)s" "%(a)s"'
    return prefix + line + " %(L)s"
