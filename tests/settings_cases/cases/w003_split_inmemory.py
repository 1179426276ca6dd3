"""tandem.W003: split mode with InMemoryChannelLayer and consumers using groups."""

from caseproj.base import *  # noqa: F403

TANDEM = {"MODE": "split"}
