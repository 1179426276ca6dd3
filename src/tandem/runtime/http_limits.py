"""HTTP/1.1 limits inside tandem's Daphne: what nginx enforces in split mode, enforced by the app server
itself in unified mode (and harmlessly again behind nginx).

- Bodies: a Content-Length above the limit gets 413 before any body byte is read; a chunked body gets 413 as
  soon as it passes the limit. Twisted's own form parsing (multipart and urlencoded, whole bodies in memory,
  on the event loop) is off. Twisted spools a body to a temporary file (above 100 kB) as nginx does; the
  application then reads it a chunk at a time (``BodyQueue``) instead of finding it queued whole in memory.
- A header-read deadline (slowloris): Twisted's idle timeout restarts on every byte, so a client sending a
  header byte every few seconds held a connection forever. Headers must now arrive within N seconds.
- HTTP/1.1 without exactly one Host, and obs-folded header lines (RFC 9112 section 5.2), get 400 as in nginx.

Twisted is imported inside ``channel_factory``: Daphne must install its asyncio reactor first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from tandem.runtime import internals
from tandem.runtime.limits import Limits

LINGER = 2.0  # seconds a refused connection keeps reading (and discarding) before it is closed
BODY_CHUNK = 64 * 1024  # bytes per http.request message handed to the application

_REST = object()  # queue entry standing for "the rest of the spooled body", read when the app asks


class BodyQueue(asyncio.Queue[Any]):
    """The queue Daphne fills toward an HTTP application. Daphne reads the whole spooled body into it at
    once; this queue keeps the first chunk and reads the rest from the spool file as the application asks."""

    _queue: deque[Any]  # asyncio.Queue's storage, typeshed leaves it out

    def __init__(self, request: Any) -> None:
        super().__init__()
        self._request = request
        self._offset: int | None = None  # where the next chunk starts, once this queue reads the body
        self._size = 0

    def _put(self, item: Any) -> None:
        if isinstance(item, dict) and item.get("type") == "http.request":
            if self._offset is not None:
                return  # Daphne's trailing empty chunk: this queue reads the body itself
            content = getattr(self._request, "content", None)
            if item.get("more_body") and content is not None:
                self._offset = content.tell()
                # Daphne's loop reads on from here: at the end of the file it stops at once.
                self._size = content.seek(0, 2)
                super()._put(item)
                super()._put(_REST)
                return
        super()._put(item)

    async def get(self) -> Any:
        if self._queue and self._queue[0] is _REST:
            # A get() that finds an item never yields: an application reading a large body in a loop
            # would hold the event loop (and every other connection) until the whole body is read.
            await asyncio.sleep(0)
        return await super().get()

    def _get(self) -> Any:
        item = super()._get()
        if item is not _REST:
            return item
        assert self._offset is not None
        try:
            content = self._request.content
            content.seek(self._offset)
            chunk = content.read(BODY_CHUNK)
        except (AttributeError, ValueError, OSError):
            # The request ended (client gone, or the response finished) before the body was read.
            return super()._get() if self.qsize() else {"type": "http.disconnect"}
        self._offset += len(chunk)
        more = bool(chunk) and self._offset < self._size
        if more:
            self._queue.appendleft(_REST)
        return {"type": "http.request", "body": chunk, "more_body": more}


def _response(status: int, reason: bytes, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % (status, reason, len(body))
    )
    return head + body


def channel_factory(limits: Limits) -> Callable[[], Any]:
    """What Daphne's HTTP factory builds per connection: Twisted's negotiating wrapper around our channel."""
    from twisted.internet import reactor as installed_reactor
    from twisted.web import http as typed_http

    reactor: Any = installed_reactor
    http: Any = typed_http  # the channel overrides Twisted internals its annotations do not describe

    class LimitedRequestMixin:
        """Mixed into whichever request class Daphne (or tandem's access log) sets on the channel."""

        channel: Any
        _body_received = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Twisted would parse multipart/urlencoded POST bodies into request.args, in memory.
            kwargs["parsePOSTFormSubmission"] = False
            super().__init__(*args, **kwargs)

        def handleContentChunk(self, data: bytes) -> None:
            channel = self.channel
            if channel is None or channel.refused:
                return
            self._body_received += len(data)
            if 0 < limits.max_body_size < self._body_received:  # a chunked body, past the limit
                channel.refuse(413, b"Content Too Large", b"request body larger than max_body_size\n")
                return
            super().handleContentChunk(data)  # type: ignore[misc]

    mixed: dict[type[Any], type[Any]] = {}

    def limited(request_class: type[Any]) -> type[Any]:
        if issubclass(request_class, LimitedRequestMixin):
            return request_class
        if request_class not in mixed:
            name = "Limited" + request_class.__name__
            mixed[request_class] = type(name, (LimitedRequestMixin, request_class), {})
        return mixed[request_class]

    class LimitedChannel(http.HTTPChannel):  # type: ignore[misc]
        refused = False
        _in_headers = False  # between a request line and the blank line ending its headers
        _clock: Any = None  # the header-read deadline, running while a request's headers arrive
        _clock_saw_bytes = False
        _request_class: type[Any] = http.Request

        # Daphne sets WebRequest here, tandem's access log a subclass of it: either gets the limits mixed in.
        @property
        def requestFactory(self) -> type[Any]:
            return self._request_class

        @requestFactory.setter
        def requestFactory(self, request_class: type[Any]) -> None:
            self._request_class = limited(request_class)

        # --- header-read deadline ----------------------------------------------------------------------

        def connectionMade(self) -> None:
            super().connectionMade()
            self._start_clock()

        def _start_clock(self) -> None:
            if limits.header_timeout > 0 and self._clock is None:
                self._clock_saw_bytes = False
                self._clock = reactor.callLater(limits.header_timeout, self._headers_too_slow)

        def _stop_clock(self) -> None:
            if self._clock is not None and self._clock.active():
                self._clock.cancel()
            self._clock = None

        def _headers_too_slow(self) -> None:
            self._clock = None
            if self._clock_saw_bytes:
                self.refuse(408, b"Request Timeout", b"request headers not received in time\n")
            elif self.transport is not None:
                self.transport.loseConnection()  # a connection that never sent a byte: nothing to say

        def dataReceived(self, data: bytes) -> None:
            if self.refused:
                return  # lingering: read and discard, so the client sees the response, not a reset
            if self.line_mode and not internals.handling_request(self):
                self._start_clock()  # the next request on a kept-alive connection begins
            self._clock_saw_bytes = True
            super().dataReceived(data)

        # --- header checks -------------------------------------------------------------------------------

        def lineReceived(self, line: bytes) -> None:
            if self.refused:
                return
            if self._in_headers and line[:1] in (b" ", b"\t"):
                self.refuse(400, b"Bad Request", b"obsolete line folding in a header\n")
                return
            self._in_headers = bool(line)
            super().lineReceived(line)

        def headerReceived(self, line: bytes) -> bool:
            ok = bool(super().headerReceived(line))
            if ok and self.length and 0 < limits.max_body_size < self.length:
                self.refuse(413, b"Content Too Large", b"request body larger than max_body_size\n")
                return False
            return ok

        def allHeadersReceived(self) -> None:
            self._stop_clock()
            hosts = self.requests[-1].requestHeaders.getRawHeaders(b"host") or []
            if len(hosts) > 1 or (not hosts and internals.request_version(self) == b"HTTP/1.1"):
                self.refuse(400, b"Bad Request", b"an HTTP/1.1 request needs exactly one Host header\n")
                return
            super().allHeadersReceived()

        def allContentReceived(self) -> None:
            if not self.refused:
                super().allContentReceived()

        def rawDataReceived(self, data: bytes) -> None:
            if not self.refused:
                super().rawDataReceived(data)

        # --- refusing ------------------------------------------------------------------------------------

        def refuse(self, status: int, reason: bytes, body: bytes) -> None:
            """Answer ``status`` and close. The connection half-closes and reads on (discarding) for a
            moment: closing with unread data sends a reset, which can destroy the answer before the client
            reads it (nginx's lingering close does the same)."""
            if self.refused or self.transport is None:
                return
            self.refused = True
            self.persistent = False
            self._stop_clock()
            self.setTimeout(None)
            self.transport.write(_response(status, reason, body))
            self.transport.loseWriteConnection()
            internals.network_producer(self).resumeProducing()
            reactor.callLater(LINGER, self._abort)

        def _abort(self) -> None:
            if self.transport is not None and self.transport.connected:
                self.transport.abortConnection()

        def connectionLost(self, reason: Any) -> None:
            self._stop_clock()
            super().connectionLost(reason)

    def build() -> Any:
        return internals.wrap_channel(LimitedChannel())

    return build
