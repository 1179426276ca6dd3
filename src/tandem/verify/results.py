"""One probe's outcome, and the options every probe reads."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PASS = "PASS"
FAIL = "FAIL"
WARN = "WARN"
SKIP = "SKIP"


@dataclass(frozen=True)
class Result:
    name: str
    status: str
    detail: str
    hint: str | None = None
    # What the probe put on the wire, so a reader can judge its side effects: "GET /", "WebSocket
    # handshake + ping control frame", "text frame 'tandem-verify echo 1a2b'"... None: nothing was sent.
    sent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
            "sent": self.sent,
        }


@dataclass(frozen=True)
class Target:
    """The deployment under test and how to talk to it."""

    url: str  # as given, e.g. https://chat.example.com/
    timeout: float = 5.0
    token: str | None = None
    cacert: str | None = None
    insecure: bool = False
    # Credentials for routes that need a login (--cookie / --header), sent with every WebSocket handshake.
    headers: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def credentials(self) -> str:
        """How the handshakes authenticate, for the "sent" lines (names only: values are secrets)."""
        names = sorted({name for name, _ in self.headers})
        return f" with {', '.join(names)}" if names else ""

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if self.https else 80)

    def http_url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.origin + ("" if path.startswith("/") else "/") + path

    def ws_url(self, path: str) -> str:
        parts = urlsplit(self.url)
        return (
            f"{'wss' if self.https else 'ws'}://{parts.netloc}{path if path.startswith('/') else '/' + path}"
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cacert)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
