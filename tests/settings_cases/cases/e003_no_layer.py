"""tandem.E003: consumers call group_add but there is no channel layer."""

from caseproj.base import *  # noqa: F403

del CHANNEL_LAYERS  # noqa: F821
