"""tandem.W005 triggered but silenced, as any Django check can be."""

from cases.w005_any_host import *  # noqa: F403

SILENCED_SYSTEM_CHECKS = ["tandem.W005"]
