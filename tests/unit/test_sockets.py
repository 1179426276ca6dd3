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

from tandem.errors import PortInUseError
from tandem.plan import Address
from tandem.sockets import bind, bind_group, close_all

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


def test_a_group_is_one_socket_per_worker_on_one_port() -> None:
    """Granian over TCP: one socket per worker on the same port (SO_REUSEPORT), each handed to one worker;
    a unix path, or a group of one, stays one socket."""
    group = bind_group(Address(host="127.0.0.1", port=0), 3)
    try:
        ports = {sock.getsockname()[1] for sock, _ in group}
        assert len(group) == 3 and len(ports) == 1 and {b.address.port for _, b in group} == ports
        assert len({b.fd for _, b in group}) == 3
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock, _ in group)
    finally:
        close_all([sock for sock, _ in group])
    assert len(bind_group(Address(host="127.0.0.1", port=0), 1)) == 1


@pytest.mark.parametrize("other_reuses_port", [False, True])
def test_a_group_refuses_a_busy_port_even_another_group(other_reuses_port: bool) -> None:
    """A port something listens on is refused, also when that is another SO_REUSEPORT group of this user
    (a second tandem on a fixed port): a group's first socket would have joined it and shared its
    connections without a word."""
    other = socket.socket()
    try:
        if other_reuses_port:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            bind_group(Address(host="127.0.0.1", port=port), 2)
    finally:
        other.close()
