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
- `step_series(trace)`: per step and simulated day, cumulative counts at the end of the day (entered, each
  outcome, message events): the replay view's figures with intervals.

- `effect_counts(trace)`: the paired twin: per effect event, contacts who had it with the journey and without.
- `channel_counts(trace)`: per channel, messages sent and their events (what the behaviour figures realised).

`figures(trace)` gathers them all under flat names ('funnel.sent', 'series.opened', 'steps.opened',
'conversion') for replicas; `METRICS` lists them by name.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from app.semantics import outcomes as oc
from simulator.trace import MESSAGE_EVENTS, Trace

DAY = 86_400
FUNNEL_OUTCOMES: dict[str, tuple[int, ...]] = {
    "sent": (oc.SENT,), "suppressed": (oc.SUPPRESSED,), "capped": (oc.CAPPED,), "yes": (oc.YES,), "no": (oc.NO,),
    "done": (oc.DONE,), "shared": (oc.SHARED,), "holdout": (oc.HOLDOUT,), "exited": (oc.EXITED, oc.GOAL),
    "goal": (oc.GOAL,), "stopped": (oc.STOPPED,), "waiting": (oc.WAITING,), "completed": (oc.COMPLETED,)}
FUNNEL_OUTCOMES.update({f"path_{c}": (oc.path(i),) for i, c in enumerate("ABCDEFGHIJ")})
SERIES = ("entered", "sent", "delivered", "opened", "clicked", "goals", "exited", "in_journey")
# outcomes counted per step and day when they leave: the funnel's, less 'waiting' (only the horizon tells it),
# plus 'passed' (a wait or an exit tile let the contact through)
STEP_OUTCOMES: dict[str, tuple[int, ...]] = {"passed": (oc.PASSED,), **{
    k: v for k, v in FUNNEL_OUTCOMES.items() if k != "waiting"}}


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


def step_series(trace: Trace) -> dict[str, np.ndarray]:
    """Per step ('end' last) and simulated day: cumulative counts at the end of the day (int64, steps x days).

    'entered' by entry time; each outcome of `STEP_OUTCOMES` by leaving time; per message step each message
    event by its time. Only outcomes and events that happen at all in the trace are given (replicas fill in the
    others with zeros). A leaving at the horizon itself (a stop at the schedule end) counts in the last day, so
    the last column equals the funnel.
    """
    n, days = len(trace.steps), trace.days
    w = days + 1  # one more bucket: the horizon itself, folded into the last day below
    v, m = trace.visits, trace.messages
    codes = np.bincount(v["outcome"], minlength=oc.N_CODES)
    present = {name: [c for c in cs if codes[c]] for name, cs in STEP_OUTCOMES.items()}
    used = sorted({c for cs in present.values() for c in cs})
    entered = np.zeros((n, w), dtype=np.int64)
    left = np.zeros((n, len(used), w), dtype=np.int64)
    # blocks are runs of rows of one step: per block, one bincount of (outcome, day) and one of the entry day
    for step, _, lo, hi in trace.blocks["visits"].tolist():
        entered[step] += np.bincount(v["t_enter"][lo:hi] // DAY, minlength=w)[:w]
        key = v["outcome"][lo:hi].astype(np.intp)
        key *= w
        key += v["t_leave"][lo:hi] // DAY
        left[step] += np.bincount(key, minlength=oc.N_CODES * w).reshape(oc.N_CODES, w)[used]
    out = {"entered": _cumulative(entered)}
    row = {c: i for i, c in enumerate(used)}
    for name, cs in present.items():
        if cs:
            out[name] = _cumulative(left[:, row[cs[0]]] if len(cs) == 1 else left[:, [row[c] for c in cs]].sum(1))
    blocks = trace.blocks["messages"].tolist()
    for name in MESSAGE_EVENTS:
        col = m[name]
        if not blocks or not (col >= 0).any():
            continue
        counts = np.zeros((n, w), dtype=np.int64)
        for step, _, lo, hi in blocks:
            d = col[lo:hi] + DAY  # -1 (did not happen) falls in a bucket before day 0, dropped
            d //= DAY
            counts[step] += np.bincount(d, minlength=w + 1)[1:w + 1]
        out[name] = _cumulative(counts)
    return out


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """Per-day counts (rows x days + 1, the last bucket the horizon itself) as cumulative counts per day."""
    c = counts[:, :-1].copy()
    c[:, -1] += counts[:, -1]
    return np.cumsum(c, axis=1)


def conversion(trace: Trace) -> float:
    """Goals reached per contact entering (per iteration); NaN when nobody entered."""
    n = len(trace.units["goal"])
    return float((trace.units["goal"] >= 0).sum() / n) if n else float("nan")


def effect_counts(trace: Trace) -> dict[str, np.ndarray]:
    """The paired twin: per effect event (`trace.meta["effect_events"]`), how many contacts entering (per
    iteration) had it from entry until the cutoff with the journey, without it, and in one run but not the
    other; 'n' is the number of contacts entering."""
    names = list(trace.meta.get("effect_events", []))
    u = trace.units
    w, wo = u["effect_with"], u["effect_without"]
    out = {"n": np.array(float(len(w)))}
    with_n, without_n, differ = np.zeros(len(names)), np.zeros(len(names)), np.zeros(len(names))
    for j in range(len(names)):
        bit = np.int32(1 << j)
        a, b = (w & bit) != 0, (wo & bit) != 0
        with_n[j], without_n[j], differ[j] = np.count_nonzero(a), np.count_nonzero(b), np.count_nonzero(a != b)
    out.update({"with": with_n, "without": without_n, "differ": differ})
    return out


CHANNEL_EVENTS = ("sent", "delivered", "opened", "clicked", "unsubscribed", "converted")


def channel_counts(trace: Trace) -> dict[str, np.ndarray]:
    """Per channel ('email', 'sms', 'push'): messages sent and their events, over every message step."""
    from app.model.registry import REGISTRY
    m = trace.messages
    out: dict[str, np.ndarray] = {}
    for step, _, lo, hi in trace.blocks["messages"].tolist():
        tile = REGISTRY.get(trace.step_types[step])
        channel = tile.channel if tile is not None and tile.channel else trace.step_types[step]
        for name in CHANNEL_EVENTS:
            key = f"{channel}.{name}"
            count = (hi - lo) if name == "sent" else int(np.count_nonzero(m[name][lo:hi] >= 0))
            out[key] = out.get(key, np.array(0.0)) + count
    return out


def figures(trace: Trace) -> dict[str, np.ndarray]:
    """Every figure of a trace under a flat name, as float64 arrays (scalars as 0-d arrays)."""
    out = {f"funnel.{k}": a.astype(np.float64) for k, a in funnel(trace).items()}
    out.update({f"effect.{k}": a for k, a in effect_counts(trace).items()})
    out.update({f"channels.{k}": a for k, a in channel_counts(trace).items()})
    out.update({f"series.{k}": a.astype(np.float64) for k, a in time_series(trace).items()})
    out.update({f"steps.{k}": a.astype(np.float64) for k, a in step_series(trace).items()})
    out["conversion"] = np.array(conversion(trace))
    return out


METRICS: dict[str, Callable[..., object]] = {"funnel": funnel, "time_series": time_series,
                                             "waiting_at": waiting_at, "conversion": conversion,
                                             "figures": figures, "step_series": step_series,
                                             "effect_counts": effect_counts, "channel_counts": channel_counts}
