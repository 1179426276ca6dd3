"""uvicorn as tandem's ASGI server: ``python -m tandem.runtime.uvicorn --shared-fd N --private PATH …``.

One uvicorn process per tandem child, like tandem's Daphne, so tandem's own machinery applies unchanged:
several processes accept on the one socket tandem bound (``--shared-fd``), each also listens on a private
unix socket for its liveness probe, readiness proves it accepts on the shared socket (the probe's answer
names its pid and the socket's inode), a reload replaces them one at a time. Draining: SIGTERM closes every
WebSocket with 1001, SIGUSR1 (retired during a reload) with 1012, before uvicorn's own shutdown (which
would send 1012 to all). Limits are uvicorn's own options (message size, the per-connection queue toward
the application, pings) and tandem.runtime.served's (body size, the real client address). tandem's access
log (``--access-log-fd``/``--access-log-file``, as tandem's Daphne takes them) is written by
tandem.runtime.served, buffered, flushed every second and at the exit, its file reopened once logrotate
moved it; uvicorn's own access logger stays off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import warnings
from types import FrameType

from tandem.runtime.accesslog import BufferedLog, DaphneAccessLog
from tandem.runtime.served import GOING_AWAY, SERVICE_RESTART
from tandem.runtime.spec import RuntimeSpec

FLUSH_EVERY = 1.0  # seconds an access line may wait in memory at most


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
    parser.add_argument("--access-log-fd", type=int)
    parser.add_argument("--access-log-file")
    parser.add_argument("--access-log-format", default="common")
    parser.add_argument("--access-log-prefix", default="")
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


def open_access_log(args: argparse.Namespace) -> DaphneAccessLog | None:
    if args.access_log_fd is None and not args.access_log_file:
        return None
    log = BufferedLog(fd=args.access_log_fd, path=args.access_log_file)
    token = RuntimeSpec.from_env(os.environ).probe_token
    return DaphneAccessLog(log, args.access_log_format, args.access_log_prefix, probe_token=token)


async def flush_every_second(log: BufferedLog) -> None:
    """As tandem's Daphne: pending lines go out once a second; a moved (rotated) file is reopened."""
    while True:
        await asyncio.sleep(FLUSH_EVERY)  # wait-ok: the flush interval
        log.flush()
        log.reopen_if_moved()


# uvicorn (0.54 here) warns, when its module is imported, that ws="websockets" (the legacy websockets
# implementation) will later point at "websockets-sansio". tandem keeps the legacy one on purpose: it is the
# one that honours --ws-max-queue (reading pauses past that many messages waiting for the application, the
# WS_MAX_QUEUE tandem promises); the sans-I/O one has no queue limit and takes a whole read (up to 256 KiB)
# of small frames into its queue before pausing. Measured with tests/hostile/test_websocket_flood.py
# (unified-uvicorn, 2 Dec 2026): a flood of 14-byte frames grew the server by +0.1 MB with "websockets", by
# +8.2 MB with "websockets-sansio", and another client's echo p99 went from 4.6 ms to
# 51-76 ms. The warning (a UvicornDeprecationWarning and its `warnings.warn(` line, in every uvicorn
# process at every start and reload) tells the user of tandem about a choice only tandem can make:
# that message alone is silenced, any other warning still shows.
LEGACY_WEBSOCKETS_WARNING = "The `websockets` implementation is deprecated"


def quiet_legacy_websockets_warning() -> None:
    import uvicorn.config

    category = getattr(uvicorn.config, "UvicornDeprecationWarning", None)  # an older uvicorn: no such warning
    if category is not None:
        warnings.filterwarnings("ignore", message=re.escape(LEGACY_WEBSOCKETS_WARNING), category=category)


def main(argv: list[str] | None = None) -> None:
    from tandem.runtime.exported import check_exported

    check_exported(os.environ)  # an exported process without its secrets file: one line, EXIT_SECRETS
    import uvicorn

    from tandem.runtime import served
    from tandem.runtime.asgi import ProbeASGI
    from tandem.runtime.served import drainer

    quiet_legacy_websockets_warning()
    args = parse(argv)
    access_log = open_access_log(args)
    served.access_log = access_log  # before uvicorn loads tandem.runtime.served:application
    shared = socket.socket(fileno=args.shared_fd)
    ProbeASGI.shared_inode = os.fstat(args.shared_fd).st_ino
    private = private_socket(args.private)
    # The legacy implementation by its class, not by the name "websockets": uvicorn says that name will
    # later mean the sans-I/O one, which would drop WS_MAX_QUEUE without a word; a uvicorn without this
    # module fails here, at start, in tandem's tests.
    from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol

    config = uvicorn.Config(
        args.app,
        ws=WebSocketProtocol,
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
        access_log=False,  # tandem's own lines instead (tandem.runtime.served)
        log_level="warning",
    )

    class TandemServer(uvicorn.Server):
        close_code = GOING_AWAY
        flusher: asyncio.Task[None] | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            if access_log is not None:
                self.flusher = asyncio.create_task(flush_every_second(access_log.log))
            await super().startup(sockets)

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
            if self.flusher is not None:
                self.flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.flusher

    server = TandemServer(config)
    signal.signal(signal.SIGUSR1, server.retire)
    try:
        server.run(sockets=[shared, private])
    finally:
        if access_log is not None:
            access_log.log.close()  # the lines of the requests served while draining too


if __name__ == "__main__":
    main()
