"""Entry point for a Daphne child: ``python -m tandem.runtime.daphne [--shared-fd N] <daphne arguments>``.

Daphne's own ``--fd`` adopts only IPv4 sockets (Twisted's ``fd:`` endpoint takes the address family as
text and compares it with an int), so the shared listening socket, which may be IPv6 or a unix socket,
is adopted here through Daphne's documented ``server_class`` hook.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any


def _family(fd: int) -> int:
    probe = socket.socket(fileno=fd)
    try:
        return int(probe.family)
    finally:
        probe.detach()  # the descriptor stays open for Twisted to adopt


def make_server_class(shared_fd: int | None) -> type[Any]:
    from daphne.server import Server
    from twisted.internet import reactor

    class TandemServer(Server):  # type: ignore[misc]
        shared_port: Any = None

        def listen_success(self, port: Any) -> None:
            # Daphne calls this once its own endpoints listen, when its HTTP factory exists: adopt the
            # shared socket right there, in the same reactor state as Daphne's own listeners.
            super().listen_success(port)
            if shared_fd is not None and self.shared_port is None:
                # Twisted accepts in a loop until EAGAIN: a blocking socket would hang the reactor.
                os.set_blocking(shared_fd, False)
                self.shared_port = reactor.adoptStreamPort(shared_fd, _family(shared_fd), self.http_factory)
                os.close(shared_fd)  # Twisted listens on its own duplicate

    return TandemServer


def split_args(argv: list[str]) -> tuple[int | None, list[str]]:
    if len(argv) >= 2 and argv[0] == "--shared-fd":
        return int(argv[1]), argv[2:]
    return None, argv


def main(argv: list[str]) -> None:
    shared_fd, daphne_argv = split_args(argv)
    from daphne.cli import CommandLineInterface

    cli = CommandLineInterface()
    cli.server_class = make_server_class(shared_fd)
    cli.run(daphne_argv)


if __name__ == "__main__":
    main(sys.argv[1:])
