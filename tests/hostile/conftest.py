"""Fixtures of the hostile tier (tests.hostile.neighbours): a second local user for the neighbour tests."""

from tests.hostile.neighbours import second_user

__all__ = ["second_user"]
