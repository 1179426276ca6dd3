"""Broadcast capacity: the most clients for which 95% of broadcasts reach every client within 500 ms.

Read from one variant's fan-out figures (``--fanout 500,1000,2000``): the largest room measured in which at
least 95% of the posts reached every listener within 500 ms. A room whose measurement failed (a listener
that could not join, a receipt that never came) met nothing. When the largest room measured met the bound
the capacity is only known to be at least that; when the smallest did not, only to be below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.bench.figures import OK, FanoutFigure, VariantResult

BOUND_MS = 500.0
SHARE = 0.95


def share_within(figure: FanoutFigure) -> float:
    """The share of the posts that reached every listener within BOUND_MS; 0 for a failed measurement."""
    if figure.error is not None or not figure.messages or figure.within_bound is None:
        return 0.0
    return figure.within_bound / figure.messages


@dataclass(frozen=True)
class Capacity:
    variant: str
    clients: int | None  # the largest room that met the bound; None: not even the smallest
    shares: tuple[tuple[int, float], ...]  # (clients asked for, share within the bound), smallest room first

    @property
    def at_least(self) -> bool:
        return self.clients is not None and self.clients == self.shares[-1][0]

    def summary(self) -> str:
        rooms = ", ".join(f"{clients:,}: {share:.0%}" for clients, share in self.shares)
        head = f"broadcast capacity, {self.variant} ({SHARE:.0%} of posts at every client within {BOUND_MS:.0f} ms)"
        if self.clients is None:
            found = f"under {self.shares[0][0]:,} clients"
        elif self.at_least:
            found = f"at least {self.clients:,} clients (the largest room measured)"
        else:
            found = f"{self.clients:,} clients"
        return f"{head}: {found} [{rooms}]"


def capacities(variants: Sequence[VariantResult]) -> list[Capacity]:
    """One per variant that measured a fan-out."""
    found = []
    for variant in variants:
        if variant.status != OK or not variant.fanout:
            continue
        shares = tuple(sorted((f.clients, share_within(f)) for f in variant.fanout))
        met = [clients for clients, share in shares if share >= SHARE]
        found.append(Capacity(variant.name, max(met) if met else None, shares))
    return found
