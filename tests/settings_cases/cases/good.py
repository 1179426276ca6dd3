"""Passes every check."""

from caseproj.base import *  # noqa: F403
