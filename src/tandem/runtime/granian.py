"""Granian as tandem's WSGI server in split mode: ``python -m tandem.runtime.granian --fd N …``.

Granian binds its own socket (on Linux each worker even builds its own, with SO_REUSEPORT) and has no
option to adopt one. tandem binds the socket once and hands it down, so a restart or a reload never
closes it: this entry point gives Granian's server that descriptor in place of the socket it would bind,
the way Granian itself shares a unix socket with its workers (a SocketHolder over an inheritable fd).
The application is tandem's WSGI wrapper (probes, the real client address from the proxy), never the
user's app directly.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

GRANIAN_INTERNALS = ("_init_shared_socket", "_shd", "_sfd", "_ssp", "_sso")


def _server_class(fd: int) -> Any:
    from granian._granian import SocketHolder
    from granian.server.mp import MPServer

    class TandemGranian(MPServer):
        """Adopts the listening socket tandem bound instead of binding one."""

        def _init_shared_socket(self) -> None:
            sock = socket.socket(fileno=fd)
            sock.set_inheritable(True)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Accepted connections inherit it from the listener (Linux). Granian sets it on the sockets
                # it binds itself; on this one a kept-alive connection's small responses waited for the
                # client's delayed ACK (Nagle): 40 ms each, a quarter of the rate over TCP.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # SocketHolder(fd, is_uds, backlog): what Granian's pickling of one rebuilds it from.
            holder: Any = SocketHolder(fd, sock.family == socket.AF_UNIX, self.backlog)  # type: ignore[call-arg]
            self._shd = holder
            self._sfd = fd  # type: ignore[assignment]
            self._ssp = None
            self._sso = sock

        @property
        def _bind_addr_fmt(self) -> str:
            return f"fd://{fd}"

    for name in ("_init_shared_socket", "_drop_shared_socket", "_spawn_worker"):
        if not hasattr(MPServer, name):  # a Granian release that moved the hook: fail loudly, not silently
            raise SystemExit(f"tandem.runtime.granian: granian's MPServer has no {name}; pin granian 2.x")
    return TandemGranian


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tandem.runtime.granian")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket tandem bound")
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
