"""A/B winners in the live runner: who went down which path in the test period, the decision taken once, kept.

An A/B split with a test period (app/semantics/ab_test.py) is decided by the first unit that reaches it at or
after the decision time: its workflow asks the `ab_decide` local activity, which

- returns the decision kept in the runner's state (setting `ab_decision:JOURNEY:STEP`) when there is one, so
  every later unit, a restarted runner and a replayed workflow get the same winner;
- else counts, from the runner's own state: the contacts who went down each path before the decision time
  (`ab_arrivals`, written by each unit as it takes a path during the test, `ab_arrive`), and of them those who
  did the metric before it: opened / clicked the first message sent to them after the split (the sends in
  `sent_messages`, their events in the endpoint's outbox, or a rehearsal's script), or reached the goal after
  the split (a contact event in the outbox or the script); decides (`decide`, the simulator's rule) and keeps
  the decision, the first one written winning if two runners raced.

Live, an event the endpoint takes after the decision is not counted even if it happened before the decision
time (a late open pixel); a goal on joining a segment is seen by the units' polls, not by the endpoint, so it is
not counted here (choose an event goal, opens or clicks for a live A/B test).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.model.registry import PATH_NAMES
from app.runner.observed import read_observed
from app.semantics.ab_test import downstream
from app.semantics.plan import Kind, Plan, StepPlan
from app.semantics.timezones import utc_iso

ARRIVALS = ("CREATE TABLE IF NOT EXISTS ab_arrivals (journey TEXT NOT NULL, step_id TEXT NOT NULL, "
            "contact_id INTEGER NOT NULL, iteration INTEGER NOT NULL, path INTEGER NOT NULL, sim_at INTEGER NOT NULL, "
            "PRIMARY KEY (journey, step_id, contact_id, iteration))")
PREFIX = "ab_decision:"


def setting(journey: str, step_id: str) -> str:
    """The state's setting that keeps an A/B split's decision."""
    return f"{PREFIX}{journey}:{step_id}"


def ab_tests(plan: Plan) -> list[StepPlan]:
    """The plan's A/B splits with a test period."""
    return [s for s in plan.steps if s.kind == Kind.SPLIT and s.ab is not None]


def _connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute(ARRIVALS)
    return con


def record_arrivals(db: Path, journey: str, step_id: str, rows: Sequence[Sequence[int]]) -> None:
    """Keep [contact, iteration, path, simulated moment] rows of contacts taking a path in the test period (a
    retried activity writes the same rows: the first stands)."""
    con = _connect(db)
    try:
        con.executemany("INSERT OR IGNORE INTO ab_arrivals VALUES (?, ?, ?, ?, ?, ?)",
                        [(journey, step_id, int(c), int(k), int(p), int(at)) for c, k, p, at in rows])
    finally:
        con.close()


def arrivals(db: Path, journey: str, step_id: str, before: int) -> list[tuple[int, int, int, int]]:
    """(contact, iteration, path, moment) of the contacts who took a path of the split before `before`."""
    con = _connect(db)
    try:
        return [(int(c), int(k), int(p), int(at)) for c, k, p, at in con.execute(
            "SELECT contact_id, iteration, path, sim_at FROM ab_arrivals WHERE journey = ? AND step_id = ? AND "
            "sim_at < ? ORDER BY contact_id, iteration", (journey, step_id, before))]
    finally:
        con.close()


def counts(state_dir: Path, journey: str, plan: Plan, step: StepPlan,
           script: Mapping[int, Sequence[Mapping[str, Any]]] | None = None) -> tuple[list[int], list[int]]:
    """Per path: the contacts who went down it before the decision time and those of them who did the metric
    before then (see the module's docstring)."""
    assert step.ab is not None
    decide_at, metric = step.ab.decide_at, step.ab.metric
    paths = len(step.thresholds)
    n, x = [0] * paths, [0] * paths
    rows = arrivals(Path(state_dir) / "runner.db", journey, step.id, decide_at)
    if not rows:
        return n, x
    seen = read_observed(Path(state_dir), now=decide_at)
    order = {plan.steps[i].id: i for i in downstream(plan, step.index)}
    goal = plan.goal.name if plan.goal is not None else None
    for contact, iteration, path, at in rows:
        if not 0 <= path < paths:
            continue
        n[path] += 1
        items = (script or {}).get(contact, ())
        when: list[int] = []
        if metric == "goal":
            own = seen.contact_events.get((contact, iteration), {})
            if goal is not None and goal in own:
                when.append(own[goal])
            sends = {s.step: s.at for s in seen.sends.get((contact, iteration), [])}
            for item in items:  # a rehearsal: the goal at a moment, or some time after a message
                if item.get("event") != goal:
                    continue
                if "at" in item:
                    when.append(plan.start + int(item["at"]))
                elif item.get("after") in sends:
                    when.append(sends[str(item["after"])] + int(item.get("delay", 0)))
            did = any(at <= t < decide_at for t in when)
        else:
            after = [s for s in seen.sends.get((contact, iteration), []) if s.step in order and s.at >= at]
            if not after:
                continue
            first = min(after, key=lambda s: (s.at, order[s.step]))
            if metric in first.events:
                when.append(first.events[metric])
            when += [first.at + int(item.get("delay", 0)) for item in items
                     if item.get("after") == first.step and item.get("event") == metric]
            did = any(t < decide_at for t in when)
        x[path] += did
    return n, x


def decisions(db: Path, plan: Plan, journey: str) -> list[dict[str, Any]]:
    """The run's A/B tests for `status`: per test its step, name, decision time and the decision kept (None:
    not decided yet), each with its line of text."""
    tests = ab_tests(plan)
    if not tests or not db.is_file():
        return []
    from app.runner.state_read import read_settings
    kept = read_settings(db, *(setting(journey, s.id) for s in tests))
    out = []
    for s in tests:
        assert s.ab is not None
        d = kept.get(setting(journey, s.id))
        if isinstance(d, dict):
            paths = ", ".join(f"{p['path']} {p['did']:,} of {p['contacts']:,}" for p in d.get("paths") or ())
            line = (f"A/B test '{s.name}': decided for {d.get('decided_at')} by '{d.get('metric')}' ({paths}): "
                    f"{d.get('reason')}")
        else:
            d = None
            line = (f"A/B test '{s.name}': not decided yet (its test period ends {utc_iso(s.ab.decide_at)}; the "
                    f"first contact to reach it after then decides it, by '{s.ab.metric}')")
        out.append({"step": s.id, "name": s.name, "decides_at": utc_iso(s.ab.decide_at), "decision": d,
                    "line": line})
    return out


def route_of(decision: Mapping[str, Any]) -> int:
    """The path index later arrivals take (-1: they keep splitting)."""
    route = decision.get("route")
    return PATH_NAMES.index(route) if isinstance(route, str) and route in PATH_NAMES else -1
