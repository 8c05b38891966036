"""The journey's own effect in words, the same on the command line, in the run review, on the canvas and in
the report: what the journey causes, for the contacts who entered, beyond what they would have done anyway.

Everything here reads a run's results document (`SimulationResult.to_json()`, as saved): its `effect` (per
event: the share with the journey, without it and the incremental difference, each {mean, low, high}), its
`goal` and its `behaviour_figures`. Runs saved before the twin existed have no `effect`: the functions then
say so, and fall back to the goal as reached on the journey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Figure = Mapping[str, Any]

EVENT_LABELS = {"purchase": "purchase", "web_visit": "web visit", "form_submitted": "form submitted",
                "unsubscribed": "unsubscribe", "subscribed": "subscribe", "registered": "registration",
                "renewed": "renewal"}
FIGURE_LABELS = {"delivery": "delivered", "open": "opened", "click": "clicked (of openers)",
                 "unsubscribe": "unsubscribed", "conversion": "converted (of clickers)"}


def event_label(name: str) -> str:
    """'purchase', 'web visit', or "joining segment 'VIP'" for a segment trigger."""
    if name.startswith("segment:"):
        segment, when = name[len("segment:"):].rsplit(":", 1)
        return f"{'leaving' if when == 'leaves' else 'joining'} segment '{segment}'"
    return EVENT_LABELS.get(name, name.replace("_", " "))


def _num(f: Figure | None, key: str = "mean") -> float | None:
    v = (f or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def share(f: Figure | None) -> str:
    """A share as a percentage ('17.89%'; '–' when there is none)."""
    v = _num(f)
    return "–" if v is None else f"{v:.2%}"


def points(f: Figure | None, *, interval: bool = True) -> str:
    """A difference of shares in percentage points: '+0.66 pt (95% interval +0.58 to +0.74)'."""
    v = _num(f)
    if v is None:
        return "–"
    text = f"{v * 100:+.2f} pt"
    lo, hi = _num(f, "low"), _num(f, "high")
    if interval and lo is not None and hi is not None:
        text += f" (95% interval {lo * 100:+.2f} to {hi * 100:+.2f})"
    return text


def significant(f: Figure | None) -> bool:
    """Whether the interval of an effect excludes zero."""
    lo, hi = _num(f, "low"), _num(f, "high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def lead_event(results: Mapping[str, Any]) -> str | None:
    """The event the headline is about: the goal, else the first the journey changes, else the first."""
    effect = results.get("effect") or {}
    if not effect:
        return None
    goal = results.get("goal")
    if goal in effect:
        return str(goal)
    for name, f in effect.items():
        if _num(f.get("incremental")) not in (None, 0.0):
            return str(name)
    return str(next(iter(effect)))


def headline(results: Mapping[str, Any]) -> str:
    """One sentence leading with what the journey causes (or, for an older run, what it reached)."""
    lead, detail = headline_parts(results)
    return f"{lead} {detail}".strip()


def headline_parts(results: Mapping[str, Any], *, prefix: bool = True) -> tuple[str, str]:
    """The headline as (what the journey causes, the shares with and without it); `prefix` starts the first
    with 'Caused by the journey:' (leave it out under a heading that says so)."""
    text = _headline(results)
    lead, _, detail = text.partition(". ")
    lead += "." if detail else ""
    if not prefix:
        lead = lead.removeprefix("Caused by the journey: ")
        lead = lead[:1].upper() + lead[1:]
    return lead, detail


def _headline(results: Mapping[str, Any]) -> str:
    name = lead_event(results)
    if name is None:
        conv = results.get("conversion") or {}
        if _num(conv) is None:
            return "Nobody entered the journey."
        return (f"Goal reached by {share(conv)} of the contacts who entered (this run was saved before runs "
                "measured the journey's own effect: part of it may have happened anyway).")
    f = results["effect"][name]
    inc, with_, without = f.get("incremental"), f.get("with_journey"), f.get("without_journey")
    if _num(with_) is None:
        return "Nobody entered the journey."
    what = event_label(name) + (" (the goal)" if name == results.get("goal") else "")
    mean, lo, hi = _num(inc), _num(inc, "low"), _num(inc, "high")
    interval = f", 95% interval {lo * 100:+.2f} to {hi * 100:+.2f}" if lo is not None and hi is not None else ""
    verb = "adds" if (mean or 0.0) >= 0 else "takes"
    lead = f"Caused by the journey: it {verb} {abs(mean or 0.0) * 100:.2f} points of {what}{interval}."
    if not significant(inc):
        lead = f"Caused by the journey: no effect shown on {what} (the 95% interval includes zero{interval[1:]})."
    raw = results.get("goal_window_days")
    days = float(raw) if isinstance(raw, (int, float)) and math.isfinite(raw) else None
    within = f" within {days:g} days of entering" if days is not None else ""
    return (f"{lead} {share(with_)} of the contacts who entered do it{within} with the journey, {share(without)} "
            "would without it.")


def effect_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """Per event: (label, incremental with interval, with, without, changed by the journey)."""
    rows = []
    goal = results.get("goal")
    for name, f in (results.get("effect") or {}).items():
        label = event_label(name) + (" (goal)" if name == goal else "")
        inc = f.get("incremental")
        changed = _num(inc) not in (None, 0.0) or not (_num(inc, "low") == 0.0 and _num(inc, "high") == 0.0)
        rows.append((label, points(inc), share(f.get("with_journey")), share(f.get("without_journey")),
                     bool(changed)))
    return rows


def effect_lines(results: Mapping[str, Any]) -> list[str]:
    """The effect as aligned lines for a terminal: the events the journey changes, then the others in one line."""
    rows = effect_rows(results)
    if not rows:
        return []
    changed = [r for r in rows if r[4]]
    same = [r[0] for r in rows if not r[4]]
    head = ("event", "caused by the journey (95% interval)", "with", "without")
    body = [r[:4] for r in changed]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(4)]
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
             for line in (head, *body)]
    if same:
        lines.append(f"  the journey does not change: {', '.join(same)}")
    return lines


def figure_rows(results: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(channel, figure, {stated, average_contact, realised}) for every channel figure the run realised."""
    rows = []
    for channel, figs in (results.get("behaviour_figures") or {}).items():
        if channel.startswith("step:"):
            continue
        rows += [(channel, name, f) for name, f in figs.items() if f.get("realised")]
    return rows


def figure_lines(results: Mapping[str, Any]) -> list[str]:
    """Stated against realised behaviour figures, one line per channel (delivery left out: it has no spread)."""
    parts: dict[str, list[str]] = {}
    for channel, name, f in figure_rows(results):
        if name != "delivery":
            parts.setdefault(channel, []).append(f"{FIGURE_LABELS.get(name, name)} {f['stated']:.2%} stated, "
                                                 f"{share(f['realised'])} realised")
    return [f"  {channel}: " + "; ".join(p) for channel, p in parts.items()]


__all__ = ["EVENT_LABELS", "effect_lines", "effect_rows", "event_label", "figure_lines", "figure_rows", "headline",
           "headline_parts", "lead_event", "points", "share", "significant"]
