"""Parsing and canonical formatting of the value types journeys use: durations, date-times, times."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Read '1d', '5d', '2h30m', '1w', or a number of seconds; raise ValueError otherwise."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    s = text.strip().lower()
    if s.lstrip("-").isdigit():
        return timedelta(seconds=int(s))
    negative = s.startswith("-")
    m = _DURATION.match(s[1:] if negative else s)
    if not m or not any(m.groups()):
        raise ValueError(f"not a duration: {text!r} (write e.g. 30m, 12h, 1d, 2w or 1d12h)")
    total = sum(int(g) * _UNITS[u] for g, u in zip(m.groups(), "wdhms") if g)
    return timedelta(seconds=-total if negative else total)


def format_duration(value: timedelta) -> str:
    """Write a duration in its shortest canonical form, e.g. timedelta(days=1, hours=12) -> '1d12h'."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit in "dhms":  # weeks are read but written as days: '14d' is clearer than '2w' in a diff
        size = _UNITS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + "".join(parts)


def parse_datetime(text: str | datetime) -> datetime:
    """Read an ISO 8601 local date-time such as '2026-12-01T09:00' (no offset: the journey's zone applies)."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, str):
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"not a date-time: {text!r} (write e.g. 2026-12-01T09:00)") from None
    else:
        raise ValueError(f"not a date-time: {text!r} (write e.g. 2026-12-01T09:00)")
    if value.tzinfo is not None:
        raise ValueError(f"date-time {text!r} has an offset; write local time, the journey's time zone applies")
    return value


def format_datetime(value: datetime) -> str:
    """Write a local date-time canonically: minutes unless seconds are set."""
    return value.isoformat(timespec="seconds" if value.second or value.microsecond else "minutes")


def parse_time(text: str | time) -> time:
    """Read a time of day such as '21:00'."""
    if isinstance(text, time):
        return text
    if isinstance(text, int) and not isinstance(text, bool):  # YAML 1.1 reads 21:00 as sexagesimal 1260
        return time(text // 60 % 24, text % 60)
    if isinstance(text, str):
        try:
            return time.fromisoformat(text.strip())
        except ValueError:
            pass
    raise ValueError(f"not a time of day: {text!r} (write e.g. 21:00)")


def format_time(value: time) -> str:
    return value.isoformat(timespec="minutes")
