"""A SimPy process-per-contact model of a journey: the usual way to write such a simulator, kept as a yardstick.

Only the benchmark uses it (simpy is in the `bench` extra, not a runtime dependency). Each contact who enters is
a SimPy process, started at its entry by a feeder (so only contacts in the journey are alive): it walks the
plan's steps, drawing its behaviour with Python's `random` from the same behaviour model (channel figures,
engagement odds; no attribute multipliers), deferring sends past quiet hours in its zone, waiting on message
events for if/then steps and leaving on its exit events (its own purchases, the conversions its messages bring).
It counts contacts entering each step. It is a faithful model of the same journey, not a bit-for-bit twin of the
engine.

Written as fairly as a careful SimPy user would: what the model reads per contact (entry time, engagement, zone,
when a suppression segment holds it) is handed to it as plain Python values, worked out with NumPy before the
clock starts (`inputs`), as the engine gets arrays; the behaviour per message is looked up once, not per send.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generator

import numpy as np

from simulator.behaviour import BehaviourModel, ChannelBehaviour
from app.semantics.plan import Kind, Plan
from simulator.population import Population
from app.semantics.reference import NEVER
from app.semantics.timezones import utc_offset
from simulator.world import World, build_world

DAY = 86_400


@dataclass(frozen=True)
class Inputs:
    """What the process model reads per entering contact, in entry order (plain Python values)."""

    entry: list[int]
    engagement: list[float]
    zone: list[str]
    suppressed_from: list[int]  # when the suppression segment first holds the contact after entry (NEVER: never)


def inputs(plan: Plan, pop: Population, world: World) -> Inputs:
    """Who enters the first iteration and when, with what the model reads of each (NumPy, outside the timing:
    the yardstick is the process model, not the segment language)."""
    rows = np.arange(len(pop), dtype=np.int64)
    begin, cutoff = plan.iterations[0][0], plan.cutoff(0)[0]
    if world.audience is None:
        t = np.full(len(pop), begin, dtype=np.int64)
    elif plan.frequency == "ongoing":
        t = world.audience.first_at_or_after(rows, begin)
    else:
        t = np.where(world.audience.member_at(rows, begin), begin, NEVER)
    ok = (pop.consent >= plan.audience.min_consent) & (t < cutoff)
    rows, t = rows[ok], t[ok]
    order = np.argsort(t, kind="stable")
    rows, t = rows[order], t[order]
    zones = np.array([*pop.timezones, plan.timezone], dtype=object)
    zone = zones[np.where(pop.tz[rows] < 0, len(zones) - 1, pop.tz[rows])]
    suppress = plan.audience.suppress
    held = world.segment(suppress).first_at_or_after(rows, t) if suppress else np.full(len(rows), NEVER)
    return Inputs(t.tolist(), pop.engagement[rows].tolist(), zone.tolist(), held.tolist())


@lru_cache(maxsize=100_000)
def _offset(zone: str, hour: int) -> int:
    return utc_offset(zone, hour * 3600)


def run_simpy(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int, world: World | None = None,
              given: Inputs | None = None) -> dict[str, Any]:
    """Simulate with one SimPy process per entering contact; returns the contacts entering each step.

    `given` (from `inputs`) is what the model reads per contact; made here from the run's world if not given."""
    import simpy

    if given is None:
        world = world if world is not None else build_world(plan, pop, behaviour, seed)
        given = inputs(plan, pop, world)
    env = simpy.Environment(initial_time=plan.start)
    rng = random.Random(seed)
    entered = [0] * (plan.end + 1)
    cutoff = plan.cutoff(0)[0]
    rate = [behaviour.event_rates.get(e, 0.0) / DAY for e in plan.events]
    beta = behaviour.engagement_effect
    beta_events, mean_e = beta.get("events", 0.0), behaviour.engagement_mean
    figures: dict[int, ChannelBehaviour] = {s.index: behaviour.for_step(s.id, s.channel or "")
                                            for s in plan.steps if s.kind == Kind.MESSAGE}
    conversion_exits = behaviour.conversion_event in plan.events

    def odds(p: float, log_mult: float) -> float:
        if p <= 0.0 or p >= 1.0:
            return p
        q = p / (1 - p) * math.exp(log_mult)
        return q / (1 + q)

    def slot(t: float, zone: str) -> float:
        if plan.quiet is None:
            return t
        qs, qe = plan.quiet
        sod = (int(t) + _offset(zone, int(t) // 3600)) % DAY
        inside = qs <= sod < qe if qs < qe else (sod >= qs or sod < qe)
        return t + (qe - sod) % DAY if inside else t

    def contact(e: float, zone: str, held: int) -> Generator[Any, Any, None]:
        dev = e - mean_e
        exit_at = float(NEVER)
        for r in rate:
            if r > 0:
                exit_at = min(exit_at, env.now + rng.expovariate(r * math.exp(beta_events * dev)))
        p_open: dict[int, float] = {}
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
                delivered = seen.get((st.watch_step, "delivered"), NEVER)
                fallback = env.now + st.seconds
                limit = delivered + st.seconds if delivered <= fallback else fallback
                leave = max(env.now, ev) if ev <= limit else limit
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
                b = figures[step]
                if held <= env.now:
                    pass
                elif rng.random() < b.delivery:
                    t = env.now + b.delivery_delay
                    seen[(step, "delivered")] = t
                    if step not in p_open:
                        p_open[step] = odds(b.open, beta.get("open", 0.0) * dev)
                    if rng.random() < p_open[step]:
                        t += max(1.0, b.open_median * math.exp(b.open_sigma * rng.gauss(0, 1)))
                        seen[(step, "opened")] = t
                        if rng.random() < odds(b.click, beta.get("click", 0.0) * dev):
                            t += max(1.0, b.click_median * math.exp(b.click_sigma * rng.gauss(0, 1)))
                            seen[(step, "clicked")] = t
                            if rng.random() < odds(b.conversion, beta.get("conversion", 0.0) * dev):
                                conv = t + b.conversion_median * math.exp(b.conversion_sigma * rng.gauss(0, 1))
                                if conversion_exits:
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
            elif st.kind == Kind.EXIT:
                nxt = plan.end
            step = nxt
        entered[plan.end] += 1

    def feeder() -> Generator[Any, Any, None]:
        for t, e, zone, held in zip(given.entry, given.engagement, given.zone, given.suppressed_from):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(contact(e, zone, held))

    env.process(feeder())
    env.run(until=cutoff)
    return {"entered": len(given.entry), "steps": dict(zip(plan.step_names(), entered))}
