"""tandem.W001: daphne installed but not first."""

from caseproj.base import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "daphne"]  # noqa: F405
