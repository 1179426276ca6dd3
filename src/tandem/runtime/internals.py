"""Every Daphne, Twisted and autobahn internal tandem's Daphne relies on, in one place, with a self-test.

tandem adds what Daphne lacks (a shared socket of any family, draining, limits, backpressure) by overriding
hooks of Daphne's ``Server``, Twisted's ``HTTPChannel`` and autobahn's ``WebSocketProtocol`` and by reading a
few of their private attributes. None of these is a documented API, so pyproject.toml bounds the three
packages at the versions tested and ``make test-latest`` runs the integration tier on their newest releases.

A renamed internal must not fail silently: an override of a renamed hook is never called (the shared
socket is never adopted, draining never happens), and an attribute written under an old name changes
nothing. ``self_test()`` runs as the child starts, before Daphne listens, and raises ``MissingInternal``
naming what is missing; ``tandem.runtime.daphne`` then exits with ``EXIT_MISSING_INTERNAL`` and tandem
reports a boot failure with that line. Every private access in ``tandem.runtime`` goes through the
functions below, so this table is the complete list.

Imports of Daphne and Twisted happen inside functions: Daphne installs its asyncio reactor first.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

EXIT_MISSING_INTERNAL = 3
TESTED = "daphne 4.2.3, Twisted 26.10.0, autobahn 26.10.2"  # as bounded in pyproject.toml


class MissingInternal(RuntimeError):
    """A Daphne, Twisted or autobahn internal tandem uses is gone (renamed in a newer release)."""


@dataclass(frozen=True)
class Internal:
    module: str
    owner: str  # a class in ``module``
    name: str  # an attribute or method of it
    use: str  # what tandem does with it, for the error message
    assigned: bool = False  # an instance attribute: the class's code must assign ``self.<name>``
    listed_in: str = ""  # a per-connection option: the class copies every name in this list from its factory

    @property
    def where(self) -> str:
        return f"{self.module}.{self.owner}.{self.name}"


_SERVER = ("daphne.server", "Server")
_CHANNEL = ("twisted.web.http", "HTTPChannel")
_WEBSOCKET = ("autobahn.websocket.protocol", "WebSocketProtocol")

REQUIRED: tuple[Internal, ...] = (
    # Daphne's Server: hooks tandem's server class overrides (a rename means the override is never called).
    Internal(*_SERVER, "listen_success", "adopts the shared socket and installs the limits once listening"),
    Internal(*_SERVER, "kill_all_applications", "drains (1001/1012 closes, HTTP in flight finishes)"),
    Internal(*_SERVER, "create_application", "gives each application a bounded, connection-aware queue"),
    Internal(*_SERVER, "handle_reply", "makes a WebSocket send() wait for a slow reader"),
    Internal(*_SERVER, "connections", "finds the open connections while draining", assigned=True),
    Internal(*_SERVER, "http_factory", "adopts the shared socket with Daphne's HTTP factory", assigned=True),
    Internal(*_SERVER, "ws_factory", "installs the flow-controlled WebSocket protocol", assigned=True),
    Internal("daphne.cli", "CommandLineInterface", "server_class", "runs tandem's server class"),
    # Twisted: adopting a unix socket without its chmod 0666, and the HTTP channel's state.
    Internal("twisted.internet.unix", "Port", "_fromListeningDescriptor", "adopts a shared unix socket"),
    Internal("twisted.internet.unix", "Port", "_bindPath", "keeps an adopted unix socket's mode", True),
    Internal("twisted.web.http", "_GenericHTTPChannelProtocol", "_channel", "tracks HTTP channels", True),
    Internal(*_CHANNEL, "_savedTimeOut", "closes a busy keep-alive connection soon after draining begins"),
    Internal(*_CHANNEL, "_handlingRequest", "starts the header deadline per request", assigned=True),
    Internal(*_CHANNEL, "_networkProducer", "keeps reading a refused connection (lingering)", assigned=True),
    Internal(*_CHANNEL, "_version", "requires a Host header on HTTP/1.1", assigned=True),
    Internal(*_CHANNEL, "line_mode", "knows when a request's headers begin"),
    Internal(*_CHANNEL, "length", "refuses an oversized Content-Length", assigned=True),
    Internal(*_CHANNEL, "headerReceived", "refuses an oversized Content-Length before the body"),
    Internal(*_CHANNEL, "allHeadersReceived", "requires exactly one Host header"),
    Internal(*_CHANNEL, "allContentReceived", "ignores a refused request's body"),
    Internal(*_CHANNEL, "rawDataReceived", "ignores a refused request's body"),
    Internal("twisted.web.http", "Request", "handleContentChunk", "bounds a chunked body"),
    # autobahn: input backpressure and close codes.
    Internal(*_WEBSOCKET, "processData", "leaves frames unparsed while reading is paused"),
    Internal(*_WEBSOCKET, "consumeData", "parses the frames left once reading resumes"),
    Internal(*_WEBSOCKET, "sendCloseFrame", "sends the server close codes 1001, 1008 and 1012"),
    Internal(
        "autobahn.websocket.protocol",
        "WebSocketServerProtocol",
        "closeHandshakeTimeout",
        "gives a slow reader time to read its close",
        listed_in="CONFIG_ATTRS",
    ),
)


def _assigns(cls: type[Any], name: str) -> bool:
    """Whether code of ``cls`` (or a base class) assigns ``self.<name>``: instance attributes exist only
    once an object runs (Daphne's factories exist only inside ``Server.run``)."""
    pattern = re.compile(rf"\bself\.{re.escape(name)}\s*(:[^=]+)?=(?!=)")
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            return True
    return False


def missing() -> list[Internal]:
    """The internals this environment lacks (an empty list when everything tandem uses is there)."""
    gone = []
    for internal in REQUIRED:
        try:
            owner = getattr(importlib.import_module(internal.module), internal.owner)
        except (ImportError, AttributeError):
            gone.append(internal)
            continue
        if internal.listed_in:
            present = internal.name in getattr(owner, internal.listed_in, ())
        else:
            present = hasattr(owner, internal.name) or (internal.assigned and _assigns(owner, internal.name))
        if not present:
            gone.append(internal)
    return gone


def self_test() -> None:
    """Raise ``MissingInternal`` naming every internal that is gone. Run before Daphne listens."""
    import daphne.server  # installs the asyncio reactor, as Daphne itself would first

    del daphne
    gone = missing()
    if gone:
        lines = "; ".join(f"{i.where} (tandem uses it: {i.use})" for i in gone)
        raise MissingInternal(
            f"tandem cannot run this Daphne: missing internal {lines}. "
            f"tandem is tested with {TESTED}; install those (pip install 'django-tandem' keeps the bounds)"
        )


# --- the accesses ------------------------------------------------------------------------------------------


def adopt_unix_port(reactor: Any, fd: int, factory: Any) -> Any:
    """A Twisted unix Port around a listening descriptor, not yet listening (what ``adoptStreamPort`` does
    before ``startListening``, which tandem calls after restoring the socket's mode)."""
    from twisted.internet import unix

    adopt: Any = unix.Port._fromListeningDescriptor  # untyped in Twisted
    return adopt(reactor, fd, factory)


def unix_bind_path(port: Any) -> str | bytes:
    path: str | bytes = port._bindPath or ""
    return path


def http_channel(protocol: Any) -> Any:
    """The HTTPChannel inside Twisted's protocol-negotiating wrapper."""
    return protocol._channel


def wrap_channel(channel: Any) -> Any:
    """What Twisted's HTTPFactory builds: the negotiating wrapper around ``channel``."""
    from twisted.web import http

    return http._GenericHTTPChannelProtocol(channel)


def close_after_request(channel: Any, seconds: float) -> None:
    """A channel with a request in flight restores this idle timeout once the request finishes (Twisted
    saved the previous one when the request began)."""
    channel._savedTimeOut = seconds


def handling_request(channel: Any) -> bool:
    return bool(channel._handlingRequest)


def request_version(channel: Any) -> bytes:
    return channel._version  # type: ignore[no-any-return]


def network_producer(channel: Any) -> Any:
    return channel._networkProducer


def connections(server: Any) -> dict[Any, dict[str, Any]]:
    """Daphne's table of protocol -> {"application_instance", "connected", "disconnected"}."""
    return server.connections  # type: ignore[no-any-return]
