"""The status line of a tile until the simulator fills it: a one-line summary of the step's properties."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable
from urllib.parse import urlparse

from app.model.journey import Step
from app.model.values import format_duration


def _duration(value: Any) -> str:
    return format_duration(value) if isinstance(value, timedelta) else str(value)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d %b %H:%M").lstrip("0")
    return str(value)


def _message(step: Step) -> str:
    return str(step.props.get("content") or "No content chosen")


def _wait(step: Step) -> str:
    if step.props.get("until") is not None:
        return f"until {_when(step.props['until'])}"
    if step.props.get("duration") is not None:
        return f"for {_duration(step.props['duration'])}"
    return "No duration set"


def _if_then(step: Step) -> str:
    p = step.props
    wait_for, condition, segment = p.get("wait_for"), p.get("condition"), p.get("segment")
    if wait_for:
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


def _split(step: Step) -> str:
    paths = step.props.get("split") or ()
    text = " / ".join(f"{x:g}" for x in paths) or "No paths"
    holdout = step.props.get("holdout") or 0
    return f"{text} · holdout {holdout:g}%" if holdout else text


def _webhook(step: Step) -> str:
    url = step.props.get("url") or ""
    host = urlparse(url).netloc if url else ""
    return f"{step.props.get('method', 'POST')} {host}" if host else "No address"


def _task(step: Step) -> str:
    subject = step.props.get("subject")
    if not subject:
        return "No subject"
    return f"{'Call' if step.props.get('activity') == 'phone_call' else 'Task'}: {subject}"


_SUMMARIES: dict[str, Callable[[Step], str]] = {
    "email": _message, "sms": _message, "push": _message,
    "wait": _wait, "if-then": _if_then, "ab-split": _split, "random-split": _split,
    "webhook": _webhook, "task": _task,
    "lead": lambda s: str(s.props.get("topic") or "No topic"),
    "workflow": lambda s: str(s.props.get("workflow") or "No workflow"),
    "exit": lambda s: str(s.props.get("reason") or "Contacts leave here"),
}


def step_summary(step: Step) -> str:
    """A short line about what the step does, e.g. 'for 5d' or 'link_clicked on announce within 1d'."""
    summarize = _SUMMARIES.get(step.type)
    return summarize(step) if summarize else ""
