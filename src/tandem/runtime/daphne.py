"""Entry point for a Daphne child: ``python -m tandem.runtime.daphne [tandem options] <daphne arguments>``.

Daphne is run through its documented ``server_class`` hook with a server that adds what Daphne lacks:

- adopting a shared listening socket of any family (Daphne's ``--fd`` takes IPv4 only: Twisted's ``fd:``
  endpoint reads the address family as text and compares it with an int);
- draining: on SIGTERM it stops accepting, closes every WebSocket with 1001 (going away), lets HTTP
  requests in flight finish within the drain timeout, then stops; on SIGUSR1 (tandem retiring it during
  a reload) the same with 1012 (service restart), the closes spread over a short window so clients do
  not all reconnect in the same instant;
- a shutdown that survives a connection whose application never started (Daphne 4.2's
  ``kill_all_applications`` raises KeyError on such an entry and then skips every consumer's cleanup).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sys
import time
import weakref
from typing import Any

from tandem.runtime import internals
from tandem.runtime.accesslog import BufferedLog, DaphneAccessLog
from tandem.runtime.asgi import ProbeASGI
from tandem.runtime.hardening import hardened_server
from tandem.runtime.limits import Limits
from tandem.runtime.spec import PROBE_HEADER, RuntimeSpec

BACKLOG = 2048  # as tandem.sockets binds it
GOING_AWAY = 1001
SERVICE_RESTART = 1012
IDLE_CLOSE = 1.0  # seconds a keep-alive connection may sit idle once draining has begun (a busy one
# sends a request within this and gets "Connection: close" on its response, a race-free close)


def _family(fd: int) -> int:
    probe = socket.socket(fileno=fd)
    try:
        return int(probe.family)
    finally:
        probe.detach()  # the descriptor stays open for Twisted to adopt


def _adopt(reactor: Any, fd: int, factory: Any) -> Any:
    """``reactor.adoptStreamPort``, except that an adopted unix socket keeps the mode tandem gave its path
    (0600, or 0660 for nginx's workers' group): Twisted would chmod it 0666, "readable and writable to
    the world", and so would let any local user talk to Daphne as if it were nginx."""
    family = _family(fd)
    if family != socket.AF_UNIX:
        return reactor.adoptStreamPort(fd, family, factory)
    port = internals.adopt_unix_port(reactor, fd, factory)  # what adoptStreamPort does, then startListening
    path = os.fsdecode(internals.unix_bind_path(port))
    if path and not path.startswith("\0"):  # not an abstract socket: a path with a mode
        port.mode = os.stat(path).st_mode & 0o7777
    port.startListening()
    return port


def make_server_class(
    shared_fd: int | None,
    drain_timeout: float,
    spread: float,
    access_log: DaphneAccessLog | None = None,
    limits: Limits | None = None,
) -> type[Any]:
    from daphne.http_protocol import WebRequest
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import defer, task
    from twisted.internet import reactor as installed_reactor

    reactor: Any = installed_reactor  # Daphne installs the asyncio reactor; Twisted's stubs type the default
    replying: list[Any] = [None]

    class LoggedRequest(WebRequest):  # type: ignore[misc]
        """Daphne hands its access logger no headers: the request whose response is finishing is kept
        here while Daphne logs it: the probe token leaves tandem's own requests out; the combined and
        JSON formats show the referer and user agent."""

        def handle_reply(self, message: Any) -> None:
            replying[0] = self
            try:
                super().handle_reply(message)
            finally:
                replying[0] = None

    def replying_headers() -> dict[str, str]:
        request = replying[0]
        if request is None:
            return {}
        found = {"protocol": request.clientproto.decode("latin-1")}  # "HTTP/1.1", for the request line
        for name in ("referer", "user-agent", PROBE_HEADER):
            value = request.getHeader(name.encode())
            if value is not None:
                found[name] = value.decode("latin-1")
        return found

    if access_log is not None:
        access_log.headers = replying_headers

    # Limits (bodies, headers, WebSocket backpressure) sit below draining in the MRO: see hardening.py.
    class TandemServer(hardened_server(Server, limits or Limits())):  # type: ignore[misc]
        shared_port: Any = None
        draining = False
        close_code = GOING_AWAY

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["action_logger"] = access_log  # tandem's buffered log, or none at all
            super().__init__(*args, **kwargs)
            self.ports: list[Any] = []
            self.channels: weakref.WeakSet[Any] = weakref.WeakSet()  # HTTP connections, idle ones included

        def _track_channels(self) -> None:
            build = self.http_factory.buildProtocol

            def build_and_track(address: Any) -> Any:
                protocol = build(address)
                if protocol is not None and access_log is not None:
                    protocol.requestFactory = LoggedRequest
                if protocol is not None:
                    # Twisted wraps the HTTPChannel in a protocol-negotiating proxy; track the channel itself.
                    self.channels.add(internals.http_channel(protocol))
                return protocol

            self.http_factory.buildProtocol = build_and_track

        def run(self) -> None:
            signal.signal(signal.SIGUSR1, lambda *_: reactor.callFromThread(self.retire))
            if access_log is None:
                super().run()
                return
            # At most a second of access lines waits in memory; a moved (rotated) file is reopened.
            task.LoopingCall(self._flush_access_log).start(1.0, now=False)
            try:
                super().run()
            finally:
                access_log.log.close()

        @staticmethod
        def _flush_access_log() -> None:
            assert access_log is not None
            access_log.log.flush()
            access_log.log.reopen_if_moved()

        def listen_success(self, port: Any) -> None:
            # Daphne calls this once its own endpoints listen, when its HTTP factory exists: adopt the
            # shared socket right there, in the same reactor state as Daphne's own listeners.
            super().listen_success(port)
            if not self.ports:
                self._track_channels()
            self.ports.append(port)
            if shared_fd is not None and self.shared_port is None:
                # Twisted accepts in a loop until EAGAIN: a blocking socket would hang the reactor.
                os.set_blocking(shared_fd, False)
                self.shared_port = _adopt(reactor, shared_fd, self.http_factory)
                # Twisted re-listens an adopted unix socket with its default backlog of 50: restore ours
                # (the socket is shared, so this is the backlog every process accepts from).
                self.shared_port.socket.listen(BACKLOG)
                # The health probe's answer names this socket: tandem's readiness checks it was adopted.
                ProbeASGI.shared_inode = os.fstat(self.shared_port.fileno()).st_ino
                os.close(shared_fd)  # Twisted listens on its own duplicate

        # --- draining -----------------------------------------------------------------------------------

        def retire(self) -> None:
            """Reload: drain with 1012 so clients reconnect to the new processes, then exit."""
            self.close_code = SERVICE_RESTART
            reactor.stop()

        def _stop_accepting(self) -> None:
            if self.shared_port is not None:
                # Only stop reading: closing would unlink a shared unix socket's path (Twisted's unix Port
                # does on close) and the other processes still accept on it.
                self.shared_port.stopReading()
            for port in self.ports:
                port.stopReading()

        def _open_connections(self) -> list[Any]:
            return [p for p, details in internals.connections(self).items() if "disconnected" not in details]

        def _close_websockets(self, code: int, window: float) -> int:
            sockets = [p for p in self._open_connections() if isinstance(p, WebSocketProtocol)]
            for protocol in sockets:
                delay = random.uniform(0, window) if window > 0 else 0
                reactor.callLater(delay, self._close_one, protocol, code)
            return len(sockets)

        @staticmethod
        def _close_one(protocol: Any, code: int) -> None:
            try:
                if protocol.state == protocol.STATE_OPEN:
                    # autobahn's sendClose() (what Daphne's serverClose uses) accepts only 1000 and 3000-4999
                    # from applications; 1001 and 1012 are server codes, sent as a close frame directly.
                    protocol.sendCloseFrame(code=code, isReply=False)
                elif protocol.state == protocol.STATE_CONNECTING:
                    protocol.dropConnection(abort=True)
            except Exception as exc:
                print(f"closing a WebSocket failed ({exc!r}): dropping it", flush=True)
                protocol.dropConnection(abort=True)

        @staticmethod
        def _close_after_response(request: Any) -> None:
            """The client learns from the response that this connection ends, and opens a new one (to a
            process that is not draining) for its next request: no request is cut."""
            if request.channel is not None:
                request.channel.persistent = False
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"connection", [b"close"])

        def create_application(self, protocol: Any, scope: Any) -> Any:
            if self.draining and isinstance(protocol, WebRequest):
                self._close_after_response(protocol)
            return super().create_application(protocol, scope)

        def _live_channels(self) -> list[Any]:
            return [c for c in self.channels if c.transport is not None and c.transport.connected]

        def _finish_http(self) -> None:
            for protocol in self._open_connections():
                if isinstance(protocol, WebRequest):
                    self._close_after_response(protocol)
            # Idle keep-alive connections (nothing in flight) are closed after a short quiet spell; one
            # still in use gets "Connection: close" on its next response instead (create_application).
            for channel in list(self.channels):
                if channel.transport is None or channel.transport.disconnecting:
                    continue
                if channel.requests:
                    internals.close_after_request(channel, IDLE_CLOSE)
                else:
                    channel.setTimeout(IDLE_CLOSE)

        async def _drain(self) -> None:
            self.draining = True
            self._stop_accepting()
            window = spread if self.close_code == SERVICE_RESTART else 0.0
            closing = self._close_websockets(self.close_code, window)
            self._finish_http()
            deadline = time.monotonic() + drain_timeout
            while (self._open_connections() or self._live_channels()) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # polling the connection table until empty or the deadline
            left = len(self._open_connections()) + len(self._live_channels())
            print(
                f"drained: closed {closing} WebSocket(s) with {self.close_code}, {left} connection(s) cut",
                flush=True,
            )

        def kill_all_applications(self) -> Any:
            return defer.Deferred.fromFuture(asyncio.ensure_future(self._drain_then_cancel()))

        async def _drain_then_cancel(self) -> None:
            try:
                await self._drain()
            finally:
                pending = []
                for details in internals.connections(self).values():
                    instance = details.get("application_instance")
                    if instance is not None and not instance.done():
                        instance.cancel()
                        pending.append(instance)
                if pending:
                    await asyncio.wait(pending, timeout=10)

    return TandemServer


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--shared-fd", type=int)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--close-spread", type=float, default=2.0)
    parser.add_argument("--access-log-fd", type=int)
    parser.add_argument("--access-log-file")
    parser.add_argument("--access-log-format", default="common")
    parser.add_argument("--access-log-prefix", default="")
    return parser.parse_known_args(argv)


def main(argv: list[str]) -> None:
    from tandem.runtime.exported import check_exported

    check_exported(os.environ)  # an exported process without its secrets file: one line, EXIT_SECRETS
    limits, argv = Limits.parse(argv)
    options, daphne_argv = parse(argv)
    try:
        internals.self_test()  # a renamed Daphne/Twisted/autobahn internal stops the start, loudly
    except internals.MissingInternal as exc:
        print(f"tandem: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(internals.EXIT_MISSING_INTERNAL) from None
    from daphne.cli import CommandLineInterface

    cli = CommandLineInterface()
    access_log = None
    if options.access_log_fd is not None or options.access_log_file:
        log = BufferedLog(fd=options.access_log_fd, path=options.access_log_file)
        token = RuntimeSpec.from_env(os.environ).probe_token
        access_log = DaphneAccessLog(
            log, options.access_log_format, options.access_log_prefix, probe_token=token
        )
    cli.server_class = make_server_class(
        options.shared_fd, options.drain_timeout, options.close_spread, access_log, limits=limits
    )
    try:
        cli.run(daphne_argv)
    except Exception as exc:
        if cli.server is not None:
            raise
        # The application failed to import: show the user's own frames, not a wall of runpy, Daphne and
        # importlib frames (the format stays a standard traceback, which tandem's parent summarises).
        print_short_traceback(exc)
        raise SystemExit(1) from None


def print_short_traceback(exc: BaseException) -> None:
    from tandem.tracebacks import short_traceback

    sys.stderr.write(short_traceback(exc))
    sys.stderr.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
