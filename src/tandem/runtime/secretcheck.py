"""Gunicorn's configuration module for an exported WSGI Gunicorn that reads a secrets file
(``--config python:tandem.runtime.secretcheck``): Gunicorn imports it before its arbiter logs anything, and the
import checks the secrets file (tandem.runtime.exported), one line and EXIT_SECRETS when it is missing or too
open. Running the check on import is this module's purpose; nothing else imports it. Its public names are
the project's own Gunicorn settings, read from ./gunicorn.conf.py as Gunicorn would without a --config.
"""

from __future__ import annotations

import os as _os
import runpy as _runpy

from tandem.runtime.exported import check_exported as _check_exported

_check_exported(_os.environ)

# Gunicorn reads ./gunicorn.conf.py only when no --config is given, and this module is the exported command's
# --config: the project's file is read here, so the exported Gunicorn keeps the settings `tandem serve`'s
# Gunicorn reads from it. Its public names become this module's, which Gunicorn reads as settings (the
# command line still wins, as it does over the file).
if _os.path.isfile("gunicorn.conf.py"):
    globals().update(
        {
            name: value
            for name, value in _runpy.run_path("gunicorn.conf.py").items()
            if not name.startswith("_")
        }
    )
