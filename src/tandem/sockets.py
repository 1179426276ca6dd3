"""Binding the listening sockets tandem hands down to its children. Bound once, held for the whole run,
so a child that restarts finds its socket still listening and a busy port fails before anything starts."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from pathlib import Path

from tandem.errors import PortInUseError, UsageError
from tandem.plan import Address, BoundSocket

BACKLOG = 2048
UNIX_PATH_MAX = 107


def _family_for(host: str) -> tuple[int, str]:
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot bind to {host!r}: {exc.strerror}", hint="use an IP address such as 127.0.0.1"
        ) from None
    family, _, _, _, sockaddr = infos[0]
    return int(family), str(sockaddr[0])


def _bind_tcp(address: Address, reuse_port: bool = False) -> socket.socket:
    family, host = _family_for(address.host or "127.0.0.1")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # before bind: a socket joins a port's group only when every member set it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, address.port or 0))
    except OSError as exc:
        sock.close()
        where = f"{address.host}:{address.port}"
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {address.port} on {address.host} is already in use",
                hint=f"stop what listens there (ss -ltnp 'sport = :{address.port}') or choose another --port",
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"cannot bind to {where}: no such address on this machine", hint="check --bind"
            ) from None
        if exc.errno == errno.EACCES:
            raise UsageError(
                f"no permission to bind {where}", hint="ports below 1024 need root; use --port 8000"
            ) from None
        raise UsageError(f"cannot bind to {where}: {exc.strerror}") from None
    return sock


def _bind_unix(path: str) -> socket.socket:
    if len(os.fsencode(path)) > UNIX_PATH_MAX:
        raise UsageError(
            f"unix socket path too long ({len(path)} bytes): {path}", hint="use a shorter --runtime-dir"
        )
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # a stale socket left by a crashed run
            else:
                raise PortInUseError(
                    f"{path} is in use by another server", hint="stop it or use another --runtime-dir"
                )
            finally:
                probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Owner only: whoever can connect is believed about X-Forwarded-For. The few sockets the nginx
        # workers of another user must reach are opened to their group afterwards (tandem.workeruser).
        # bind() honours the umask, so the mode is set explicitly; the directory is private meanwhile.
        os.chmod(path, 0o600)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot bind unix socket {path}: {exc.strerror}") from None
    return sock


def bind(address: Address, reuse_port: bool = False) -> tuple[socket.socket, BoundSocket]:
    """Bind and listen; the returned BoundSocket has the real address (port 0 resolved) and the fd."""
    sock = _bind_unix(address.path) if address.path else _bind_tcp(address, reuse_port)
    return _listen(sock, address)


def bind_group(address: Address, count: int) -> list[tuple[socket.socket, BoundSocket]]:
    """``count`` listening sockets on one TCP address (SO_REUSEPORT): the kernel spreads new connections
    over them, so each worker of a server that takes one apiece gets its share, where on one shared socket
    the first worker to wake accepts every waiting connection. One socket for a unix path or a count of 1."""
    if count <= 1 or address.path:
        return [bind(address)]
    # First a plain bind, closed at once: it fails on a busy port as any bind does, where a group's first
    # socket would have joined another group of this user's on that port and shared its connections.
    probe, free = bind(address)
    probe.close()
    group: list[tuple[socket.socket, BoundSocket]] = []
    try:
        for _ in range(count):
            group.append(bind(free.address, reuse_port=True))
    except BaseException:
        close_all([sock for sock, _ in group])
        raise
    return group


def _listen(sock: socket.socket, address: Address) -> tuple[socket.socket, BoundSocket]:
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    # Non-blocking, for every process it is handed to (the flag belongs to the socket, shared by all of
    # them). nginx adopts an inherited socket as it is: it sets O_NONBLOCK only on sockets it opens itself.
    # On a blocking one, a worker woken for a connection another worker took first waits inside accept()
    # for the next new connection, and every connection it holds waits with it: while the other worker is
    # idle it takes every new connection, so that worker's WebSockets go silent indefinitely (seen as a
    # few of 50 echo clients unanswered as an HTTP load ended, the worker in accept4 for seconds).
    sock.setblocking(False)
    if address.path:
        real = Address(path=address.path)
    else:
        real = Address(host=address.host, port=int(sock.getsockname()[1]))
    return sock, BoundSocket(address=real, fd=sock.fileno())


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        path = None
        with contextlib.suppress(OSError):
            if sock.family == socket.AF_UNIX:
                path = sock.getsockname()
        sock.close()
        if isinstance(path, str) and path:
            with contextlib.suppress(OSError):
                Path(path).unlink()
