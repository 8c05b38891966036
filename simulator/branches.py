"""What contacts did after each branch of a run: the figures of the branch split and A/B comparison views.

- `branch_figures(trace, plan, results)`: one `Branch` per if/then, random split and A/B split, in path order.
  Per port (yes / no, the split's paths, and the holdout when the split has one): the contacts taking it (mean
  and 95 % interval over replicas from the results' funnel when there are 2 or more replicas, else replica 0's
  count) and, from replica 0's trace, what they did afterwards in that iteration: the first message sent to
  them after the branch (sent, delivered, opened, clicked), the goal reached, an exit condition met.
- `ab_figures(trace, plan, results)`: one `ABTest` per A/B split. Per version (path): its contacts, the open
  and click rates of the first message sent on that path (per message delivered) and the goal conversion (per
  contact taking the path); each version against version A: the difference in proportions, its 95 % interval
  (Wald, unpooled) and a two-sided p-value (two-proportion z-test, pooled). Tests are over replica 0's contacts.
  With a holdout, each version's lift: its goal conversion against the held-out contacts' (who left the journey
  at the split: what a version causes beyond not being in the journey at all from there). With a test period,
  `decision` says when and why the winner was chosen, or why none was (the results' `ab_tests`).

"Afterwards" needs no clock: steps are numbered in topological order and a contact walks one chain of them per
iteration, so the messages after a branch at step b are that contact's message rows at steps above b, and the
first of them is the one at the lowest step. The goal counts when it happens at or after the branch.
Everything is joined by (contact, iteration) with sorting and binary search, not a loop per contact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from app.model.registry import TILE_TYPES
from app.semantics import outcomes as oc
from app.semantics.plan import Kind, Plan, StepPlan
from simulator.trace import Trace

BRANCH_TYPES = tuple(t.id for t in TILE_TYPES if t.branch_figures)  # the registry says which tiles have them
AB_TEST_TYPES = tuple(t.id for t in TILE_TYPES if t.branch_figures == "ab-test")
Z975 = 1.959963984540054  # the 97.5 % quantile of the standard normal
AB_NOTE = "A/B tests are over replica 0's contacts (two-proportion z-test, 95 % interval of the difference)"
AB_METRICS: dict[str, str] = {"open_rate": "Open rate", "click_rate": "Click rate", "conversion": "Goal conversion"}


@dataclass(frozen=True)
class Figure:
    """A count over replicas: mean and 95 % interval (all three equal with one replica)."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PathOutcome:
    """One port of a branch: who took it and what they did afterwards (replica 0's trace for the outcomes)."""

    port: str        # 'yes', 'no', 'A', 'B'... or 'holdout'
    label: str       # 'Yes', 'A (50 %)', 'Holdout (10 %)'
    leads_to: str    # the name of the step the port leads to ('end', or '' for the holdout)
    contacts: Figure
    taken: int       # replica 0's contacts taking the port (per iteration)
    messaged: int    # were sent a message after the branch
    delivered: int   # ... and that first message was delivered
    opened: int
    clicked: int
    goal: int        # reached the goal at or after the branch
    exited: int      # left on an exit condition (the goal's included when it is one)

    def share(self, count: int) -> float:
        """`count` as a fraction of the contacts taking the port (NaN when nobody did)."""
        return count / self.taken if self.taken else float("nan")


@dataclass(frozen=True)
class Branch:
    """An if/then or split step and its ports."""

    step: str
    name: str
    type: str
    index: int
    replicas: int
    paths: tuple[PathOutcome, ...]


@dataclass(frozen=True)
class Rate:
    """A proportion: successes out of trials, with its 95 % Wilson score interval."""

    successes: int
    trials: int

    @property
    def value(self) -> float:
        """successes / trials (NaN with no trials)."""
        return self.successes / self.trials if self.trials else float("nan")

    def interval(self) -> tuple[float, float]:
        """The 95 % Wilson score interval (NaN with no trials)."""
        n = self.trials
        if not n:
            return float("nan"), float("nan")
        p, z2 = self.successes / n, Z975 * Z975
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z975 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Version:
    """One path of an A/B split."""

    port: str
    label: str
    message: str       # the step name of the first message sent on the path ('' when none was sent)
    contacts: Figure
    taken: int
    open_rate: Rate    # opened / delivered, first message after the split
    click_rate: Rate   # clicked / delivered, first message after the split
    conversion: Rate   # goal reached at or after the split / contacts taking the path

    def rate(self, metric: str) -> Rate:
        """The Rate named by an AB_METRICS key."""
        return getattr(self, metric)


@dataclass(frozen=True)
class Difference:
    """A version against the baseline on one metric: difference in proportions (version minus baseline)."""

    metric: str
    version: str
    baseline: str
    difference: float
    low: float
    high: float
    z: float
    p_value: float


@dataclass(frozen=True)
class ABTest:
    """An A/B split: its versions and each version's differences against the first one."""

    step: str
    name: str
    index: int
    replicas: int
    versions: tuple[Version, ...]
    differences: tuple[Difference, ...]
    note: str = AB_NOTE
    holdout: Rate | None = None  # the held-out contacts' goal conversion (they left the journey at the split)
    lifts: tuple[Difference, ...] = ()  # each version's goal conversion against the holdout's: its own effect
    decision: str = ""  # with a test period: when and why the winner was chosen, or why none was (winner_text)


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float, float, float]:
    """Second minus first proportion: (difference, 95 % low, high, z, two-sided p); NaNs when a side is empty.

    The interval is Wald's (unpooled standard error); the test pools the two samples. When both samples are all
    successes or all failures there is no evidence of a difference: z 0, p 1.
    """
    if n1 <= 0 or n2 <= 0:
        nan = float("nan")
        return nan, nan, nan, nan, nan
    p1, p2 = x1 / n1, x2 / n2
    d = p2 - p1
    half = Z975 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se0 == 0:
        return d, d - half, d + half, 0.0, 1.0
    z = d / se0
    return d, d - half, d + half, z, math.erfc(abs(z) / math.sqrt(2))


# --- joins over the trace ----------------------------------------------------------------------------------

def _keys(contact: np.ndarray, iteration: np.ndarray) -> np.ndarray:
    """One int64 per (contact, iteration)."""
    return (contact.astype(np.int64) << 16) | iteration.astype(np.int64)


@dataclass
class _After:
    """Per row of one branch step's visits that took a port: the port and what followed."""

    port: np.ndarray       # index into the branch's port codes
    msg_step: np.ndarray   # step of the first message after the branch, -1 when none
    delivered: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray
    goal: np.ndarray
    exited: np.ndarray


class _Joins:
    """Replica 0's units and messages sorted once, for lookups by (contact, iteration)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        u = trace.units
        ukey = _keys(u["contact"], u["iteration"])
        order = np.argsort(ukey, kind="stable")
        self.ukey = ukey[order]
        self.goal = u["goal"][order]
        uo = u["outcome"][order]
        self.exited = (uo == oc.EXITED) | (uo == oc.GOAL)
        m = trace.messages
        mkey = _keys(m["contact"], m["iteration"])
        order = np.lexsort((m["step"], mkey))  # by (contact, iteration), then step
        mkey = mkey[order]
        new = np.empty(len(mkey), dtype=bool)
        new[:1] = True
        np.not_equal(mkey[1:], mkey[:-1], out=new[1:])
        rank = np.cumsum(new) - 1  # dense rank of (contact, iteration) among the message rows
        self.mkeys = mkey[new]
        self.mstep = m["step"][order].astype(np.int64)
        self.mpos = (rank << 16) | self.mstep  # sorted: (rank, step)
        self.mrank = rank
        self.mevents = {e: m[e][order] >= 0 for e in ("delivered", "opened", "clicked")}

    def rows(self, step: int) -> np.ndarray:
        """Indices of the visits rows at `step` (read through the trace's blocks)."""
        blocks = self.trace.blocks.get("visits")
        if blocks is None or not len(blocks):
            return np.flatnonzero(self.trace.visits["step"] == step)
        runs = blocks[blocks[:, 0] == step]
        if not len(runs):
            return np.empty(0, dtype=np.int64)
        return np.concatenate([np.arange(lo, hi) for lo, hi in runs[:, 2:4].tolist()])

    def after(self, step: int, codes: tuple[int, ...]) -> _After:
        """What the contacts that left `step` by one of `codes` did afterwards in their iteration."""
        v = self.trace.visits
        idx = self.rows(step)
        outcome = v["outcome"][idx]
        lookup = np.full(oc.N_CODES, -1, dtype=np.int64)
        lookup[list(codes)] = np.arange(len(codes))
        port = lookup[outcome]
        took = port >= 0
        idx, port = idx[took], port[took]
        key = _keys(v["contact"][idx], v["iteration"][idx])
        t = v["t_leave"][idx]
        # the unit row: always there (each visit belongs to a unit of its contact and iteration)
        u = np.searchsorted(self.ukey, key)
        goal = self.goal[u]
        goal_after = (goal >= 0) & (goal >= t)
        # the first message at a step above `step` for the same (contact, iteration)
        r = np.searchsorted(self.mkeys, key)
        r_ok = r < len(self.mkeys)
        r_ok[r_ok] = self.mkeys[r[r_ok]] == key[r_ok]
        i = np.searchsorted(self.mpos, (r << 16) | (step + 1))
        hit = r_ok & (i < len(self.mpos))
        hit[hit] = self.mrank[i[hit]] == r[hit]
        j = i[hit]
        msg_step = np.full(len(idx), -1, dtype=np.int64)
        msg_step[hit] = self.mstep[j]
        events = {}
        for e, col in self.mevents.items():
            a = np.zeros(len(idx), dtype=bool)
            a[hit] = col[j]
            events[e] = a
        return _After(port, msg_step, events["delivered"], events["opened"], events["clicked"], goal_after,
                      self.exited[u])


# --- figures ------------------------------------------------------------------------------------------------

def _ports(step: StepPlan) -> list[tuple[str, int, float]]:
    """(port, outcome code, share) of a branching step; the holdout last when the split has one."""
    if step.kind != Kind.SPLIT:
        return [("yes", oc.YES, float("nan")), ("no", oc.NO, float("nan"))]
    out, prev = [], 0.0
    for i, (port, th) in enumerate(zip(step.ports, step.thresholds)):
        out.append((port, oc.path(i), th - prev))
        prev = th
    if prev < 1.0:
        out.append(("holdout", oc.HOLDOUT, 1.0 - prev))
    return out


def _metric(port: str) -> str:
    """The funnel metric counting a port's contacts."""
    return port if port in ("yes", "no", "holdout") else f"path_{port}"


def _label(port: str, share: float) -> str:
    name = port.capitalize() if port in ("yes", "no", "holdout") else port
    return name if math.isnan(share) else f"{name} ({share * 100:.3g} %)"


def _funnel_row(results: Mapping[str, Any] | None, step_id: str) -> Mapping[str, Any] | None:
    if not results:
        return None
    return next((r for r in results.get("funnel", ()) if r.get("step") == step_id), None)


def _contacts(results: Mapping[str, Any] | None, row: Mapping[str, Any] | None, port: str, taken: int) -> Figure:
    """The port's contacts over replicas from the results (2+ replicas), else replica 0's count."""
    est = row.get(_metric(port)) if row else None
    if results and int(results.get("replicas", 1)) >= 2 and isinstance(est, Mapping) and est.get("mean") is not None:
        mean = float(est["mean"])
        low = float(est["low"]) if est.get("low") is not None else mean
        high = float(est["high"]) if est.get("high") is not None else mean
        return Figure(mean, low, high)
    return Figure(float(taken), float(taken), float(taken))


def _count(mask: np.ndarray, port: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(port[mask], minlength=n)[:n]


def _branch_steps(plan: Plan, types: tuple[str, ...]) -> list[StepPlan]:
    return [s for s in plan.steps if s.type in types and s.kind in (Kind.IF_EVENT, Kind.IF_CONDITION,
                                                                      Kind.IF_SEGMENT, Kind.SPLIT)]


def branch_figures(trace: Trace, plan: Plan, results: Mapping[str, Any] | None = None) -> list[Branch]:
    """One Branch per if/then, random split and A/B split of `plan`, in path order (see the module docstring)."""
    joins = _Joins(trace)
    replicas = int(results.get("replicas", 1)) if results else 1
    names = [s.name for s in plan.steps] + ["end"]
    out = []
    for step in _branch_steps(plan, BRANCH_TYPES):
        ports = _ports(step)
        a = joins.after(step.index, tuple(code for _, code, _ in ports))
        n = len(ports)
        taken = np.bincount(a.port, minlength=n)[:n]
        counts = {k: _count(getattr(a, k), a.port, n)
                  for k in ("delivered", "opened", "clicked", "goal", "exited")}
        messaged = _count(a.msg_step >= 0, a.port, n)
        row = _funnel_row(results, step.id)
        paths = []
        for i, (port, _, share) in enumerate(ports):
            leads = "" if port == "holdout" else names[step.next[i]]
            paths.append(PathOutcome(port, _label(port, share), leads, _contacts(results, row, port, int(taken[i])),
                                     int(taken[i]), int(messaged[i]), int(counts["delivered"][i]),
                                     int(counts["opened"][i]), int(counts["clicked"][i]), int(counts["goal"][i]),
                                     int(counts["exited"][i])))
        out.append(Branch(step.id, step.name, step.type, step.index, replicas, tuple(paths)))
    return out


def ab_figures(trace: Trace, plan: Plan, results: Mapping[str, Any] | None = None) -> list[ABTest]:
    """One ABTest per A/B split of `plan`, in path order (see the module docstring)."""
    joins = _Joins(trace)
    replicas = int(results.get("replicas", 1)) if results else 1
    names = [s.name for s in plan.steps] + ["end"]
    out = []
    for step in _branch_steps(plan, AB_TEST_TYPES):
        ports = [p for p in _ports(step) if p[0] != "holdout"]
        a = joins.after(step.index, tuple(code for _, code, _ in ports))
        n = len(ports)
        taken = np.bincount(a.port, minlength=n)[:n]
        delivered = _count(a.delivered, a.port, n)
        opened = _count(a.opened, a.port, n)
        clicked = _count(a.clicked, a.port, n)
        goal = _count(a.goal, a.port, n)
        row = _funnel_row(results, step.id)
        versions = []
        for i, (port, _, share) in enumerate(ports):
            steps_sent = a.msg_step[(a.port == i) & (a.msg_step >= 0)]
            message = names[int(np.bincount(steps_sent).argmax())] if len(steps_sent) else ""
            versions.append(Version(port, _label(port, share), message,
                                    _contacts(results, row, port, int(taken[i])), int(taken[i]),
                                    Rate(int(opened[i]), int(delivered[i])), Rate(int(clicked[i]), int(delivered[i])),
                                    Rate(int(goal[i]), int(taken[i]))))
        diffs = []
        base = versions[0] if versions else None
        for v in versions[1:]:
            assert base is not None
            for metric in AB_METRICS:
                r0, r1 = base.rate(metric), v.rate(metric)
                d, lo, hi, z, p = two_proportions(r0.successes, r0.trials, r1.successes, r1.trials)
                diffs.append(Difference(metric, v.port, base.port, d, lo, hi, z, p))
        holdout, lifts = _holdout_lifts(joins, step, versions)
        entry = next((e for e in (results or {}).get("ab_tests") or () if e.get("step") == step.id), None)
        out.append(ABTest(step.id, step.name, step.index, replicas, tuple(versions), tuple(diffs), AB_NOTE,
                          holdout, lifts, winner_text(entry) if entry else ""))
    return out


def winner_text(entry: Mapping[str, Any]) -> str:
    """An A/B test's decision in words, from a run's `ab_tests` entry: replica 0's (when, the counts, the p-value,
    why) and, over several replicas, how often each path won."""
    replicas = entry.get("replicas") or []
    if not replicas:
        return ""
    first = replicas[0]
    when = str(first.get("decided_at") or "").replace("T", " ").replace(":00Z", " UTC")
    counts = ", ".join(f"{p['path']} {p['did'] / p['contacts']:.1%} ({p['did']:,} of {p['contacts']:,})"
                       if p["contacts"] else f"{p['path']} no contacts" for p in first.get("paths") or ())
    text = (f"Decided {when} by '{first.get('metric')}', over the contacts of the test period: {counts}. "
            f"{str(first.get('reason') or '')[:1].upper()}{str(first.get('reason') or '')[1:]}.")
    if len(replicas) > 1:
        wins = ", ".join(f"{path} in {n}" for path, n in (entry.get("wins") or {}).items() if n)
        text += (f" Over {len(replicas)} replicas: won by {wins or 'no path'}; no winner in "
                 f"{entry.get('no_winner', 0)}.")
    return text


def _holdout_lifts(joins: _Joins, step: StepPlan, versions: list[Version]) -> tuple[Rate | None,
                                                                                     tuple[Difference, ...]]:
    """The holdout's goal conversion, and each version's lift over it (goal conversion, version minus holdout)."""
    if not any(port == "holdout" for port, _, _ in _ports(step)):
        return None, ()
    held = joins.after(step.index, (oc.HOLDOUT,))
    rate = Rate(int(np.count_nonzero(held.goal)), len(held.port))
    lifts = []
    for v in versions:
        d, lo, hi, z, p = two_proportions(rate.successes, rate.trials, v.conversion.successes, v.conversion.trials)
        lifts.append(Difference("conversion", v.port, "holdout", d, lo, hi, z, p))
    return rate, tuple(lifts)
