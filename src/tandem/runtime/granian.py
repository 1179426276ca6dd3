"""Granian as tandem's WSGI server in split mode: ``python -m tandem.runtime.granian --fd N …``.

Granian binds its own socket (on Linux each worker even builds its own, with SO_REUSEPORT) and has no
option to adopt one. tandem binds the socket once and hands it down, so a restart or a reload never
closes it: this entry point gives Granian's server that descriptor in place of the socket it would bind,
the way Granian itself shares a unix socket with its workers (a SocketHolder over an inheritable fd). Over
TCP tandem binds one socket per worker on the same port (SO_REUSEPORT), given as repeated --fd: on one
shared socket the first worker to wake took every waiting connection and kept it (keep-alive), leaving
other workers idle.
The application is tandem's WSGI wrapper (probes, the real client address from the proxy), never the
user's app directly.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

GRANIAN_INTERNALS = (
    "_init_shared_socket",
    "_drop_shared_socket",
    "_spawn_worker",
    "_shd",
    "_sfd",
    "_ssp",
    "_sso",
)


def _holder(fd: int, backlog: int) -> tuple[Any, socket.socket]:
    """Granian's SocketHolder for a listening socket tandem bound, and the socket object over it."""
    from granian._granian import SocketHolder

    sock = socket.socket(fileno=fd)
    sock.set_inheritable(True)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        # Accepted connections inherit it from the listener (Linux). Granian sets it on the sockets
        # it binds itself; on this one a kept-alive connection's small responses waited for the
        # client's delayed ACK (Nagle): 40 ms each, a quarter of the rate over TCP.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # SocketHolder(fd, is_uds, backlog): what Granian's pickling of one rebuilds it from.
    holder: Any = SocketHolder(fd, sock.family == socket.AF_UNIX, backlog)  # type: ignore[call-arg]
    return holder, sock


def _server_class(fds: list[int]) -> Any:
    from granian.server.mp import MPServer

    class TandemGranian(MPServer):
        """Adopts the listening sockets tandem bound instead of binding one: one shared by every worker,
        or (TCP, tandem.sockets.bind_group) one per worker, worker i on socket i, as Granian itself gives
        each worker its own SO_REUSEPORT socket. A respawned worker (a reload, a crash) takes its
        predecessor's socket, which never closes: tandem holds it."""

        def _init_shared_socket(self) -> None:
            self._tandem_sockets = [_holder(fd, self.backlog) for fd in fds]
            self._use_socket(0)

        def _use_socket(self, index: int) -> None:
            holder, sock = self._tandem_sockets[index % len(self._tandem_sockets)]
            self._shd = holder
            self._sfd = sock.fileno()  # type: ignore[assignment]
            self._ssp = None
            self._sso = sock

        def _spawn_worker(self, idx: int, *args: Any, **kwargs: Any) -> Any:
            self._use_socket(idx)  # Granian hands each worker self._shd / self._sso as they are now
            return super()._spawn_worker(idx, *args, **kwargs)

        def _drop_shared_socket(self) -> None:
            for _, sock in self._tandem_sockets:
                sock.close()
            self._sso = None

        @property
        def _bind_addr_fmt(self) -> str:
            return ",".join(f"fd://{fd}" for fd in fds)

    for name in ("_init_shared_socket", "_drop_shared_socket", "_spawn_worker"):
        if not hasattr(MPServer, name):  # a Granian release that moved the hook: fail loudly, not silently
            raise SystemExit(f"tandem.runtime.granian: granian's MPServer has no {name}; pin granian 2.x")
    return TandemGranian


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tandem.runtime.granian")
    parser.add_argument(
        "--fd", type=int, action="append", required=True,
        help="a listening socket tandem bound; repeated: one per worker (worker i on the i-th, cycling)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--blocking-threads", type=int, default=1)
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--header-timeout", type=float, default=15.0)
    parser.add_argument("--respawn-interval", type=float, default=0.5)
    parser.add_argument("--kill-timeout", type=int, default=30)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--keep-alive", action="store_true")
    parser.add_argument("app", nargs="?", default="tandem.runtime.wsgi:application")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    args = parse(argv)
    server = _server_class(args.fd)(
        args.app,
        interface=Interfaces.WSGI,
        workers=args.workers,
        # Set explicitly (field notes): Granian's default opens many threads, each with its own DB
        # connection; one per worker is Gunicorn sync's model, measured in the README.
        blocking_threads=args.blocking_threads,
        loop=Loops.asyncio,
        backlog=args.backlog,
        websockets=False,
        # Keep-alive toward the proxy (tandem.servers.granian passes --keep-alive): without it nginx connects
        # once per request and Granian served half its rate (docs/bench/minimal, reached directly: 3,827 vs
        # 7,900 req/s standalone). It was off after a reload under load once left a request on an idle
        # kept-alive connection unanswered; measured again: test_servers' reload under load for split-granian
        # passed 3 of 3, and two reloads under wrk -c32 through nginx lost no request.
        http1_settings=HTTP1Settings(
            header_read_timeout=int(args.header_timeout * 1000), keep_alive=args.keep_alive
        ),
        log_level=LogLevels.warning,
        log_access=args.access_log,
        # A reload (HUP) starts each new worker, waits this long, then stops the old one gracefully.
        respawn_interval=args.respawn_interval,
        workers_kill_timeout=args.kill_timeout,
        respawn_failed_workers=True,
    )
    server.serve()


if __name__ == "__main__":
    main()
