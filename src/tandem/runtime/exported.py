"""An exported process's secrets file checked before its server starts: missing, unreadable or readable by
others, the process prints one line (what is wrong, how to fix it) and exits with EXIT_SECRETS, before any
server output or traceback. A process ``tandem serve`` starts has no secrets file and is not affected.

Called first by the runtime entry points (tandem.runtime.daphne and tandem.runtime.uvicorn's main) and by
the Gunicorn configuration modules tandem.runtime.secretcheck (the WSGI arbiter's, added to an exported
Gunicorn command that reads a secrets file) and tandem.runtime.gunicorn_asgi (the ASGI worker's). Importing
this module does nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from tandem.runtime.spec import ENV_VAR, SECRETS_VAR, SecretsError, read_secrets

EXIT_SECRETS = 78  # sysexits' EX_CONFIG: distinct from a server's own failures (1, Gunicorn's 3 and 4)


def check_exported(environ: Mapping[str, str]) -> None:
    """Exits with one line when the secrets file TANDEM_RUNTIME_SECRETS names cannot give the fields
    TANDEM_RUNTIME says are in it; returns when there are none or it can."""
    try:
        data = json.loads(environ.get(ENV_VAR) or "{}")
    except ValueError:
        return  # not an exported spec: the server reports its own TANDEM_RUNTIME error
    names = tuple(data.get("secrets_from_env") or ()) if isinstance(data, dict) else ()
    if not names:
        return
    try:
        read_secrets(environ.get(SECRETS_VAR, ""), names)
    except SecretsError as exc:
        sys.stderr.write(f"tandem: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_SECRETS) from None
