"""Simulating a past campaign's held-out contacts (pure: no Qt): a population made of their attributes, a
one-message journey for their arm (entry from a segment of all of them, one message), run by the simulator;
the control's outcomes are the paired twin's (the same contacts without the journey)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from app.audience.timesets import TimeSet
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS
from app.model.journey import Audience, Journey, Schedule, Step, Trigger
from app.model.registry import END, REGISTRY
from app.semantics.draws import derive_seed
from app.semantics.plan import Plan, compile_plan
from simulator.calibrate_data import Campaign, CalibrateSpec
from simulator.population import CategoryColumn, Population

START = datetime(2027, 1, 4, 9)
SEGMENT = "past campaign"


def arm_journey(step_id: str, spec: CalibrateSpec, conversion: str) -> Journey:
    """One message at the start to everyone in the segment; the conversion event is the goal, counted over the
    campaign's days."""
    end = START + timedelta(days=spec.days)
    j = Journey("calibrate", "Past campaign arm", audience=Audience(segments=(SEGMENT,)),
                schedule=Schedule(START, end, "UTC"),
                goal=Trigger(event=conversion, within=timedelta(days=spec.days)))
    j.add_step(Step(step_id, spec.channel, props={**REGISTRY[spec.channel].defaults(), "content": "past campaign"},
                    outputs={"next": END}))
    return j


def campaign_population(c: Campaign, rows: np.ndarray, plan: Plan, copies: int = 1) -> Population:
    """The contacts `rows` of the file (`copies` times over, each copy a contact of its own: ids differ, so
    their draws are independent, as replicas' are): their --by columns as attributes (loyalty tier and consent
    level fill the built-in columns), average engagement, everyone in the entry segment from the start."""
    rows = np.tile(rows, copies)
    n = len(rows)
    loyalty = np.full(n, -1, dtype=np.int8)
    consent = np.full(n, len(CONSENT_LEVELS) - 1, dtype=np.int8)
    categories: dict[str, CategoryColumn] = {}
    for col in c.by:
        values = c.by_values[col]
        codes = c.by_codes[col][rows]
        if col in ("loyalty_tier", "consent_level"):
            levels = LOYALTY_TIERS if col == "loyalty_tier" else CONSENT_LEVELS
            table = np.array([levels.index(v) if v in levels else -1 for v in values], dtype=np.int8)
            mapped = table[codes]
            if col == "loyalty_tier":
                loyalty = mapped
            else:
                consent = np.where(mapped >= 0, mapped, consent).astype(np.int8)
            continue
        categories[col] = CategoryColumn(codes.astype(np.int32), values)
    copy = np.repeat(np.arange(copies, dtype=np.int64), n // copies if copies else 0)
    ids = copy * (c.n + 1) + rows.astype(np.int64) + 1
    return Population(contact_id=ids, account_id=ids.copy(), tz=np.zeros(n, dtype=np.int16), timezones=("UTC",),
                      consent=consent, engagement=np.full(n, 2.0 / 7.0), loyalty=loyalty,
                      segments={SEGMENT: TimeSet.static(np.ones(n, dtype=bool), plan.start)},
                      categories=categories, spec={"kind": "past campaign", "file": c.path, "contacts": n})


BATCH = 1_000_000  # contacts simulated at once: replicas go in as copies of the contacts, this many at most


def simulate_arm(c: Campaign, rows: np.ndarray, model: Any, step_id: str, spec: CalibrateSpec, *, twin: bool,
                 progress: Any = None, cancel: Any = None, messages: bool = False) -> dict[str, np.ndarray]:
    """Per outcome: replicas x contacts, whether each contact had the outcome within the days (with the journey,
    or without it for the control's `twin`); with `messages`, also '(opened)' and '(clicked)' (the message's).

    The replicas are copies of the contacts in one run (as many as fit in BATCH contacts; then another run with a
    derived seed): the same as separate runs, without a run's fixed cost each time."""
    from simulator.replicas import simulate
    plan = compile_plan(arm_journey(step_id, spec, model.conversion_event))
    n = len(rows)
    out = {o: np.zeros((spec.replicas, n), dtype=bool) for o, _ in spec.outcomes}
    if messages and not twin:
        out.update({f"({e})": np.zeros((spec.replicas, n), dtype=bool) for e in ("opened", "clicked")})
    per = max(1, min(spec.replicas, BATCH // max(n, 1)))
    batches = [(first, min(per, spec.replicas - first)) for first in range(0, spec.replicas, per)]
    for b, (first, copies) in enumerate(batches):
        def step(fraction: float, message: str, b: int = b) -> None:
            if progress is not None:
                progress((b + fraction) / len(batches), message)
        pop = campaign_population(c, rows, plan, copies)
        res = simulate(plan, pop, model, derive_seed(spec.seed, 1000 + b), 1, progress=step, cancel=cancel)
        units = res.trace.units
        events = list(res.trace.meta.get("effect_events", ()))
        bits = units["effect_without" if twin else "effect_with"]
        copy, at = np.divmod(units["contact"].astype(np.int64), n)
        for o, _ in spec.outcomes:
            if o in events:
                out[o][first + copy, at] = ((bits >> events.index(o)) & 1).astype(bool)
        if messages and not twin:
            m = res.trace.messages
            copy, at = np.divmod(m["contact"].astype(np.int64), n)
            for event in ("opened", "clicked"):
                out[f"({event})"][first + copy, at] = m[event] >= 0
    return out


__all__ = ["arm_journey", "campaign_population", "simulate_arm"]
