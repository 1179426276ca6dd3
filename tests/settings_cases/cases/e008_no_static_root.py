"""tandem.E008: split mode without STATIC_ROOT."""

from caseproj.base import *  # noqa: F403

STATIC_ROOT = None
TANDEM = {"MODE": "split"}
