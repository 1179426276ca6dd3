"""A Gunicorn worker whose application fails to import: one short traceback per Gunicorn master, not one
full traceback per worker.

Every worker imports the application itself, so a broken ``wsgi.py`` fails in all of them alike, and
Gunicorn prints each failure as some 30 lines of its own frames (four workers: a wall of 120 lines that
hides the one line that matters). The first worker of a master to fail prints the traceback with the
user's frames only; the others exit with the same code quietly. Gunicorn's master then halts with
``HaltServer: Worker failed to boot``, which tandem reads past (tracebacks.parse_crash).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NoReturn

from tandem.tracebacks import short_traceback

MARKER_DIR_ENV = "TANDEM_BOOT_MARKER_DIR"  # tandem's private runtime dir, set in every child's environment
WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR: the master halts instead of respawning


def first_to_report(directory: str | None, master_pid: int) -> bool:
    """True for the first worker of ``master_pid`` to ask (an exclusive create), and when there is no
    directory to coordinate through (then every worker reports: more output, nothing lost)."""
    if not directory:
        return True
    marker = os.path.join(directory, f"boot-failure.{master_pid}")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    except OSError:
        return True
    os.close(fd)
    return True


def fail_worker(exc: BaseException, environ: Mapping[str, str]) -> NoReturn:
    if first_to_report(environ.get(MARKER_DIR_ENV), os.getppid()):
        sys.stderr.write(short_traceback(exc))
    else:
        sys.stderr.write(f"worker {os.getpid()} failed alike (the traceback is shown once)\n")
    sys.stderr.flush()
    # SystemExit passes through Gunicorn's worker untouched (no second, longer traceback of the same error).
    raise SystemExit(WORKER_BOOT_ERROR)
