"""tandem.I002: no STATIC_ROOT (tandem serve uses a directory of its own; a deployment needs one)."""

from caseproj.base import *  # noqa: F403

STATIC_ROOT = None
TANDEM = {"MODE": "split"}
