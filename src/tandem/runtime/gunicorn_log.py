"""Gunicorn's logger class when tandem turns its access log on (split mode with --app-access-log).

Two things Gunicorn's own logger cannot do: leave tandem's own requests (its probes, every couple of
seconds per process) out of the access log, and write JSON (Gunicorn escapes every value for its quoted
text format, which would double-escape a JSON document).
"""

from __future__ import annotations

import json
import os
from typing import Any

from gunicorn.glogging import Logger

from tandem.accesslog import GUNICORN_JSON_ATOM
from tandem.runtime.spec import PROBE_HEADER, RuntimeSpec

_PROBE_ENVIRON_KEY = "HTTP_" + PROBE_HEADER.upper().replace("-", "_")
_JSON_DIRECTIVE = f"%({GUNICORN_JSON_ATOM})s"


class TandemLogger(Logger):  # type: ignore[misc]
    probe_token: str | None = None

    def _is_probe(self, environ: dict[str, Any]) -> bool:
        sent = environ.get(_PROBE_ENVIRON_KEY)
        if sent is None:
            return False
        if self.probe_token is None:
            self.probe_token = RuntimeSpec.from_env(os.environ).probe_token
        return bool(self.probe_token) and sent == self.probe_token

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled or self._is_probe(environ):
            return
        fmt = self.cfg.access_log_format
        if _JSON_DIRECTIVE not in fmt:
            super().access(resp, req, environ, request_time)
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = str(atoms["s"])
        record = {
            "time": atoms["t"].strip("[]"),
            "remote_addr": atoms["h"],
            "request": atoms["r"],
            "status": int(status) if status.isdigit() else status,
            "bytes": atoms["B"],
            "request_time": atoms["L"],
            "referer": atoms["f"],
            "user_agent": atoms["a"],
        }
        prefix = fmt.replace(_JSON_DIRECTIVE, "")
        self.access_log.info("%s%s", prefix, json.dumps(record, separators=(",", ":")))
