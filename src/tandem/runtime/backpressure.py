"""WebSocket backpressure inside tandem's Daphne, per connection, in both directions.

Daphne and Twisted bound neither direction: a client flooding small frames fills the application's queue
without end, and a client that never reads makes the transport's write buffer grow with everything the
application sends (a broadcast to a slow reader included). Here:

- Input: past ``ws_max_queue`` messages waiting for the application, tandem stops reading from the socket
  (TCP then pushes back on the client) and stops parsing frames already read; reading resumes once the
  application has taken half of them.
- Output: past ``ws_write_buffer`` bytes waiting to be sent, the application's ``send()`` waits until the
  client has read them all (Twisted tells its producer when the buffer is drained). A send that waits longer
  than ``ws_send_timeout`` closes the connection with 1008: a reader that does not keep up is dropped rather
  than buffered for.
- Oversized messages get a close frame 1009 (autobahn's default drops the TCP connection without one).

Twisted and Daphne are imported inside ``websocket_protocol_class``: Daphne installs its reactor first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tandem.runtime.limits import Limits

POLICY_VIOLATION = 1008
SLOW_READER_GRACE = 5.0  # seconds a closed slow reader has to read up to the close frame


class WriteFlow:
    """The transport's producer after the upgrade: Twisted calls ``pauseProducing`` when more than its
    ``bufferSize`` waits to be written and ``resumeProducing`` once everything is written."""

    def __init__(self) -> None:
        self.drained = asyncio.Event()
        self.drained.set()

    def pauseProducing(self) -> None:
        self.drained.clear()

    def resumeProducing(self) -> None:
        self.drained.set()

    def stopProducing(self) -> None:
        self.drained.set()  # the connection is going: no sender should wait on it


class InputQueue(asyncio.Queue[Any]):
    """The queue toward a WebSocket application: pauses its connection's reading when full."""

    def __init__(self, protocol: Any, limit: int) -> None:
        super().__init__()
        self._protocol = protocol
        self._limit = limit

    def _put(self, item: Any) -> None:
        super()._put(item)
        if self.qsize() >= self._limit:
            self._protocol.pause_reading()

    def _get(self) -> Any:
        item = super()._get()
        if self.qsize() <= self._limit // 2:
            self._protocol.resume_reading()
        return item


def websocket_protocol_class(limits: Limits) -> type[Any]:
    from daphne.ws_protocol import WebSocketProtocol

    class FlowControlledWebSocket(WebSocketProtocol):  # type: ignore[misc]
        reading_paused = False
        write_flow: WriteFlow | None = None

        def connectionMade(self) -> None:
            super().connectionMade()
            transport = self.transport
            if transport is None or not hasattr(transport, "registerProducer"):
                return
            # The HTTP channel Daphne upgraded from is still the transport's producer, and it ignores the
            # transport's pause while a request is in flight (the upgrade request never finishes).
            self.write_flow = WriteFlow()
            transport.unregisterProducer()
            transport.bufferSize = max(1, limits.ws_write_buffer)  # the high-water mark for this socket
            transport.registerProducer(self.write_flow, True)

        # --- input ------------------------------------------------------------------------------------

        def pause_reading(self) -> None:
            if not self.reading_paused and self.transport is not None:
                self.reading_paused = True
                self.transport.pauseProducing()

        def resume_reading(self) -> None:
            if self.reading_paused:
                self.reading_paused = False
                # Not from inside the queue's get(): parsing buffered frames puts into that same queue.
                asyncio.get_event_loop().call_soon(self._resume)

        def _resume(self) -> None:
            if self.reading_paused or self.transport is None:
                return
            self.transport.resumeProducing()
            self.consumeData()  # frames read before the pause, left unparsed

        def processData(self) -> bool:
            # Frames already read but not yet parsed wait in autobahn's buffer while reading is paused,
            # instead of all landing in the application's queue at once.
            if self.reading_paused and self.state == self.STATE_OPEN:
                return False
            return bool(super().processData())

        # --- output -----------------------------------------------------------------------------------

        async def wait_writable(self) -> bool:
            """True once the client has read what was sent; False (and the connection closing with 1008)
            when it did not within ``ws_send_timeout``."""
            flow = self.write_flow
            if flow is None or flow.drained.is_set():
                return True
            try:
                await asyncio.wait_for(flow.drained.wait(), timeout=limits.ws_send_timeout or None)
                return True
            except TimeoutError:
                self.close_slow_reader()
                return False

        def close_slow_reader(self) -> None:
            if self.state == self.STATE_OPEN:
                # The close frame waits behind the unread data: a slow (not stalled) reader gets a few
                # seconds to reach it and learn why; then autobahn drops the connection.
                self.closeHandshakeTimeout = SLOW_READER_GRACE
                self.sendCloseFrame(
                    code=POLICY_VIOLATION, reasonUtf8=b"client does not read fast enough", isReply=False
                )

    return FlowControlledWebSocket
