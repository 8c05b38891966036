"""What is typed in an if/then condition's value field, read into the value the operator needs.

One value of the attribute's type; a list for 'in' ('a, b, c'); a range for 'between' ('low, high', also
'low and high', 'low to high'); a whole number of days for 'in_last_days' / 'not_in_last_days'.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.model.attributes import DAY_OPERATORS, RANGE_OPERATORS, UNARY_OPERATORS
from designer.panels.fields import plain_number


def value_text(value: Any) -> str:
    """A condition's value as it is typed: lists (in, between) as 'a, b'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _read_one(text: str, attr_type: str) -> Any:
    """One typed value of an attribute type; ValueError saying what is expected."""
    if attr_type == "number":
        try:
            return plain_number(float(text))
        except ValueError:
            raise ValueError(f"'{text}' is not a number.") from None
    if attr_type == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError("Write true or false.")
    if attr_type == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"'{text}' is not a date; write e.g. 2026-12-01.") from None
    return text


def _range_parts(text: str) -> list[str]:
    """'100, 500', '100 and 500', '100 to 500', '100..500' or '100; 500' as its two parts."""
    for sep in (" and ", " to ", "..", ";", ","):
        if sep in text:
            return [part.strip() for part in text.split(sep)]
    return [text]


def read_value(text: str, attr_type: str, op: str) -> Any:
    """The typed value of a condition from what was typed; ValueError saying what is expected."""
    text = text.strip()
    if op == "in":
        return [v.strip() for v in text.split(",") if v.strip()]
    if op in DAY_OPERATORS:
        if not text.isdigit():
            raise ValueError(f"'{text}' is not a number of days; write a whole number such as 30.")
        return int(text)
    if op in RANGE_OPERATORS:
        parts = _range_parts(text)
        if len(parts) != 2 or not all(parts):
            raise ValueError("Write the range as low, high, e.g. 100, 500 (both included).")
        return [_read_one(part, attr_type) for part in parts]
    return _read_one(text, attr_type)


def value_shape(op: Any) -> str:
    """The kind of value an operator takes: 'days', 'range', 'list', 'none' or 'one'."""
    if op in DAY_OPERATORS:
        return "days"
    if op in RANGE_OPERATORS:
        return "range"
    if op in UNARY_OPERATORS:
        return "none"
    return "list" if op == "in" else "one"


def placeholder(op: Any) -> str:
    """The hint in the value field for an operator."""
    if op in DAY_OPERATORS:
        return "Number of days, e.g. 30"
    if op in RANGE_OPERATORS:
        return "low, high — e.g. 100, 500"
    if op == "in":
        return "Values, separated by commas"
    return "Value"


__all__ = ["placeholder", "read_value", "value_shape", "value_text"]
