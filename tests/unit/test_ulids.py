"""Batched ULIDs (`context.ulids`) are ULIDs of the given millisecond, as python-ulid reads them."""

from __future__ import annotations

import datetime as dt

from ulid import ULID

from hcx.services.context import ulids


def test_batched_ulids_are_ulids_of_the_moment_and_distinct() -> None:
    at = dt.datetime(2026, 11, 24, 9, 41, 7, 123456, tzinfo=dt.UTC)
    made = ulids(at, 5000)
    assert len(made) == len(set(made)) == 5000
    assert made == sorted(made)  # in the order one generator would make them
    reference = str(ULID.from_datetime(at))
    for text in made:
        parsed = ULID.from_str(text)
        assert str(parsed) == text and len(text) == 26
        assert parsed.milliseconds == int(at.timestamp() * 1000)
        assert text[:10] == reference[:10]  # the timestamp's ten characters
    assert ulids(at, 0) == []


def test_the_randomness_is_the_last_80_bits() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    values = {ULID.from_str(text).bytes[6:] for text in ulids(at, 200)}
    assert len(values) == 200
    assert any(value[0] >= 0x80 for value in values)  # the top bit of the randomness is used too
