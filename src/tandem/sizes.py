"""Sizes as tandem's options write them: nginx's syntax (``10m``, ``512k``, ``0``), so one value means the
same in nginx's config and in the limits tandem's own runtime enforces."""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(text: str) -> int:
    """``10m`` -> 10485760; anything but digits with an optional k/m/g suffix raises ValueError."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size: use bytes with an optional k, m or g suffix, e.g. 10m")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]
