"""Passes tandem.W001: daphne first."""

from caseproj.base import *  # noqa: F403

INSTALLED_APPS = ["daphne", *INSTALLED_APPS]  # noqa: F405
