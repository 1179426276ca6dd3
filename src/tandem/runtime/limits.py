"""The limits tandem's Daphne enforces per connection, passed from the parent as command-line options.

The parent builds ``Limits`` from its Config (``tandem.topologies.processes``) and appends ``to_argv()`` to
the child's command line; the child takes them back out with ``Limits.parse`` before Daphne parses the rest.
Sizes are bytes here; the options (``MAX_BODY_SIZE``, ``WS_WRITE_BUFFER``…) take nginx's size syntax.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_body_size: int = 10 * 1024**2  # bytes of request body; 0 = unlimited
    header_timeout: float = 15.0  # seconds for a request's headers to arrive; 0 = no deadline
    ws_max_queue: int = 32  # messages queued toward the application before reading from the client pauses
    ws_write_buffer: int = 256 * 1024  # bytes waiting to be sent before the application's send() waits
    ws_send_timeout: float = 10.0  # seconds a send may wait for a client that does not read: then 1008

    def to_argv(self) -> list[str]:
        return [
            "--max-body-size", str(self.max_body_size),
            "--header-timeout", str(self.header_timeout),
            "--ws-max-queue", str(self.ws_max_queue),
            "--ws-write-buffer", str(self.ws_write_buffer),
            "--ws-send-timeout", str(self.ws_send_timeout),
        ]  # fmt: skip

    @classmethod
    def parse(cls, argv: list[str]) -> tuple[Limits, list[str]]:
        """The limits in ``argv`` (defaults for those absent) and the arguments left for Daphne."""
        parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        defaults = cls()
        parser.add_argument("--max-body-size", type=int, default=defaults.max_body_size)
        parser.add_argument("--header-timeout", type=float, default=defaults.header_timeout)
        parser.add_argument("--ws-max-queue", type=int, default=defaults.ws_max_queue)
        parser.add_argument("--ws-write-buffer", type=int, default=defaults.ws_write_buffer)
        parser.add_argument("--ws-send-timeout", type=float, default=defaults.ws_send_timeout)
        options, rest = parser.parse_known_args(argv)
        limits = cls(
            max_body_size=options.max_body_size,
            header_timeout=options.header_timeout,
            ws_max_queue=max(1, options.ws_max_queue),
            ws_write_buffer=options.ws_write_buffer,
            ws_send_timeout=options.ws_send_timeout,
        )
        return limits, rest
