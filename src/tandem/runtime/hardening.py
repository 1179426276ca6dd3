"""Daphne's Server with tandem's per-connection limits (``tandem.runtime.limits``) wired in.

``hardened_server(Server, limits)`` returns a subclass that tandem's own server class (draining, shared
socket, access log: ``tandem.runtime.daphne``) derives from. It plugs in at three points Daphne leaves open:

- once listening, the HTTP factory builds tandem's limited channel (``http_limits``) and the WebSocket
  factory tandem's flow-controlled protocol (``backpressure``), which sends 1009 on oversized messages;
- ``create_application`` gives each application a queue that knows its connection: an HTTP body read from
  the spool as the application asks, a WebSocket queue that pauses reading when full;
- ``handle_reply`` makes a WebSocket ``send()`` wait while its client has not read what was sent before.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from tandem.runtime import internals
from tandem.runtime.backpressure import InputQueue, websocket_protocol_class
from tandem.runtime.http_limits import BodyQueue, channel_factory
from tandem.runtime.limits import Limits


def hardened_server(server_class: type[Any], limits: Limits) -> type[Any]:
    from daphne.http_protocol import WebRequest

    websocket_class = websocket_protocol_class(limits)

    class HardenedServer(server_class):  # type: ignore[misc]
        _limits_installed = False

        def listen_success(self, port: Any) -> None:
            # Daphne made both factories in run() and calls this once per listening endpoint, before any
            # connection is accepted on it.
            if not self._limits_installed:
                self._limits_installed = True
                self.http_factory.protocol = channel_factory(limits)
                self.ws_factory.protocol = websocket_class
                self.ws_factory.setProtocolOptions(failByDrop=False)
            super().listen_success(port)

        def create_application(self, protocol: Any, scope: Any) -> Any:
            # Daphne 4.2's create_application, with a queue chosen per connection type.
            connections = internals.connections(self)
            assert "application_instance" not in connections[protocol]
            queue: asyncio.Queue[Any]
            if isinstance(protocol, WebRequest):
                queue = BodyQueue(protocol)
            elif isinstance(protocol, websocket_class):
                queue = InputQueue(protocol, limits.ws_max_queue)
            else:
                queue = asyncio.Queue()
            scope.setdefault("asgi", {"version": "3.0"})
            instance = self.application(
                scope=scope, receive=queue.get, send=partial(self.handle_reply, protocol)
            )
            if protocol not in connections:
                return None
            connections[protocol]["application_instance"] = asyncio.ensure_future(
                instance, loop=asyncio.get_event_loop()
            )
            return queue

        async def handle_reply(self, protocol: Any, message: Any) -> None:
            # Runs for every frame sent (a broadcast: once per member), so the usual case, a client that
            # has read what it was sent, costs two attribute reads and no coroutine of its own.
            flow = getattr(protocol, "write_flow", None)
            if (
                flow is not None
                and not flow.drained.is_set()
                and isinstance(message, dict)
                and message.get("type") == "websocket.send"
                and not await protocol.wait_writable()
            ):
                return  # the client was too slow and is being closed: the message is dropped
            await super().handle_reply(protocol, message)

    return HardenedServer
