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
'conversion') for replicas, read from one `Tally` of the trace (additive counts: the engine tallies each chunk's
rows on its thread and adds them up); `METRICS` lists them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """Every figure of a trace under a flat name, as float64 arrays (scalars as 0-d arrays): the same as each
    metric above gives, read from one `Tally` of the trace (the engine's, summed over its chunks, when it made
    one) instead of a pass over the columns per metric."""
    t = trace.tally if isinstance(trace.tally, Tally) else tally(trace)
    days = t.days
    left = t.left.sum(axis=2)  # (steps, outcomes)
    out = {"funnel.entered": left.sum(axis=1).astype(np.float64)}
    out.update({f"funnel.{k}": left[:, list(codes)].sum(axis=1).astype(np.float64)
                for k, codes in FUNNEL_OUTCOMES.items()})
    counted = t.events.sum(axis=2)  # (sent and each message event, steps)
    out.update({f"funnel.{k}": counted[1 + i].astype(np.float64) for i, k in enumerate(MESSAGE_EVENTS)})
    out.update({"effect.n": np.array(float(t.units)), "effect.with": t.effect[0].astype(np.float64),
                "effect.without": t.effect[1].astype(np.float64), "effect.differ": t.effect[2].astype(np.float64)})
    out.update({f"channels.{k}": a for k, a in _channels(trace, counted).items()})
    per_day = t.events[:, :, :days].sum(axis=1)  # (sent and each message event, days)
    series = {"entered": t.unit_days[0], "sent": per_day[0], **{k: per_day[1 + MESSAGE_EVENTS.index(k)]
                                                              for k in ("delivered", "opened", "clicked")},
              "goals": t.unit_days[1], "exited": t.unit_days[2],
              "in_journey": np.cumsum(t.unit_days[0]) - np.cumsum(t.unit_days[3])}
    out.update({f"series.{k}": a.astype(np.float64) for k, a in series.items()})
    codes = left.sum(axis=0)
    steps = {"entered": _cumulative(t.entered)}
    for name, cs in STEP_OUTCOMES.items():
        present = [c for c in cs if codes[c]]
        if present:
            steps[name] = _cumulative(t.left[:, present[0]] if len(present) == 1 else t.left[:, present].sum(1))
    for i, name in enumerate(MESSAGE_EVENTS):
        if counted[1 + i].any():
            steps[name] = _cumulative(t.events[1 + i])
    out.update({f"steps.{k}": a.astype(np.float64) for k, a in steps.items()})
    out["conversion"] = np.array(float(np.int64(t.goals) / t.units) if t.units else float("nan"))
    return out


def _channels(trace: Trace, counted: np.ndarray) -> dict[str, np.ndarray]:
    """`channel_counts` from a tally's message counts per step (channels in the order of the trace's blocks)."""
    from app.model.registry import REGISTRY
    out: dict[str, np.ndarray] = {}
    for step in dict.fromkeys(trace.blocks["messages"][:, 0].tolist()):
        tile = REGISTRY.get(trace.step_types[step])
        channel = tile.channel if tile is not None and tile.channel else trace.step_types[step]
        for name in CHANNEL_EVENTS:
            key = f"{channel}.{name}"
            count = int(counted[0 if name == "sent" else 1 + MESSAGE_EVENTS.index(name), step])
            out[key] = out.get(key, np.array(0.0)) + count
    return out


@dataclass
class Tally:
    """The counts of a trace that every figure is read from, additive: the tallies of the parts of a run's rows
    (the engine's chunks) add up to the tally of the whole. Days are UTC days from the trace's t0; `w` below is
    days + 1, the last bucket the horizon itself (see `step_series`)."""

    days: int
    left: np.ndarray  # (steps, outcome codes, w): visits by outcome and the day they left
    entered: np.ndarray  # (steps, w): visits by the day they entered
    events: np.ndarray  # (1 + message events, steps, w): messages by the day they were sent, then of each event
    unit_days: np.ndarray  # (4, days): contacts entering, reaching the goal, exiting, leaving (not waiting)
    effect: np.ndarray  # (3, effect events): contacts with each event with the journey, without, in one only
    units: int  # contacts entering (per iteration)
    goals: int  # ... who reached the goal

    def add(self, other: Tally) -> Tally:
        """This tally with `other`'s counts added (in place)."""
        for name in ("left", "entered", "events", "unit_days", "effect"):
            getattr(self, name).__iadd__(getattr(other, name))
        self.units += other.units
        self.goals += other.goals
        return self


def tally(trace: Trace) -> Tally:
    """The counts of `trace` (see `Tally`): one pass over each column."""
    n, days = len(trace.steps), trace.days
    w = days + 1
    v, m, u = trace.visits, trace.messages, trace.units
    left = np.zeros((n, oc.N_CODES, w), dtype=np.int64)
    entered = np.zeros((n, w), dtype=np.int64)
    for step, _, lo, hi in trace.blocks["visits"].tolist():
        entered[step] += np.bincount(v["t_enter"][lo:hi] // DAY, minlength=w)[:w]
        key = v["outcome"][lo:hi].astype(np.intp)
        key *= w
        key += v["t_leave"][lo:hi] // DAY
        left[step] += np.bincount(key, minlength=oc.N_CODES * w).reshape(oc.N_CODES, w)
    events = np.zeros((1 + len(MESSAGE_EVENTS), n, w), dtype=np.int64)
    for step, _, lo, hi in trace.blocks["messages"].tolist():
        for i, name in enumerate(("sent", *MESSAGE_EVENTS)):
            d = m[name][lo:hi] + DAY  # -1 (did not happen) falls in a bucket before day 0, dropped
            d //= DAY
            counts = np.bincount(d, minlength=w + 1)
            if len(counts) > w + 1:
                raise ValueError(f"a message's '{name}' time lies after the trace's last day")
            events[i, step] += counts[1:]
    o = u["outcome"]
    unit_days = np.stack([_per_day(u["entered"], days), _per_day(u["goal"], days),
                          _per_day(np.where((o == oc.EXITED) | (o == oc.GOAL), u["left"], -1), days),
                          _per_day(np.where(o == oc.WAITING, -1, u["left"]), days)])
    names = trace.meta.get("effect_events", [])
    effect = np.zeros((3, len(names)), dtype=np.int64)
    with_bits, without_bits = u["effect_with"], u["effect_without"]
    values = np.arange(1 << len(names)) if len(names) <= 12 else None
    combos = [np.bincount(bits, minlength=len(values))
              for bits in (with_bits, without_bits, with_bits ^ without_bits)] if values is not None else []
    if values is not None and all(len(c) == len(values) for c in combos):
        # few events: how many contacts hold each combination of bits, then each bit's count from those
        for row, c in enumerate(combos):
            for j in range(len(names)):
                effect[row, j] = c[(values >> j) & 1 == 1].sum()
    else:
        for j in range(len(names)):
            bit = np.int32(1 << j)
            a, b = (with_bits & bit) != 0, (without_bits & bit) != 0
            effect[:, j] = np.count_nonzero(a), np.count_nonzero(b), np.count_nonzero(a != b)
    return Tally(days, left, entered, events, unit_days, effect, len(u["goal"]),
                 int(np.count_nonzero(u["goal"] >= 0)))


METRICS: dict[str, Callable[..., object]] = {"funnel": funnel, "time_series": time_series,
                                             "waiting_at": waiting_at, "conversion": conversion,
                                             "figures": figures, "step_series": step_series,
                                             "effect_counts": effect_counts, "channel_counts": channel_counts}
