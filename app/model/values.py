"""Parsing and canonical formatting of the value types journeys use: durations, date-times, times.

Every value is bounded, so that no arithmetic on it can overflow further on: dates (of journeys, segment
conditions and imported contacts) lie from MIN_DATE to MAX_DATE, durations are at most MAX_DURATION either way,
numbers in segment conditions and imported contacts at most MAX_NUMBER either way (integers stay exact as
floats). `printable` and `shown` put user text inside a one-line message.
"""

from __future__ import annotations

import math
import re
import reprlib
from datetime import date, datetime, time, timedelta
from typing import Any

MIN_DATE = date(1800, 1, 1)
MAX_DATE = date(2999, 12, 31)
MAX_DURATION = timedelta(days=36525)  # 100 years
MAX_NUMBER = 10**15  # below 2**53: every whole number up to it is exact as a float (SQLite REAL, NumPy)

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
        if not math.isfinite(text) or abs(text) > MAX_DURATION.total_seconds():
            raise ValueError(f"not a duration: {shown(text)} seconds is more than 100 years")
        return timedelta(seconds=text)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    s = text.strip().lower()
    if len(s) > MAX_DURATION_TEXT:
        raise ValueError("not a duration: the text is too long")
    if "\x00" in s:
        raise ValueError("not a duration: the text holds a NUL character")
    if s.lstrip("-").isascii() and s.lstrip("-").isdigit():
        return _bounded(int(s))
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
        raise ValueError(f"not a duration: {shown(text)} (months differ in length: write days, e.g. 30 days)")
    if not ok:
        raise ValueError(f"not a duration: {shown(text)} (write e.g. 30m, 12h, 1 day, 2 weeks or 1d 12h)")
    return _bounded(-total if negative else total)


def _bounded(seconds: int) -> timedelta:
    """A duration of that many seconds, if it is at most MAX_DURATION either way."""
    if abs(seconds) > MAX_DURATION.total_seconds():
        shown_as = format_duration(timedelta(seconds=max(-10**15, min(seconds, 10**15))))
        raise ValueError(f"not a duration: {shown_as} is more than 100 years")
    return timedelta(seconds=seconds)


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
    elif isinstance(text, str) and len(text) <= 64:
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"not a date-time: {shown(text)} (write e.g. 2026-12-01T09:00)") from None
    else:
        raise ValueError(f"not a date-time: {shown(text)} (write e.g. 2026-12-01T09:00)")
    if value.tzinfo is not None:
        raise ValueError(f"date-time {shown(text)} has an offset; write local time, the journey's time zone "
                         "applies")
    if not in_date_range(value):
        raise ValueError(f"date-time {shown(text)} is out of range: {date_range()}")
    return value


def in_date_range(value: date) -> bool:
    """Whether a date (or a date-time's date) lies from MIN_DATE to MAX_DATE."""
    day = value.date() if isinstance(value, datetime) else value
    return MIN_DATE <= day <= MAX_DATE


def date_range() -> str:
    """The range of dates, in words for a message."""
    return f"dates go from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}"


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
            return time.fromisoformat(text.strip()) if len(text) <= 64 else _fail_time()
        except ValueError:
            pass
    raise ValueError(f"not a time of day: {shown(text)} (write e.g. 21:00)")


def format_time(value: time) -> str:
    return value.isoformat(timespec="minutes")


def _fail_time() -> time:
    raise ValueError


# --- user text in one-line messages ----------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with control characters, line breaks and lone surrogates escaped (\\n, \\x00...): one line."""
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                                               else f"\\u{ord(m.group()):04x}"), text)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: repr, on one line, cut to about `limit` characters; never raises."""
    try:
        if isinstance(value, str):
            text = repr(value[:limit + 1])
        elif isinstance(value, (int, float, bool)) or value is None:
            text = repr(value)
        else:  # containers: a few items of a few levels, however large they are
            text = _SHORT.repr(value)
    except Exception:  # a 5,000-digit integer, a structure nested too deeply for repr...
        text = f"<{type(value).__name__}>"
    text = printable(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."
