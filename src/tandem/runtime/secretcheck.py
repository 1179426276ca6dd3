"""Gunicorn's configuration module for an exported WSGI Gunicorn that reads a secrets file
(``--config python:tandem.runtime.secretcheck``): Gunicorn imports it before its arbiter logs anything, and the
import checks the secrets file (tandem.runtime.exported), one line and EXIT_SECRETS when it is missing or too
open. Running the check on import is this module's purpose; nothing else imports it. It defines no public
names: Gunicorn would read them as settings.
"""

from __future__ import annotations

import os as _os

from tandem.runtime.exported import check_exported as _check_exported

_check_exported(_os.environ)
