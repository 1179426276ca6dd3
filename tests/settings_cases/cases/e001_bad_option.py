"""tandem.E001: an invalid tandem option."""

from caseproj.base import *  # noqa: F403

TANDEM = {"PROCS": "many"}
