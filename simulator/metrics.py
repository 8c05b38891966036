"""Named metrics over one trace (Mesa's reporters, in columnar form). No counter lives in the engine.

- `funnel(trace)`: per step (the virtual 'end' last): contacts entered, each outcome (sent, suppressed, capped,
  yes, no, paths, done, holdout, exited, goal, stopped, waiting, completed), and per message step the messages
  delivered, opened, clicked, unsubscribed from and converted (events before the horizon).
- `time_series(trace)`: per simulated day from the journey start (UTC days of 24 h): contacts entering,
  messages sent / delivered / opened / clicked, goals reached, exits, and contacts in the journey at the end of
  the day.
- `waiting_at(trace, t)`: contacts at each step at UTC time t (entered at or before t, not yet left);
  `Occupancy(trace).at(t)` gives the same for many moments quickly.
- `conversion(trace)`: the share of contacts entering (per iteration) that reach the goal.

`figures(trace)` gathers them all under flat names ('funnel.sent', 'series.opened', 'conversion') for
replicas; `METRICS` lists them by name.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from simulator import outcomes as oc
from simulator.trace import MESSAGE_EVENTS, Trace

DAY = 86_400
FUNNEL_OUTCOMES: dict[str, tuple[int, ...]] = {
    "sent": (oc.SENT,), "suppressed": (oc.SUPPRESSED,), "capped": (oc.CAPPED,), "yes": (oc.YES,), "no": (oc.NO,),
    "done": (oc.DONE,), "shared": (oc.SHARED,), "holdout": (oc.HOLDOUT,), "exited": (oc.EXITED, oc.GOAL),
    "goal": (oc.GOAL,), "stopped": (oc.STOPPED,), "waiting": (oc.WAITING,), "completed": (oc.COMPLETED,)}
FUNNEL_OUTCOMES.update({f"path_{c}": (oc.path(i),) for i, c in enumerate("ABCDEFGHIJ")})
SERIES = ("entered", "sent", "delivered", "opened", "clicked", "goals", "exited", "in_journey")


def funnel(trace: Trace) -> dict[str, np.ndarray]:
    """Per-step counts (int64 arrays, one entry per step, 'end' last)."""
    n = len(trace.steps)
    by = np.zeros((n, oc.N_CODES), dtype=np.int64)
    outcome = trace.visits["outcome"]
    for step, _, lo, hi in trace.blocks["visits"].tolist():  # a few runs of one step each: no per-row key
        by[step] += np.bincount(outcome[lo:hi], minlength=oc.N_CODES)
    out: dict[str, np.ndarray] = {"entered": by.sum(axis=1)}
    for name, codes in FUNNEL_OUTCOMES.items():
        out[name] = by[:, list(codes)].sum(axis=1)
    m = trace.messages
    for name in MESSAGE_EVENTS:
        counts = np.zeros(n, dtype=np.int64)
        col = m[name]
        for step, _, lo, hi in trace.blocks["messages"].tolist():
            counts[step] += np.count_nonzero(col[lo:hi] >= 0)
        out[name] = counts
    return out


def _per_day(rel: np.ndarray, days: int) -> np.ndarray:
    """Counts per day of relative times; -1 (did not happen) falls in a bucket before day 0, dropped."""
    d = rel + DAY
    d //= DAY
    return np.bincount(d, minlength=days + 2)[1:days + 1].astype(np.int64)


def time_series(trace: Trace) -> dict[str, np.ndarray]:
    """Per simulated day (int64 arrays of length `trace.days`)."""
    days = trace.days
    m, u = trace.messages, trace.units
    out = {"entered": _per_day(u["entered"], days), "sent": _per_day(m["sent"], days)}
    for name in ("delivered", "opened", "clicked"):
        out[name] = _per_day(m[name], days)
    out["goals"] = _per_day(u["goal"], days)
    o = u["outcome"]
    out["exited"] = _per_day(np.where((o == oc.EXITED) | (o == oc.GOAL), u["left"], -1), days)
    left = _per_day(np.where(o == oc.WAITING, -1, u["left"]), days)
    # in the journey at the end of a day: entered so far minus left so far (leaving at the horizon is not
    # leaving: the horizon ends the last day)
    out["in_journey"] = np.cumsum(out["entered"]) - np.cumsum(left)
    return out


def waiting_at(trace: Trace, t: int) -> np.ndarray:
    """Contacts at each step at UTC time `t` (for the replay view)."""
    rel = t - trace.t0
    v = trace.visits
    here = (v["t_enter"] <= rel) & (v["t_leave"] > rel)
    return np.bincount(v["step"][here].astype(np.intp), minlength=len(trace.steps)).astype(np.int64)


class Occupancy:
    """`waiting_at` for many moments (the replay view's scrubbing): sorted times per step, then two binary
    searches per step and moment instead of a pass over the trace."""

    def __init__(self, trace: Trace) -> None:
        self.t0 = trace.t0
        v = trace.visits
        order = np.argsort(v["step"], kind="stable")
        step = v["step"][order]
        bounds = np.searchsorted(step, np.arange(len(trace.steps) + 1))
        enter, leave = v["t_enter"][order], v["t_leave"][order]
        self._enter = [np.sort(enter[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        self._leave = [np.sort(leave[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def at(self, t: int) -> np.ndarray:
        """Contacts at each step at UTC time `t` (equal to `waiting_at(trace, t)`)."""
        rel = t - self.t0
        return np.array([np.searchsorted(e, rel, side="right") - np.searchsorted(lv, rel, side="right")
                         for e, lv in zip(self._enter, self._leave)], dtype=np.int64)


def conversion(trace: Trace) -> float:
    """Goals reached per contact entering (per iteration); NaN when nobody entered."""
    n = len(trace.units["goal"])
    return float((trace.units["goal"] >= 0).sum() / n) if n else float("nan")


def figures(trace: Trace) -> dict[str, np.ndarray]:
    """Every figure of a trace under a flat name, as float64 arrays (scalars as 0-d arrays)."""
    out = {f"funnel.{k}": a.astype(np.float64) for k, a in funnel(trace).items()}
    out.update({f"series.{k}": a.astype(np.float64) for k, a in time_series(trace).items()})
    out["conversion"] = np.array(conversion(trace))
    return out


METRICS: dict[str, Callable[..., object]] = {"funnel": funnel, "time_series": time_series,
                                             "waiting_at": waiting_at, "conversion": conversion,
                                             "figures": figures}
