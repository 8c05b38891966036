"""A SimPy process-per-contact model of a journey: the usual way to write such a simulator, kept as a yardstick.

Only the benchmark uses it (simpy is in the `bench` extra, not a runtime dependency). Each contact is a SimPy
process: it waits for its entry, then walks the plan's steps, drawing its behaviour with Python's `random`
from the same behaviour model (channel figures, engagement odds; no attribute multipliers), deferring sends past
quiet hours, waiting on message events for if/then steps and leaving on its exit events. It counts contacts
entering each step. It is a faithful model of the same journey, not a bit-for-bit twin of the engine.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Generator

from simulator.behaviour import BehaviourModel
from app.semantics.plan import Kind, Plan
from simulator.population import Population
from app.semantics.reference import NEVER
from simulator.reference_run import PopulationFacts
from app.semantics.timezones import utc_offset
from simulator.world import World, build_world

DAY = 86_400


def _entries(plan: Plan, pop: Population, world: World) -> tuple[list[int], list[int]]:
    """(row, entry time) of every contact entering the first iteration (worked out with NumPy, not per contact:
    the yardstick is the process model, not the entry rules)."""
    import numpy as np
    rows = np.arange(len(pop), dtype=np.int64)
    begin, cutoff = plan.iterations[0][0], plan.cutoff(0)[0]
    if world.audience is None:
        t = np.full(len(pop), begin, dtype=np.int64)
    elif plan.frequency == "ongoing":
        t = world.audience.first_at_or_after(rows, begin)
    else:
        t = np.where(world.audience.member_at(rows, begin), begin, NEVER)
    ok = (pop.consent >= plan.audience.min_consent) & (t < cutoff)
    return rows[ok].tolist(), t[ok].tolist()


@lru_cache(maxsize=100_000)
def _offset(zone: str, hour: int) -> int:
    return utc_offset(zone, hour * 3600)


def run_simpy(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int,
              world: World | None = None) -> dict[str, Any]:
    """Simulate with one SimPy process per contact; returns the contacts entering each step.

    Who enters when, and who is in which segment, come from the run's world (as for the engine); the walk
    through the steps and every draw are the process model's own."""
    import simpy

    world = world if world is not None else build_world(plan, pop, behaviour, seed)
    env = simpy.Environment(initial_time=plan.start)
    rng = random.Random(seed)
    facts = PopulationFacts(pop, world)
    entered = [0] * (plan.end + 1)
    cutoff = plan.cutoff(0)[0]
    rate = {e: behaviour.event_rates.get(e, 0.0) / DAY for e in plan.events}
    beta_events = behaviour.engagement_effect.get("events", 0.0)

    def odds(p: float, e: float, target: str) -> float:
        if p <= 0.0 or p >= 1.0:
            return p
        q = p / (1 - p) * math.exp(behaviour.engagement_effect.get(target, 0.0) * (e - behaviour.engagement_mean))
        return q / (1 + q)

    def slot(t: float, zone: str) -> float:
        if plan.quiet is None:
            return t
        qs, qe = plan.quiet
        sod = (int(t) + _offset(zone, int(t) // 3600)) % DAY
        inside = qs <= sod < qe if qs < qe else (sod >= qs or sod < qe)
        return t + (qe - sod) % DAY if inside else t

    def contact(row: int, t0: int) -> Generator[Any, Any, None]:
        yield env.timeout(t0 - env.now)
        e = float(pop.engagement[row])
        zone = facts.timezone(row) or plan.timezone
        exit_at = min((t0 + rng.expovariate(r * math.exp(beta_events * (e - behaviour.engagement_mean)))
                       if r > 0 else NEVER) for r in rate.values()) if rate else NEVER
        seen: dict[tuple[int, str], float] = {}
        step = plan.entry
        while step != plan.end:
            entered[step] += 1
            st = plan.steps[step]
            if st.kind == Kind.MESSAGE:
                leave = slot(env.now, zone)
            elif st.kind == Kind.WAIT_FOR:
                leave = env.now + st.seconds
            elif st.kind == Kind.WAIT_UNTIL:
                leave = max(env.now, st.until)
            elif st.kind == Kind.IF_EVENT:
                ev = seen.get((st.watch_step, st.watch_event), NEVER)
                leave = max(env.now, ev) if ev <= env.now + st.seconds else env.now + st.seconds
            else:
                leave = env.now
            if min(leave, exit_at) >= cutoff:
                return
            if exit_at < leave:
                yield env.timeout(exit_at - env.now)
                return
            yield env.timeout(leave - env.now)
            nxt = st.next[0] if st.next else plan.end
            if st.kind == Kind.MESSAGE:
                b = behaviour.for_step(st.id, st.channel or "")
                if facts.member(row, plan.audience.suppress, int(env.now)) if plan.audience.suppress else False:
                    pass
                elif rng.random() < b.delivery:
                    t = env.now + b.delivery_delay
                    seen[(step, "delivered")] = t
                    if rng.random() < odds(b.open, e, "open"):
                        t += max(1.0, b.open_median * math.exp(b.open_sigma * rng.gauss(0, 1)))
                        seen[(step, "opened")] = t
                        if rng.random() < odds(b.click, e, "click"):
                            t += max(1.0, b.click_median * math.exp(b.click_sigma * rng.gauss(0, 1)))
                            seen[(step, "clicked")] = t
                            if rng.random() < odds(b.conversion, e, "conversion"):
                                conv = t + b.conversion_median * math.exp(b.conversion_sigma * rng.gauss(0, 1))
                                if behaviour.conversion_event in rate:
                                    exit_at = min(exit_at, conv)
                else:
                    seen[(step, "bounced")] = env.now + b.delivery_delay
            elif st.kind == Kind.IF_EVENT:
                nxt = st.next[0] if seen.get((st.watch_step, st.watch_event), NEVER) <= leave else st.next[1]
            elif st.kind == Kind.SPLIT:
                u = rng.random()
                hits = [i for i, th in enumerate(st.thresholds) if u < th]
                if not hits:
                    return
                nxt = st.next[hits[0]]
            elif st.kind == Kind.IF_SEGMENT:
                nxt = st.next[0] if facts.member(row, st.segment or "", int(env.now)) else st.next[1]
            elif st.kind == Kind.EXIT:
                nxt = plan.end
            step = nxt
        entered[plan.end] += 1

    n = 0
    for row, t in zip(*_entries(plan, pop, world)):
        env.process(contact(row, t))
        n += 1
    env.run(until=cutoff)
    return {"entered": n, "steps": dict(zip(plan.step_names(), entered))}
