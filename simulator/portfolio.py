"""Portfolios: several journeys over one population under the project's frequency caps, and what the caps hold
back in each (`journey-studio portfolio`).

The population: each replica's synthetic contacts are drawn once from the replica's seed; every journey sees the
same contacts (the same rows and ids, each journey's segments evaluated on them). A contact's sends on a capped
channel from every journey that is not exempt count against one cap: a message due at t goes only when the
contact had fewer than `messages` sends on that channel in (t - per, t]; at equal times a journey of a higher
priority (a lower number; then the order given) goes first.

Exactness by a fixed point. The engine simulates one journey given the other journeys' sends (engine.CapInput)
and its own earlier ones. Every draw is hash-keyed per contact and step and effects are causal, so a journey
given the others' true sends gives its true sends. The passes: the journeys in priority order, each given the
others' latest sends (none yet for one not simulated in this pass), repeated until a whole pass changes no send
of any journey (settled), at most `max_passes` passes; the results say whether it settled. Each journey is also
simulated without the caps (the same seeds and world): the paired difference of its incremental goal effect is
what the caps cost it (per contact who entered, pooled over replicas, 95 % normal interval).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.model.journey import Journey
from app.model.project import ChannelCap
from app.model.segment import Segment
from app.semantics.draws import derive_seed
from app.semantics.outcomes import CAPPED, SENT
from app.semantics.plan import DAY, Plan, compile_plan
from app.semantics.reference import CHANNELS
from simulator.behaviour import BehaviourModel
from simulator.engine import CapInput, OtherSends, run
from simulator.population import Population, population_for, replica_seed
from simulator.trace import Trace
from simulator.world import World, build_world

FORMAT = "portfolio/1"
MAX_PASSES = 8
MAX_JOURNEYS = 20
Z975 = 1.959964


class PortfolioError(ValueError):
    """A portfolio that cannot be simulated (one line, naming what)."""


@dataclass(frozen=True)
class Member:
    """One journey of the portfolio, compiled."""

    name: str
    plan: Plan
    priority: int
    exempt: bool


def members_of(journeys: Sequence[Journey], content: Mapping[str, Any] | None = None,
               horizon_days: int | None = None) -> list[Member]:
    """The journeys as portfolio members (their plans compiled; PlanError names the journey that cannot run)."""
    if not journeys:
        raise PortfolioError("a portfolio needs at least one journey")
    if len(journeys) > MAX_JOURNEYS:
        raise PortfolioError(f"a portfolio holds at most {MAX_JOURNEYS} journeys, not {len(journeys)}")
    names = [j.name for j in journeys]
    if len(set(names)) != len(names):
        raise PortfolioError("a journey is named twice: name each journey once")
    out = []
    for j in journeys:
        plan = compile_plan(j, content=content)
        if horizon_days is not None:
            plan = compile_plan(j, horizon=plan.start + horizon_days * DAY, content=content)
        out.append(Member(j.name, plan, int(j.priority), bool(j.cap_exempt)))
    return out


@dataclass
class _Sends:
    """One journey's sends in one pass: per channel index, population rows and times (sorted by row, time)."""

    by_channel: dict[int, tuple[np.ndarray, np.ndarray]]
    digest: tuple[bytes, ...]


def _sends(plan: Plan, trace: Trace) -> _Sends:
    m = trace.messages
    step_channel = np.array([CHANNELS.index(s.channel) if s.channel in CHANNELS else -1 for s in plan.steps] + [-1],
                            dtype=np.int64)
    ch = np.take(step_channel, m["step"].astype(np.int64)) if len(m["step"]) else np.zeros(0, np.int64)
    rows = m["contact"].astype(np.int64)
    times = m["sent"].astype(np.int64) + trace.t0
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    digest = []
    for ci in range(len(CHANNELS)):
        sel = ch == ci
        r, t = rows[sel], times[sel]
        order = np.lexsort((t, r))
        r, t = r[order], t[order]
        out[ci] = (r, t)
        digest.append(r.tobytes() + t.tobytes())
    return _Sends(out, tuple(digest))


def _others(i: int, members: Sequence[Member], sends: Sequence[_Sends | None], caps: Mapping[int, ChannelCap],
            ) -> dict[int, OtherSends]:
    """The sends of every other non-exempt journey on each capped channel, split by who goes first at ties."""
    me = members[i]
    out: dict[int, OtherSends] = {}
    for ci in caps:
        first_r: list[np.ndarray] = []
        first_t: list[np.ndarray] = []
        later_r: list[np.ndarray] = []
        later_t: list[np.ndarray] = []
        for j, other in enumerate(members):
            s = sends[j]
            if j == i or other.exempt or s is None:
                continue
            r, t = s.by_channel[ci]
            before = (other.priority, j) < (me.priority, i)
            (first_r if before else later_r).append(r)
            (first_t if before else later_t).append(t)
        allt = np.concatenate(first_t + later_t) if first_t or later_t else np.zeros(0, np.int64)
        base = int(allt.min()) - 1 if len(allt) else 0

        def keys(rs: list[np.ndarray], ts: list[np.ndarray]) -> np.ndarray:
            if not rs:
                return np.zeros(0, np.int64)
            k = (np.concatenate(rs) << 32) | (np.concatenate(ts) - base)
            k.sort()
            return k
        out[ci] = OtherSends(keys(first_r, first_t), keys(later_r, later_t), base)
    return out


def _cap_input(member: Member, caps: Mapping[int, ChannelCap], others: dict[int, OtherSends]) -> CapInput | None:
    if member.exempt:
        return None
    steps = {ci: sum(1 for s in member.plan.steps if s.channel == CHANNELS[ci]) for ci in caps}
    used = {ci: c for ci, c in caps.items() if steps[ci]}
    if not used:
        return None
    ring = {ci: max(1, min(c.messages, steps[ci] * len(member.plan.iterations))) for ci, c in used.items()}
    return CapInput({ci: (c.messages, int(c.per.total_seconds())) for ci, c in used.items()},
                    {ci: others[ci] for ci in used}, ring)


def _step_counts(plan: Plan, trace: Trace) -> dict[str, dict[str, int]]:
    v = trace.visits
    out: dict[str, dict[str, int]] = {}
    for s in plan.steps:
        if not s.channel:
            continue
        at = v["step"] == s.index
        oc = v["outcome"][at]
        out[s.id] = {"sent": int(np.count_nonzero(oc == SENT)), "capped": int(np.count_nonzero(oc == CAPPED))}
    return out


def _goal_bits(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit row: its key (contact, iteration), and the first effect event's bit with and without the journey."""
    u = trace.units
    key = (u["contact"].astype(np.int64) << 16) | u["iteration"].astype(np.int64)
    order = np.argsort(key, kind="stable")
    w = (u["effect_with"].astype(np.int64) & 1)[order]
    wo = (u["effect_without"].astype(np.int64) & 1)[order]
    return key[order], w, wo


def _interval(total: float, sq: float, n: int, lo: float = -1.0, hi: float = 1.0) -> dict[str, float | None]:
    if n <= 0:
        return {"mean": None, "low": None, "high": None}
    mean = total / n
    se = math.sqrt(max(0.0, sq / n - mean * mean) / n)
    return {"mean": round(mean, 6), "low": round(max(lo, mean - Z975 * se), 6),
            "high": round(min(hi, mean + Z975 * se), 6)}


class _Tally:
    """Sums over replicas for one journey."""

    def __init__(self, plan: Plan) -> None:
        self.steps = {s.id: {"wanted": 0, "sent": 0, "capped": 0, "sent_without_cap": 0}
                      for s in plan.steps if s.channel}
        self.n = 0
        self.sums = {"capped": [0.0, 0.0], "uncapped": [0.0, 0.0], "change": [0.0, 0.0]}
        self.paired = True
        self.event = ""

    def add(self, plan: Plan, capped: Trace, uncapped: Trace) -> None:
        for sid, c in _step_counts(plan, capped).items():
            self.steps[sid]["sent"] += c["sent"]
            self.steps[sid]["capped"] += c["capped"]
            self.steps[sid]["wanted"] += c["sent"] + c["capped"]
        for sid, c in _step_counts(plan, uncapped).items():
            self.steps[sid]["sent_without_cap"] += c["sent"]
        self.event = (list(capped.meta.get("effect_events", [])) or [""])[0]
        kc, wc, woc = _goal_bits(capped)
        ku, wu, wou = _goal_bits(uncapped)
        dc, du = (wc - woc).astype(np.float64), (wu - wou).astype(np.float64)
        self.sums["capped"][0] += float(dc.sum())
        self.sums["capped"][1] += float((dc * dc).sum())
        self.sums["uncapped"][0] += float(du.sum())
        self.sums["uncapped"][1] += float((du * du).sum())
        if len(kc) == len(ku) and np.array_equal(kc, ku):
            d = (wc - wu).astype(np.float64)  # the twin is the same contacts' own events: it cancels
            self.sums["change"][0] += float(d.sum())
            self.sums["change"][1] += float((d * d).sum())
        else:
            self.paired = False
        self.n += len(kc)

    def effect(self) -> dict[str, Any]:
        s = self.sums
        with_cap = _interval(s["capped"][0], s["capped"][1], self.n)
        without = _interval(s["uncapped"][0], s["uncapped"][1], self.n)
        if self.paired:
            change = _interval(s["change"][0], s["change"][1], self.n)
        else:  # different entries (a repetition's audience moved): unpaired
            a, b = with_cap["mean"], without["mean"]
            if a is None or b is None:
                change = {"mean": None, "low": None, "high": None}
            else:
                se = math.sqrt(sum(max(0.0, x[1] / self.n - (x[0] / self.n) ** 2) / self.n
                                   for x in (s["capped"], s["uncapped"])))
                change = {"mean": round(a - b, 6), "low": round(a - b - Z975 * se, 6),
                          "high": round(a - b + Z975 * se, 6)}
        return {"event": self.event, "incremental_without_cap": without, "incremental_with_cap": with_cap,
                "change": change, "paired": self.paired}


def run_portfolio(members: Sequence[Member], caps: Sequence[ChannelCap], contacts: int, seed: int, *,
                  replicas: int = 1, behaviour: BehaviourModel | None = None,
                  definitions: Mapping[str, Segment] | None = None, custom: Mapping[str, str] | None = None,
                  max_passes: int = MAX_PASSES, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Simulate the journeys together under `caps`; the results as plain values (format portfolio/1)."""
    if not 1 <= max_passes <= 100:
        raise PortfolioError(f"passes go from 1 to 100, not {max_passes}")
    behaviour = behaviour or BehaviourModel()
    by_channel = {CHANNELS.index(c.channel): c for c in caps}
    tallies = [_Tally(m.plan) for m in members]
    order = sorted(range(len(members)), key=lambda i: (members[i].priority, i))
    passes_used: list[int] = []
    settled_all = True
    for r in range(replicas):
        run_seed = derive_seed(seed, r)
        pop: Population | None = None
        worlds: list[World] = []
        pops: list[Population] = []
        for m in members:
            p = population_for(m.plan, contacts, replica_seed(seed, r), definitions=definitions, custom=custom)
            if pop is not None and not np.array_equal(p.contact_id, pop.contact_id):
                raise PortfolioError("the journeys' populations do not hold the same contacts")
            pop = p
            pops.append(p)
            worlds.append(build_world(m.plan, p, behaviour, run_seed))
        uncapped = [run(m.plan, pops[i], behaviour, run_seed, world=worlds[i]) for i, m in enumerate(members)]
        # the passes start from no sends of the others (a journey not simulated yet in the first pass)
        sends: list[_Sends | None] = [None] * len(members)
        traces: list[Trace | None] = [None] * len(members)
        settled = False
        done = 0
        for done in range(1, max_passes + 1):
            changed = False
            for i in order:
                m = members[i]
                cap = _cap_input(m, by_channel, _others(i, members, sends, by_channel)) if by_channel else None
                trace = uncapped[i] if cap is None else run(m.plan, pops[i], behaviour, run_seed, world=worlds[i],
                                                             caps=cap)
                new = _sends(m.plan, trace)
                if sends[i] is None or new.digest != sends[i].digest:  # type: ignore[union-attr]
                    changed = True
                sends[i], traces[i] = new, trace
            if progress is not None:
                progress(f"replica {r + 1} of {replicas}: pass {done}{'' if changed else ' (settled)'}")
            if not changed or not by_channel:  # (the first pass always changes: there were no sends before it)
                settled = True
                break
        passes_used.append(done)
        settled_all &= settled
        for i, m in enumerate(members):
            t = traces[i]
            assert t is not None
            tallies[i].add(m.plan, t, uncapped[i])
    journeys = []
    for m, tally in zip(members, tallies):
        steps = [{"step": sid, "channel": next(s.channel for s in m.plan.steps if s.id == sid),
                  **{k: round(v / replicas, 3) for k, v in c.items()}} for sid, c in tally.steps.items()]
        journeys.append({"journey": m.name, "priority": m.priority, "exempt": m.exempt,
                         "entered": round(tally.n / replicas, 3), "steps": steps, "effect": tally.effect()})
    return {"format": FORMAT, "contacts": contacts, "seed": seed, "replicas": replicas,
            "caps": [{"channel": c.channel, "messages": c.messages, "per_seconds": int(c.per.total_seconds())}
                     for c in caps],
            "passes": passes_used, "max_passes": max_passes, "settled": settled_all,
            "method": "each journey simulated given the others' sends, in priority order, until a whole pass changes "
                      "no send (a fixed point); figures per replica (mean over replicas); the change in the "
                      "incremental effect paired contact by contact against the same journeys without the caps, "
                      "95 % normal interval pooled over replicas",
            "journeys": journeys}


__all__ = ["FORMAT", "Member", "PortfolioError", "members_of", "run_portfolio"]
