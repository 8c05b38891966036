"""Durations as people write them ("1 day", "2 hours", "1d 2h") and as files write them ("1d12h")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.model.values import format_duration, parse_duration

D, H, M = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


@pytest.mark.parametrize("text, value", [
    ("1d", D), ("1 day", D), ("1 Day", D), ("2 days", 2 * D), ("2 hours", 2 * H), ("1d 2h", D + 2 * H),
    ("1d12h", D + 12 * H), ("1 week and 2 days", 9 * D), ("1 day, 2 hours", D + 2 * H), ("90 min", 90 * M),
    ("30m", 30 * M), ("2w", 14 * D), ("45 seconds", timedelta(seconds=45)), ("3600", H), ("-1d", -D),
    (" 5 d ", 5 * D), ("1 hr 30 mins", H + 30 * M),
])
def test_durations_read_as_people_write_them(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value
    assert parse_duration(format_duration(value)) == value  # and the canonical form reads back


@pytest.mark.parametrize("text, why", [
    ("1 month", "months differ in length"), ("1d 1d", "write e.g."), ("day", "write e.g."), ("1 dayz", "write e.g."),
    ("", "write e.g."), ("1.5h", "write e.g."), ("d1", "write e.g."), ("1" * 300, "too long"),
    ("1d\x002h", "NUL character"),
])
def test_what_is_not_a_duration_says_how_to_write_one(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="not a duration") as e:
        parse_duration(text)
    assert why in str(e.value)
