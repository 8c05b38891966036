"""A/B winners in the simulator: two passes, as the live runner decides (app/semantics/ab_test.py).

The engine runs chunks of contacts independently, but an A/B test's decision reads every contact who reached
the split in its test period. So, per A/B split with a test period (in the plan's order, so that an earlier
test's decision is in force when a later one is measured):

1. run the journey as it stands (the split's contacts drawn at random), and read from the trace, for the
   contacts who reached the split before its decision time, each path's count and the metric as of that time;
2. decide (`decide`), and put the decision in the plan (`with_route`): contacts reaching the split from the
   decision time on take the chosen path (the held out stay out);
3. run again with it. Every draw is keyed by the contact, the step and the seed (app/semantics/draws.py), and
   nothing before the decision time depends on it, so the test period's contacts do exactly what they did in
   the first pass (tests/test_ab_winner.py checks it); a pass is skipped when no contact reaches the split at
   or after the decision time (it would be the same run).

Each replica decides its own winner from its own contacts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from app.semantics.ab_test import Decision, decide, downstream
from app.semantics.outcomes import PATH_BASE
from app.semantics.plan import Kind, Plan, StepPlan, with_route
from simulator.trace import Trace

RunPass = Callable[[Plan, int, int], Trace]  # (plan, pass index, passes) -> the trace of that pass


def ab_steps(plan: Plan) -> list[StepPlan]:
    """The splits of the plan with an A/B test to decide, in the plan's order."""
    return [s for s in plan.steps if s.kind == Kind.SPLIT and s.ab is not None]


def measure(plan: Plan, trace: Trace, step: StepPlan) -> tuple[list[int], list[int]]:
    """Per path of A/B split `step`: the contacts who went down it before the decision time, and how many of
    them did the test's metric before that time (opened / clicked the first message sent to them after the
    split; reached the goal after the split)."""
    assert step.ab is not None
    paths = len(step.thresholds)
    decide_rel = step.ab.decide_at - trace.t0
    v = trace.visits
    at_split = np.flatnonzero((v["step"] == step.index) & (v["outcome"] >= PATH_BASE)
                              & (v["outcome"] < PATH_BASE + paths) & (v["t_enter"].astype(np.int64) < decide_rel))
    path = v["outcome"][at_split].astype(np.int64) - PATH_BASE
    t_split = v["t_enter"][at_split].astype(np.int64)
    iterations = len(plan.iterations)
    key = v["contact"][at_split].astype(np.int64) * iterations + v["iteration"][at_split]
    did = np.zeros(len(at_split), dtype=bool)
    if step.ab.metric == "goal":
        u = trace.units
        ukey = u["contact"].astype(np.int64) * iterations + u["iteration"]
        order = np.argsort(ukey, kind="stable")
        where = np.searchsorted(ukey[order], key)
        found = where < len(order)
        rows = order[np.minimum(where, len(order) - 1)]
        found &= ukey[rows] == key
        goal = u["goal"][rows].astype(np.int64)
        did = found & (goal >= 0) & (goal >= t_split) & (goal < decide_rel)
    else:
        m = trace.messages
        sel = np.flatnonzero(np.isin(m["step"], np.array(downstream(plan, step.index), dtype=np.int64)))
        mkey = m["contact"][sel].astype(np.int64) * iterations + m["iteration"][sel]
        # each contact's first message after the split: the earliest sent, then the first in the path's order
        order = np.lexsort((m["step"][sel], m["sent"][sel], mkey))
        mkey = mkey[order]
        first = np.ones(len(mkey), dtype=bool)
        first[1:] = mkey[1:] != mkey[:-1]
        rows, fkey = sel[order][first], mkey[first]
        when = np.full(len(key), -1, dtype=np.int64)
        if len(fkey):
            where = np.minimum(np.searchsorted(fkey, key), len(fkey) - 1)
            found = fkey[where] == key
            when[found] = m[step.ab.metric][rows[where[found]]]
        did = (when >= 0) & (when < decide_rel)
    n = np.bincount(path, minlength=paths)[:paths]
    x = np.bincount(path, weights=did, minlength=paths)[:paths]
    return [int(c) for c in n], [int(round(c)) for c in x]


def arrivals_after(trace: Trace, step: StepPlan) -> bool:
    """Whether any contact reached split `step` at or after its decision time (else a decision changes nothing)."""
    assert step.ab is not None
    v = trace.visits
    return bool(np.any((v["step"] == step.index) & (v["t_enter"].astype(np.int64) >= step.ab.decide_at - trace.t0)))


def decide_all(plan: Plan, run_pass: RunPass) -> tuple[Trace, Plan, list[Decision]]:
    """Run the journey, deciding each A/B test in turn (see the module's docstring); `run_pass(plan, i, passes)`
    runs one pass. Returns the final trace, the plan with every decision in it, and the decisions."""
    tests = ab_steps(plan)
    trace = run_pass(plan, 0, len(tests) + 1)
    decisions: list[Decision] = []
    for i, s in enumerate(tests):
        n, x = measure(plan, trace, s)
        d = decide(s.id, s.ab, n, x)  # type: ignore[arg-type]
        later = arrivals_after(trace, s)
        if not later:  # e.g. a one-time journey whose contacts all reach the split during the test
            d = replace(d, reason=f"{d.reason} (no contact reached the split after the test period)")
        decisions.append(d)
        if d.route >= 0:
            plan = with_route(plan, s.index, d.route)
            if later:
                trace = run_pass(plan, i + 1, len(tests) + 1)
    return trace, plan, decisions
