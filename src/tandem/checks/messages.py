"""Builders for tandem's check messages: Django CheckMessage objects with stable ids."""

from __future__ import annotations

from django.core import checks


def error(number: int, msg: str, hint: str, obj: str) -> checks.CheckMessage:
    return checks.Error(msg, hint=hint, obj=obj, id=f"tandem.E{number:03d}")


def warning(number: int, msg: str, hint: str, obj: str) -> checks.CheckMessage:
    return checks.Warning(msg, hint=hint, obj=obj, id=f"tandem.W{number:03d}")


def info(number: int, msg: str, hint: str, obj: str) -> checks.CheckMessage:
    return checks.Info(msg, hint=hint, obj=obj, id=f"tandem.I{number:03d}")


def level_name(message: checks.CheckMessage) -> str:
    if message.level >= checks.ERROR:
        return "error"
    if message.level >= checks.WARNING:
        return "warning"
    return "info"
