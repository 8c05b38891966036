"""A tile's status line until the simulator fills it: a one-line summary of a step's properties.

Each tile type names its summary in the registry (`TileType.summary`); the canvas shows it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import urlparse

from app.model.attributes import OP_LABELS, attribute_label, event_label

Props = Mapping[str, Any]


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d %b %H:%M").lstrip("0")
    return str(value)


def message(p: Props) -> str:
    return str(p.get("content") or "No content chosen")


def wait(p: Props) -> str:
    if p.get("until") is not None:
        return f"until {_when(p['until'])}"
    if p.get("duration") is not None:
        return f"for {_readable_duration(p['duration'])}"
    return "No duration set"


def _readable_duration(value: Any) -> str:
    """'1d' -> '1 day', '36h' -> '1 day 12 hours': a status line is read, not parsed."""
    if not isinstance(value, timedelta):
        return str(value)
    seconds = int(value.total_seconds())
    parts = []
    for size, word in ((86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def if_then(p: Props) -> str:
    wait_for, condition, segment = p.get("wait_for"), p.get("condition"), p.get("segment")
    wait_for = wait_for if isinstance(wait_for, Mapping) else None  # an unfinished or broken edit: no words
    condition = condition if isinstance(condition, Mapping) else None
    if wait_for:
        if wait_for.get("link"):  # which link matters most: it leads (a tile shows about 25 characters)
            text = f"{wait_for['link']} clicked"
        else:
            text = event_label(str(wait_for.get("event", "?"))).capitalize()
        if p.get("within") is not None:
            text += f" within {_readable_duration(p['within'])}"
        return text
    if condition:
        value = condition.get("value")
        op = str(condition.get("op", ""))
        words = [attribute_label(str(condition.get("attribute", "?"))), OP_LABELS.get(op, op.replace("_", " "))]
        if value is not None:
            words.append(", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
        return " ".join(words)
    if segment:
        return f"In {segment}"
    return "No condition set"


def split(p: Props) -> str:
    paths = p.get("split") or ()
    text = " / ".join(f"{x:g}" for x in paths) or "No paths"
    holdout = p.get("holdout") or 0
    return f"{text} · holdout {holdout:g}%" if holdout else text


def webhook(p: Props) -> str:
    url = p.get("url") or ""
    host = urlparse(url).netloc if url else ""
    return f"{p.get('method', 'POST')} {host}" if host else "No address"


def task(p: Props) -> str:
    subject = p.get("subject")
    if not subject:
        return "No subject"
    return f"{'Call' if p.get('activity') == 'phone_call' else 'Task'}: {subject}"


def lead(p: Props) -> str:
    return str(p.get("topic") or "No topic")


def workflow(p: Props) -> str:
    return str(p.get("workflow") or "No workflow")


def exit_(p: Props) -> str:
    return str(p.get("reason") or "Contacts leave here")


# --- a tile's name until someone names it: what it does, in words ------------------------------------------------

def message_name(p: Props) -> str:
    """A message is its content: 'Product announcement email' ('' when none is chosen yet)."""
    return str(p.get("content") or "")


def wait_name(p: Props) -> str:
    text = wait(p)
    return f"Wait {text}" if text != "No duration set" else ""


def if_then_name(p: Props) -> str:
    text = if_then(p)
    return f"{text}?" if text != "No condition set" else ""
