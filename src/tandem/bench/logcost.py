"""What the access log costs: each variant run with it on, against its pair run right before with it off.

tandem serves with the access log on by default, while every other variant runs with it off so its
figures measure the topology; the pairs say what the default costs (issue 10: at most 5%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.bench.figures import OK, PUBLIC, VariantResult
from tandem.bench.variants import variant_table


@dataclass(frozen=True)
class LogCost:
    logged: str  # the variant with the access log on
    unlogged: str  # its pair, with it off
    on: float  # req/s
    off: float

    @property
    def ratio(self) -> float:
        return self.on / self.off

    def summary(self) -> str:
        return (
            f"access log on vs off: {self.logged} {self.on:,.0f} req/s, {self.unlogged} {self.off:,.0f} req/s: "
            f"{self.ratio:.2f}x"
        )


def log_costs(variants: Sequence[VariantResult], cores: int = 2) -> list[LogCost]:
    """One figure per pair in which both variants measured HTTP."""
    pairs = {v.name: v.pair_of for v in variant_table(cores) if v.access_log and v.pair_of}
    by_name = {v.name: v for v in variants if v.status == OK}
    costs = []
    for logged, unlogged in pairs.items():
        on = by_name[logged].http_at(PUBLIC) if logged in by_name else None
        off = by_name[unlogged].http_at(PUBLIC) if unlogged in by_name else None
        if on is not None and off is not None and off.requests_per_s > 0:
            costs.append(LogCost(logged, unlogged, on.requests_per_s, off.requests_per_s))
    return costs
