"""The WSGI application Gunicorn runs: the user's app behind tandem's nginx, with the real client address.

nginx overwrites ``X-Real-IP``/``X-Forwarded-For``/``X-Forwarded-Proto`` on every request, and Gunicorn
listens only on a private socket that nginx alone reaches, so those headers are trusted here and nowhere else.
With ``--internal tcp`` any local process can reach Gunicorn's port: the headers are then believed only on
requests carrying the per-run secret nginx adds (``RuntimeSpec.proxy_secret``); on any other request they
are removed before the application sees them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from tandem.diagnostics import token_matches, wrap_wsgi
from tandem.pythonpath import honour_pythonpath
from tandem.runtime.bootfailure import fail_worker
from tandem.runtime.collector import settle
from tandem.runtime.overrides import apply_overrides, import_app
from tandem.runtime.spec import (
    EDGE_PATH,
    FORWARDING_HEADERS,
    PROBE_HEADER,
    PROBE_PATH,
    PROXY_HEADER,
    RuntimeSpec,
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


_PROBE_ENVIRON_KEY = _environ_key(PROBE_HEADER)
_PROXY_ENVIRON_KEY = _environ_key(PROXY_HEADER)
_FORWARDING_KEYS = tuple(_environ_key(name) for name in FORWARDING_HEADERS)


class TandemWSGI:
    def __init__(self, app: WSGIApp, spec: RuntimeSpec) -> None:
        self.app = app
        self.token = spec.probe_token
        self.trust_proxy = spec.trust_proxy
        self.secret = spec.proxy_secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PROBE_PATH and environ.get(_PROBE_ENVIRON_KEY) == self.token:
            body = f'{{"status":"ok","pid":{os.getpid()}}}'.encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if self.secret and environ.get("PATH_INFO") == EDGE_PATH and _PROXY_ENVIRON_KEY in environ:
            return self._edge_answer(start_response, self._from_proxy(environ))
        if self.trust_proxy and self.secret and not self._from_proxy(environ):
            for key in _FORWARDING_KEYS:
                environ.pop(key, None)
        elif self.trust_proxy:
            real_ip = environ.get("HTTP_X_REAL_IP")
            if real_ip:
                environ["REMOTE_ADDR"] = real_ip.strip()
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)

    @staticmethod
    def _edge_answer(start_response: StartResponse, matches: bool) -> Iterable[bytes]:
        """The edge's probe (tandem.edge): whether the secret it sent is this app host's."""
        status, edge = (
            ("200 OK", "ok") if matches else ("403 Forbidden", "the edge secret differs from this app host's")
        )
        body = f'{{"edge":"{edge}","pid":{os.getpid()}}}'.encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _from_proxy(self, environ: dict[str, Any]) -> bool:
        """Whether tandem's nginx sent this request; its secret header is removed either way (the
        application and its logs never see it)."""
        return token_matches(environ.pop(_PROXY_ENVIRON_KEY, None), self.secret)


def build(spec: RuntimeSpec) -> WSGIApp:
    apply_overrides(spec)
    # Inside TandemWSGI: the diagnostic endpoint reports the client address after the proxy headers are applied.
    app = TandemWSGI(wrap_wsgi(import_app(spec.app), spec.diagnostic_token), spec)
    settle(spec.gc_threshold)  # last: what the import left alive is frozen
    return app


_application: WSGIApp | None = None


def __getattr__(name: str) -> Any:
    global _application
    if name != "application":
        raise AttributeError(name)
    if _application is None:
        honour_pythonpath(os.environ, sys.path)  # before the settings are imported
        try:
            _application = build(RuntimeSpec.from_env(os.environ))
        except Exception as exc:
            fail_worker(exc, os.environ)  # one short traceback for all the workers that fail alike
    return _application
