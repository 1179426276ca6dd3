"""The WSGI application Gunicorn runs: the user's app behind tandem's nginx, with the real client address.

nginx overwrites ``X-Real-IP``/``X-Forwarded-For``/``X-Forwarded-Proto`` on every request, and Gunicorn
listens only on a private socket that nginx alone reaches, so those headers are trusted here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from tandem.diagnostics import wrap_wsgi
from tandem.pythonpath import honour_pythonpath
from tandem.runtime.bootfailure import fail_worker
from tandem.runtime.overrides import apply_overrides, import_app
from tandem.runtime.spec import PROBE_HEADER, PROBE_PATH, RuntimeSpec

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_PROBE_ENVIRON_KEY = "HTTP_" + PROBE_HEADER.upper().replace("-", "_")


class TandemWSGI:
    def __init__(self, app: WSGIApp, spec: RuntimeSpec) -> None:
        self.app = app
        self.token = spec.probe_token
        self.trust_proxy = spec.trust_proxy

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PROBE_PATH and environ.get(_PROBE_ENVIRON_KEY) == self.token:
            body = f'{{"status":"ok","pid":{os.getpid()}}}'.encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if self.trust_proxy:
            real_ip = environ.get("HTTP_X_REAL_IP")
            if real_ip:
                environ["REMOTE_ADDR"] = real_ip.strip()
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def build(spec: RuntimeSpec) -> WSGIApp:
    apply_overrides(spec)
    # Inside TandemWSGI: the diagnostic endpoint reports the client address after the proxy headers are applied.
    return TandemWSGI(wrap_wsgi(import_app(spec.app), spec.diagnostic_token), spec)


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
