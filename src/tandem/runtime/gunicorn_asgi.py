"""Gunicorn's ASGI worker (``-k asgi``, Gunicorn 27) as tandem runs it: with draining.

Gunicorn's worker stops on SIGTERM by closing its listeners and waiting for connections to end; an open
WebSocket then ends without a close frame (clients see 1006). tandem's worker first closes every WebSocket
the application accepted (tandem.runtime.served tracks them) with 1001 (going away), or with 1012 (service
restart) when the SIGTERM is Gunicorn retiring it after a reload (HUP): the arbiter's ``on_reload`` hook
(``-c python:tandem.runtime.gunicorn_asgi``) touches a marker newer than this worker's start.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gunicorn.workers.gasgi import ASGIWorker

from tandem.runtime.exported import check_exported
from tandem.runtime.served import GOING_AWAY, SERVICE_RESTART, drainer

# Gunicorn's arbiter imports this module as its configuration before it logs anything: an exported process
# without its secrets file stops here with one line (tandem.runtime.exported).
check_exported(os.environ)

RELOAD_MARKER_ENV = "TANDEM_RELOAD_MARKER"


def on_reload(server: Any) -> None:
    """Gunicorn server hook (this module is also the config module): a reload has begun."""
    marker = os.environ.get(RELOAD_MARKER_ENV)
    if marker:
        Path(marker).touch()


def close_code(booted: float) -> int:
    marker = os.environ.get(RELOAD_MARKER_ENV)
    try:
        reloading = bool(marker) and os.path.getmtime(marker or "") >= booted
    except OSError:
        reloading = False
    return SERVICE_RESTART if reloading else GOING_AWAY


class TandemASGIWorker(ASGIWorker):  # type: ignore[misc]
    booted = 0.0

    def init_process(self) -> None:
        self.booted = time.time()
        super().init_process()

    def handle_exit_signal(self) -> None:
        if self.alive:
            # Gunicorn's worker notices SIGTERM on its next heartbeat (up to 1 s later) and only then stops
            # listening; until then it kept accepting on the shared socket, so after a reload new
            # connections reached a retiring worker (WebSockets refused with 403) instead of the new ones.
            for server in self.servers:
                server.close()
            app = drainer()
            if app is not None:
                self.loop.create_task(app.drain(close_code(self.booted)))
        super().handle_exit_signal()
