"""Broadcast capacity (tandem.bench.capacity): the largest room in which 95% of the posts reached every client
within 500 ms, read from one variant's fan-out figures; a failed room meets nothing."""

from __future__ import annotations

from tandem.bench.capacity import capacities, share_within
from tandem.bench.figures import FanoutFigure, VariantResult


def room(clients: int, within: int, *, messages: int = 20, error: str | None = None) -> FanoutFigure:
    return FanoutFigure(
        clients,
        clients,
        messages,
        messages,
        0,
        100.0,
        400.0,
        50.0,
        300.0,
        1.0,
        error=error,
        within_bound=within,
    )


def variant(*rooms: FanoutFigure, name: str = "unified-1") -> VariantResult:
    result = VariantResult(name, "unified", name, "InMemoryChannelLayer", False, 1, None)
    result.fanout = list(rooms)
    return result


def test_the_largest_room_meeting_the_bound() -> None:
    [found] = capacities([variant(room(4000, 8), room(1000, 20), room(2000, 19))])
    assert found.clients == 2000 and not found.at_least
    assert found.shares == ((1000, 1.0), (2000, 0.95), (4000, 0.4))
    assert found.summary() == (
        "broadcast capacity, unified-1 (95% of posts at every client within 500 ms): 2,000 clients "
        "[1,000: 100%, 2,000: 95%, 4,000: 40%]"
    )


def test_only_bounds_when_every_room_or_none_met_it() -> None:
    [every] = capacities([variant(room(100, 20), room(1000, 20))])
    assert every.at_least and "at least 1,000 clients (the largest room measured)" in every.summary()
    [none] = capacities([variant(room(100, 18), room(1000, 2))])
    assert none.clients is None and "under 100 clients" in none.summary()


def test_a_failed_room_meets_nothing_and_variants_without_fanout_are_left_out() -> None:
    failed = room(1000, 20, error="3 receipt(s) never arrived within 10 s")
    assert share_within(failed) == 0.0
    [found] = capacities([variant(room(100, 20), failed), variant(name="split-unix")])
    assert found.clients == 100 and found.variant == "unified-1"
