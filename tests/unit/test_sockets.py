"""The listening sockets tandem binds and hands down: a process that inherits one never waits in accept().

nginx adopts inherited sockets as they are. On a blocking one, an nginx worker woken for a connection the
other worker took first sat in accept4() until the next new connection reached it, and every WebSocket it
held went silent (16 of 50 echo clients for the rest of the run, 4 of 50 in CI, as an HTTP load ended).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.plan import Address
from tandem.sockets import bind, close_all

# What an nginx worker does on a spurious wake-up: one accept() on the inherited descriptor, with nothing
# queued. It must come back at once (EAGAIN), not wait for a client.
ACCEPT_WITH_NOTHING_QUEUED = """
import socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
try:
    sock.accept()
except BlockingIOError:
    print("EAGAIN")
else:
    print("accepted")
"""


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_an_inherited_listening_socket_never_blocks_accept(kind: str, tmp_path: Path) -> None:
    address = Address(host="127.0.0.1", port=0) if kind == "tcp" else Address(path=str(tmp_path / "s.sock"))
    sock, _ = bind(address)
    fd = sock.fileno()
    try:
        try:
            done = subprocess.run(
                [sys.executable, "-c", ACCEPT_WITH_NOTHING_QUEUED, str(fd)],
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=20,  # generous: the answer is immediate, a blocking accept never comes back
            )
        except subprocess.TimeoutExpired:
            pytest.fail("a child accepting on the inherited socket waited for a client (a blocking socket)")
        assert done.stdout.strip() == "EAGAIN", done.stderr
        # Still a working listener afterwards: a client is accepted.
        with socket.socket(sock.family, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(sock.getsockname())
            done = subprocess.run(
                [sys.executable, "-c", ACCEPT_WITH_NOTHING_QUEUED, str(fd)],
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=20,
            )
        assert done.stdout.strip() == "accepted", done.stderr
    finally:
        close_all([sock])
