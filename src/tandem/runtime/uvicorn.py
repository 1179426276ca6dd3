"""uvicorn as tandem's ASGI server: ``python -m tandem.runtime.uvicorn --shared-fd N --private PATH …``.

One uvicorn process per tandem child, like tandem's Daphne, so tandem's own machinery applies unchanged:
several processes accept on the one socket tandem bound (``--shared-fd``), each also listens on a private
unix socket for its liveness probe, readiness proves it accepts on the shared socket (the probe's answer
names its pid and the socket's inode), a reload replaces them one at a time. Draining: SIGTERM closes every
WebSocket with 1001, SIGUSR1 (retired during a reload) with 1012, before uvicorn's own shutdown (which
would send 1012 to all). Limits are uvicorn's own options (message size, the per-connection queue toward
the application, pings) and tandem.runtime.served's (body size, the real client address).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
from types import FrameType

from tandem.runtime.served import GOING_AWAY, SERVICE_RESTART


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tandem.runtime.uvicorn")
    parser.add_argument("--shared-fd", type=int, required=True)
    parser.add_argument("--private", required=True, help="unix socket path for tandem's probes")
    parser.add_argument("--ping-interval", type=float, default=20.0)
    parser.add_argument("--ping-timeout", type=float, default=30.0)
    parser.add_argument("--ws-max-size", type=int, default=1024**2)
    parser.add_argument("--ws-max-queue", type=int, default=32)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--header-timeout", type=float, default=15.0)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("app", nargs="?", default="tandem.runtime.served:application")
    return parser.parse_args(argv)


def private_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    sock.bind(path)
    os.chmod(path, 0o600)  # tandem's probes only
    sock.listen(64)
    return sock


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from tandem.runtime.asgi import ProbeASGI
    from tandem.runtime.served import drainer

    args = parse(argv)
    shared = socket.socket(fileno=args.shared_fd)
    ProbeASGI.shared_inode = os.fstat(args.shared_fd).st_ino
    private = private_socket(args.private)
    config = uvicorn.Config(
        args.app,
        ws="websockets",
        lifespan="off",
        ws_max_size=args.ws_max_size,
        ws_max_queue=args.ws_max_queue,
        ws_ping_interval=args.ping_interval,
        ws_ping_timeout=args.ping_timeout,
        ws_per_message_deflate=False,  # as Daphne: no per-message compression state per socket
        timeout_graceful_shutdown=max(1, int(args.drain_timeout)),
        # h11 waits at most this long for an idle keep-alive connection's next request.
        timeout_keep_alive=max(1, int(args.header_timeout)),
        proxy_headers=False,  # the client address comes from tandem.runtime.served, only from the proxy
        server_header=False,
        access_log=args.access_log,
        log_level="warning",
    )

    class TandemServer(uvicorn.Server):
        close_code = GOING_AWAY

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Not re-raised after the shutdown (uvicorn's default): a drained exit is a clean exit.
            self.should_exit = True

        def retire(self, sig: int, frame: FrameType | None) -> None:
            self.close_code = SERVICE_RESTART
            self.should_exit = True

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app = drainer()
            if app is not None:
                await app.drain(self.close_code)
            await super().shutdown(sockets)

    server = TandemServer(config)
    signal.signal(signal.SIGUSR1, server.retire)
    server.run(sockets=[shared, private])


if __name__ == "__main__":
    main()
