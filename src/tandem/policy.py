"""Restart policy, as pure functions over a history of exit times so it is tested by replaying histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    initial_delay: float = 0.5
    max_delay: float = 10.0
    window: float = 60.0  # exits older than this are forgiven
    flap_limit: int = 5  # this many exits inside the window: flapping, give up

    def recent(self, exits: Sequence[float], now: float) -> int:
        return sum(1 for t in exits if now - t <= self.window)

    def is_flapping(self, exits: Sequence[float], now: float) -> bool:
        return self.recent(exits, now) >= self.flap_limit

    def delay(self, exits: Sequence[float], now: float) -> float:
        """Backoff before the next start: 0.5 s after the first recent exit, doubling up to the cap."""
        count = max(1, self.recent(exits, now))
        return float(min(self.max_delay, self.initial_delay * 2 ** (count - 1)))
