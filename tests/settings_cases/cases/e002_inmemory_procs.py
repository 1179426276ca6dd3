"""tandem.E002: InMemoryChannelLayer shared by four Daphne processes."""

from caseproj.base import *  # noqa: F403

TANDEM = {"PROCS": 4}
