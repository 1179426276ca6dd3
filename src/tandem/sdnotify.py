"""systemd's readiness protocol (``Type=notify``), without a dependency: one datagram per state change to
the unix socket named in ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).

``tandem serve`` sends ``READY=1`` when it prints ``Ready:``, ``RELOADING=1`` (with ``MONOTONIC_USEC``, as
systemd requires to tell one reload from the next) and ``READY=1`` again around a reload, and
``STOPPING=1`` when it starts stopping. Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
A notification that cannot be sent never stops serving: systemd then reports the start as timed out,
which names the problem well enough.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Mapping

ENV_VAR = "NOTIFY_SOCKET"


def socket_address(value: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as ``socket.connect`` takes it: an absolute path, or ``@name`` as the abstract
    address ``\\0name``. Anything else (e.g. systemd's ``vsock:`` form) is not supported: None."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


class Notifier:
    def __init__(self, address: str | bytes | None) -> None:
        self.address = address

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        value = environ.get(ENV_VAR, "")
        return cls(socket_address(value) if value else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """One datagram of ``KEY=VALUE`` lines; True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode()
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self.address)
            sock.sendall(message)
            return True
        return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *((f"STATUS={status}",) if status else ()))

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")


DISABLED = Notifier(None)
