"""ONE table of tandem's check codes: each code's level and what it is about.

``tandem check``, ``manage.py check`` and ``serve`` all take a finding's level from here (the message
builders in ``messages.py`` look it up by code), so the same finding can never have two severities: what
``check`` calls an error is exactly what stops ``serve`` (``blocking``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core import checks

PREFIX = "tandem."

ERROR = checks.ERROR
WARNING = checks.WARNING
INFO = checks.INFO


@dataclass(frozen=True)
class Severity:
    level: int  # django.core.checks.ERROR / WARNING / INFO
    title: str  # what the code is about, for the README and `tandem check --codes`-style listings


TABLE: dict[str, Severity] = {
    "E001": Severity(ERROR, "tandem's options are invalid"),
    "E002": Severity(ERROR, "an in-memory channel layer shared by several Daphne processes"),
    "E003": Severity(ERROR, "consumers use groups but there is no channel layer"),
    "E004": Severity(ERROR, "the ASGI application does not import in a fresh process"),
    "E005": Severity(ERROR, "split mode: the WSGI application does not import in a fresh process"),
    "E006": Severity(ERROR, "cookie-authenticated WebSocket routes without an origin check"),
    "E007": Severity(ERROR, "ALLOWED_HOSTS refuses every request (or the public host)"),
    "E009": Severity(ERROR, "the proxy read timeout cuts idle WebSockets before Daphne's ping"),
    "E010": Severity(ERROR, "Daphne missing or older than 4.2.2"),
    "E011": Severity(ERROR, "a Redis channel layer that does not answer"),
    "E012": Severity(ERROR, "the origin validator refuses the public origin"),
    "E013": Severity(
        ERROR, "project code outside consumers sends group messages over an in-memory layer in split mode"
    ),
    "E014": Severity(ERROR, "--channel-layer memory across processes for a project that uses groups"),
    "E015": Severity(ERROR, "an app host without a channel layer that reaches the other hosts (Redis)"),
    "E016": Severity(ERROR, "app hosts and edge: the edge secret missing, or different on an app host"),
    "W001": Severity(WARNING, "manage.py runserver is not Daphne's (daphne after staticfiles)"),
    "W002": Severity(WARNING, "ASGI_APPLICATION (or WSGI_APPLICATION in split mode) not set"),
    "W003": Severity(
        WARNING, "in-memory layer across Gunicorn and Daphne: lost if HTTP code sends group messages"
    ),
    "W004": Severity(WARNING, "WebSocket routes without an origin check"),
    "W005": Severity(WARNING, "ALLOWED_HOSTS accepts any Host"),
    "W006": Severity(WARNING, "https public URL without SECURE_PROXY_SSL_HEADER"),
    "W007": Severity(WARNING, "SECURE_PROXY_SSL_HEADER set with nothing that sets it"),
    "W008": Severity(WARNING, "POSTs from the public origin fail CSRF"),
    "W009": Severity(WARNING, "persistent database connections under ASGI"),
    "W010": Severity(WARNING, "static files not collected, or outdated"),
    "W011": Severity(WARNING, "group_expiry shorter than the WebSocket lifetime"),
    "W012": Severity(WARNING, "Redis hosts with redis-py 8's 5 s read timeout (idle WebSockets closed)"),
    "W013": Severity(WARNING, "unified mode: the WSGI application does not import"),
    "W014": Severity(WARNING, "uploads on local disk with more than one app host"),
    "I001": Severity(INFO, "no public URL: checks against it skipped"),
    "I002": Severity(INFO, "no STATIC_ROOT: serve uses its own directory, a deployment needs one"),
}


def severity(code: str) -> Severity:
    """The table's entry for ``E004`` or ``tandem.E004``; an unknown code is a bug in tandem (KeyError)."""
    return TABLE[code.removeprefix(PREFIX)]


def level_name(level: int) -> str:
    if level >= ERROR:
        return "error"
    if level >= WARNING:
        return "warning"
    return "info"


def blocking(messages: Iterable[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """The messages that stop ``serve``: every ERROR-level one (the same test ``check``'s exit code uses)."""
    return [m for m in messages if m.level >= ERROR]


def warnings(messages: Iterable[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """The messages ``serve`` prints as one block before ``Ready:``."""
    return [m for m in messages if WARNING <= m.level < ERROR]
