"""Parsing and canonical formatting of the value types journeys use: durations, date-times, times."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# units as people write them: "1d", "1 day", "2 hours", "1d 2h", "1 week and 2 days", "90 min"
_UNIT_WORDS = {**{w: "w" for w in ("w", "wk", "wks", "week", "weeks")},
               **{w: "d" for w in ("d", "day", "days")},
               **{w: "h" for w in ("h", "hr", "hrs", "hour", "hours")},
               **{w: "m" for w in ("m", "min", "mins", "minute", "minutes")},
               **{w: "s" for w in ("s", "sec", "secs", "second", "seconds")}}
_PART = re.compile(r"(\d{1,9})\s*([a-z]+)")
MAX_DURATION_TEXT = 200


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
    if len(s) > MAX_DURATION_TEXT:
        raise ValueError("not a duration: the text is too long")
    if "\x00" in s:
        raise ValueError("not a duration: the text holds a NUL character")
    if s.lstrip("-").isdigit():
        return timedelta(seconds=int(s))
    negative = s.startswith("-")
    body = re.sub(r"[,;]|\band\b", " ", s[1:] if negative else s).strip()
    parts = list(_PART.finditer(body))
    used: set[str] = set()
    total = 0
    ok = bool(parts) and not _PART.sub("", body).strip()
    for m in parts:
        unit = _UNIT_WORDS.get(m.group(2))
        if unit is None or unit in used:
            ok = False
            break
        used.add(unit)
        total += int(m.group(1)) * _UNITS[unit]
    if not ok and "month" in body:
        raise ValueError(f"not a duration: {text!r} (months differ in length: write days, e.g. 30 days)")
    if not ok:
        raise ValueError(f"not a duration: {text!r} (write e.g. 30m, 12h, 1 day, 2 weeks or 1d 12h)")
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
