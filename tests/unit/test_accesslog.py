"""The access log: where it goes, its formats, Daphne's buffered writer and what it leaves out."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tandem.accesslog import (
    AccessLogTarget,
    close_target,
    gunicorn_log_format,
    label,
    nginx_log_format,
    open_target,
)
from tandem.config import resolve_config
from tandem.errors import UsageError
from tandem.runtime.accesslog import CHUNK, BufferedLog, DaphneAccessLog
from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH

HTTP = {"path": "/chat/?q=1", "status": 200, "method": "GET", "client": "127.0.0.1:5555", "size": 31}


def daphne_log(tmp_path: Path, fmt: str = "common", headers: dict[str, str] | None = None) -> DaphneAccessLog:
    log = BufferedLog(path=str(tmp_path / "access.log"))
    return DaphneAccessLog(log, fmt, "daphne   | ", headers=lambda: headers or {}, probe_token="t0ken")


def lines(tmp_path: Path, logger: DaphneAccessLog) -> list[str]:
    logger.log.flush()
    return (tmp_path / "access.log").read_text().splitlines()


def test_daphne_common_line(tmp_path: Path) -> None:
    logger = daphne_log(tmp_path)
    logger("http", "complete", {**HTTP, "time_taken": 0.0042})
    logger("websocket", "connecting", {"path": "/ws/echo/", "client": "127.0.0.1:5556"})
    logger("websocket", "connected", {"path": "/ws/echo/", "client": "127.0.0.1:5556"})
    logger("websocket", "disconnected", {"path": "/ws/echo/", "client": "127.0.0.1:5556"})
    [http, ws] = lines(tmp_path, logger)
    assert http.startswith("daphne   | 127.0.0.1 - - [")
    assert http.endswith('] "GET /chat/?q=1 HTTP/1.1" 200 31 0.004')
    assert ws.endswith('] "WSCONNECT /ws/echo/" 101 - -')  # one line per WebSocket


def test_daphne_combined_and_json_escape_what_the_client_sent(tmp_path: Path) -> None:
    agent = 'evil"\nagent'
    logger = daphne_log(tmp_path, "combined", {"referer": "http://x/", "user-agent": agent})
    logger("http", "complete", {**HTTP, "time_taken": 0.001})
    [line] = lines(tmp_path, logger)
    assert line.endswith('"http://x/" "evil\\x22\\x0Aagent" 0.001')

    (tmp_path / "access.log").unlink()
    logger = daphne_log(tmp_path, "json", {"user-agent": agent})
    logger("http", "complete", {**HTTP, "time_taken": 0.001})
    [line] = lines(tmp_path, logger)
    record = json.loads(line.removeprefix("daphne   | "))
    assert record["user_agent"] == agent and record["status"] == 200 and record["remote_addr"] == "127.0.0.1"


def test_daphne_leaves_tandems_probes_out(tmp_path: Path) -> None:
    private = {"path": PROBE_PATH, "client": None}
    logger = daphne_log(tmp_path, headers={PROBE_HEADER: "t0ken"})
    logger("http", "complete", {**HTTP, "path": "/", "time_taken": 0.001})  # tandem's own GET /
    logger = daphne_log(tmp_path)
    logger("websocket", "connected", private)  # the liveness probe on the private socket
    logger("http", "complete", {**HTTP, **private, "time_taken": 0.001})  # the readiness probe
    # The same path from a client (public socket, no token) is an ordinary request.
    logger("http", "complete", {**HTTP, "path": PROBE_PATH, "status": 404, "time_taken": 0.001})
    assert [line.split('"')[1] for line in lines(tmp_path, logger)] == [f"GET {PROBE_PATH} HTTP/1.1"]


def test_buffered_log_writes_whole_lines_in_chunks_no_larger_than_pipe_buf() -> None:
    read_fd, write_fd = os.pipe()
    try:
        log = BufferedLog(fd=write_fd)
        line = "x" * 99 + "\n"
        for _ in range(30):
            log.write(line)  # 3,000 bytes: below a chunk, nothing written yet
        os.set_blocking(read_fd, False)
        with pytest.raises(BlockingIOError):
            os.read(read_fd, 65536)
        for _ in range(100):
            log.write(line)
        log.flush()
        chunks = []
        while True:
            try:
                chunks.append(os.read(read_fd, 65536))
            except BlockingIOError:
                break
        data = b"".join(chunks)
        assert data == line.encode() * 130
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert CHUNK == 4096


def test_buffered_log_reopens_a_file_logrotate_moved(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = BufferedLog(path=str(path))
    log.write("before\n")
    log.flush()
    path.rename(tmp_path / "access.log.1")
    log.write("during\n")  # written before the move is noticed: still goes to the old file
    log.reopen_if_moved()
    log.write("after\n")
    log.close()
    assert (tmp_path / "access.log.1").read_text() == "before\nduring\n"
    assert path.read_text() == "after\n"


# --- the parent's side ------------------------------------------------------------------------------------


def test_nginx_format_names_the_upstream_and_both_times() -> None:
    line = nginx_log_format("common", "$up", "nginx    | ")
    assert line.startswith("nginx    | $remote_addr - $remote_user [$time_local] ")
    assert line.endswith('"$request" $status $body_bytes_sent $up $request_time $upstream_response_time')
    assert '"$http_referer" "$http_user_agent" $up' in nginx_log_format("combined", "$up")
    record = nginx_log_format("json", "$up")
    assert '"upstream":"$up"' in record and '"upstream_time":"$upstream_response_time"' in record


def test_gunicorn_format() -> None:
    assert (
        gunicorn_log_format("common", "gunicorn | ")
        == 'gunicorn | %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(L)s'
    )
    assert gunicorn_log_format("json") == "%(tandem_json)s"


def test_terminal_target_is_the_log_pumps_pipe_with_prefixed_lines(tmp_path: Path) -> None:
    config = resolve_config({}, {}, {})
    with (tmp_path / "out").open("wb") as out:
        target = open_target(config, out.fileno())
        assert target is not None and target.fd is not None and target.pump is not None
        try:
            assert target.child_path == f"/dev/fd/{target.fd}"
            assert target.prefix("nginx") == "nginx    | " == label("nginx") + " "
            assert target.buffer == "4k"
            os.write(target.fd, b"nginx    | GET / 200\n")
        finally:
            close_target(target)
    assert (tmp_path / "out").read_bytes() == b"nginx    | GET / 200\n"


def test_file_target_is_created_and_lines_are_bare(tmp_path: Path) -> None:
    config = resolve_config({"access_log_file": str(tmp_path / "logs" / "access.log")}, {}, {})
    with pytest.raises(UsageError, match="cannot open the access log file"):
        open_target(config)
    (tmp_path / "logs").mkdir()
    target = open_target(config)
    assert target == AccessLogTarget(path=str(tmp_path / "logs" / "access.log"), format="common")
    assert (tmp_path / "logs" / "access.log").exists()
    assert target.prefix("nginx") == "" and target.inherited_fds == ()


def test_no_target_when_off_and_a_socket_stdout_gets_the_lines() -> None:
    """Under systemd's journal stdout is a socket, which nginx cannot open as /dev/fd/N: the pump's pipe
    can be, and the pump sends the lines on."""
    assert open_target(resolve_config({"access_log": False}, {}, {})) is None
    left, right = socket.socketpair()
    with left, right:
        target = open_target(resolve_config({}, {}, {}), left.fileno())
        assert target is not None and target.fd is not None
        os.write(target.fd, b"daphne   | GET / 200\n")
        close_target(target)
        right.settimeout(5)
        assert right.recv(100) == b"daphne   | GET / 200\n"
