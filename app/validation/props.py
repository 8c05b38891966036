"""Whether a step's property values have the types the model expects (they can be wrong in malformed input)."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Callable

from app.model.registry import PropSpec, TileType
from app.model.values import printable, shown

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def short_repr(value: Any) -> str:
    """A repr of `value` short enough for a one-line message; never raises."""
    try:
        return printable(_short.repr(value))
    except Exception:  # reprlib repeats repr's refusals: a 5,000-digit integer, say
        return shown(value, 40)


def is_real(value: Any) -> bool:
    """A finite int or float (not a bool): what percentages and counts may be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _text(spec: PropSpec, v: Any) -> str | None:
    return None if isinstance(v, str) else "must be text"


def _int(spec: PropSpec, v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) else "must be a whole number"


def _percent(spec: PropSpec, v: Any) -> str | None:
    return None if is_real(v) else "must be a percentage (a number)"


def _duration(spec: PropSpec, v: Any) -> str | None:
    return None if isinstance(v, timedelta) else "must be a duration such as 1d or 12h"


def _datetime(spec: PropSpec, v: Any) -> str | None:
    if not isinstance(v, datetime):
        return "must be a date and time such as 2026-12-10T09:00"
    return None if v.tzinfo is None else "must be a local date and time, without a UTC offset"


def _bool(spec: PropSpec, v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _choice(spec: PropSpec, v: Any) -> str | None:
    return None if isinstance(v, str) and v in spec.choices else f"must be one of {', '.join(spec.choices)}"


def _struct(spec: PropSpec, v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return "must be a mapping"
    try:
        spec.from_plain(v)
    except (ValueError, TypeError) as e:
        return f"is invalid ({e})"
    return None


def _percent_list(spec: PropSpec, v: Any) -> str | None:
    if isinstance(v, (list, tuple)) and all(is_real(x) for x in v):
        return None
    return "must be a list of percentages such as [50, 50]"


_CHECKS: dict[str, Callable[[PropSpec, Any], str | None]] = {
    "string": _text, "text": _text, "content": _text, "segment": _text,
    "int": _int, "percent": _percent, "duration": _duration, "datetime": _datetime, "bool": _bool,
    "choice": _choice, "wait_for": _struct, "condition": _struct, "percent_list": _percent_list,
}


def invalid_props(props: Any, tile: TileType) -> dict[str | None, str]:
    """Property name -> what is wrong with its value, for values of the wrong type (None: no properties map)."""
    if not isinstance(props, Mapping):
        return {None: f"the step's properties must be a mapping, not {short_repr(props)}"}
    problems: dict[str | None, str] = {}
    for spec in tile.props:
        value = props.get(spec.name)
        if value is None:  # unset
            continue
        reason = _CHECKS[spec.kind](spec, value)
        if reason is not None:
            problems[spec.name] = f"{spec.label} ({spec.name}) {reason}, not {short_repr(value)}"
    return problems


def unknown_props(props: Any, tile: TileType) -> list[Any]:
    """Property names the tile type does not have (ignored by every part of the application)."""
    if not isinstance(props, Mapping):
        return []
    return [name for name in props if not isinstance(name, str) or tile.prop(name) is None]
