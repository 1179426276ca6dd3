"""Builders for tandem's check messages: Django CheckMessage objects with stable ids, whose level comes
from the one severity table (never from the call site)."""

from __future__ import annotations

from django.core import checks

from tandem.checks import severity


def finding(code: str, msg: str, hint: str, obj: str) -> checks.CheckMessage:
    """``code`` is ``E004``-style; its level is the table's."""
    return checks.CheckMessage(
        severity.severity(code).level, msg, hint=hint, obj=obj, id=f"{severity.PREFIX}{code}"
    )


def level_name(message: checks.CheckMessage) -> str:
    return severity.level_name(message.level)
