"""How the load generators speak TLS to a TLS variant (pure, but for reading the CA file).

A variant served with ``--tls self-signed`` has its certificate in its supervisor's runtime directory: the
clients trust exactly that file and check the host name, as a user following serve's printed advice would.
A variant served with the user's ``--tls-cert`` holds a certificate for the user's host name, not for the
loopback address the bench reaches it on: its certificate is not checked, and only on loopback. wrk never
checks certificates; it is only ever pointed at the loopback URL serve reports.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from tandem.tls import CERT_FILE, TLS_DIR

SECURE_SCHEMES = ("https", "wss")


class NotLoopback(ValueError):
    """An unchecked certificate was about to be accepted from a host that is not this machine."""


def self_signed_cert(runtime_dir: str) -> str:
    """Where ``tandem serve --tls self-signed`` wrote its certificate (tandem.tls.tls_files)."""
    return str(Path(runtime_dir) / TLS_DIR / CERT_FILE)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def client_context(url: str, cafile: str | None) -> ssl.SSLContext | None:
    """The TLS context for ``url``: None for http/ws; trusting only ``cafile`` when given; else (the
    user's certificate) unchecked, which is refused for anything but a loopback host. HTTP/1.1 only in
    ALPN: the bench measures keep-alive HTTP/1.1, as over plain HTTP, and WebSockets need it."""
    parts = urlsplit(url)
    if parts.scheme not in SECURE_SCHEMES:
        return None
    if cafile is not None:
        context = ssl.create_default_context(cafile=cafile)
    else:
        host = parts.hostname or ""
        if not is_loopback(host):
            raise NotLoopback(f"will not skip certificate checks for {host!r}: only for loopback")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context
