"""A tile's status line until the simulator fills it: a one-line summary of a step's properties.

Each tile type names its summary in the registry (`TileType.summary`); the canvas shows it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import urlparse

from app.model.values import format_duration

Props = Mapping[str, Any]


def _duration(value: Any) -> str:
    return format_duration(value) if isinstance(value, timedelta) else str(value)


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
        return f"for {_duration(p['duration'])}"
    return "No duration set"


def if_then(p: Props) -> str:
    wait_for, condition, segment = p.get("wait_for"), p.get("condition"), p.get("segment")
    if wait_for:
        if wait_for.get("link"):  # which link matters most: it leads (a tile shows about 25 characters)
            text = f"{wait_for['link']} clicked"
        else:
            text = f"{wait_for.get('event', '?')} on {wait_for.get('step', '?')}"
        if p.get("within") is not None:
            text += f" within {_duration(p['within'])}"
        return text
    if condition:
        value = condition.get("value")
        return " ".join(str(x) for x in (condition.get("attribute"), condition.get("op"), value) if x is not None)
    if segment:
        return f"member of {segment}"
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
