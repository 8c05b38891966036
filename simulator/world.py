"""A run's world: what its contacts do without the journey, and who is in which segment, when.

Made once per replica (seed) from the journey's plan, the population and the behaviour model, and read by both
the vectorised engine and the reference run, so that they see the same world:

- `behaviour`: the model with every base figure calibrated on the population (simulator.calibration), so that
  the stated figures are the population's averages;
- background events: each contact's own purchases, web visits... as Poisson processes with counter-based
  draws. Kinds that feed segments (interactions, and a purchase's effect on the last purchase date and lifetime
  value) are drawn as whole sequences over the simulated period; other kinds only as "the first time at or
  after t" (memoryless), keyed by the iteration;
- `segments`: every segment the journey (or a behaviour multiplier) names, evaluated from its definition over
  the period, with those background events fed back (a purchase in the run resets recency), or given as is;
- `audience`: the journey's audience over time (its segments combined, minus its exclusion segments);
- `effect_events`: the events whose share with and without the journey a run reports (the goal first).

The journey's own effects (its messages' conversions and unsubscribes) come on top of this world; the world
itself is the "without the journey" twin of every run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.audience.base import Interactions
from app.audience.evaluate import Evaluator
from app.audience.timesets import TimeSet, _SPAN, _owner_range
from app.model.attributes import CONTACT_EVENTS, INTERACTION_KINDS
from simulator.behaviour import (BehaviourModel, Modifiers, background_times)
from simulator.calibration import Calibration, calibrate
from app.semantics.draws import BACKGROUND, NEVER, exponential_seconds, hash_keys, name_key, stream, uniform
from app.semantics.plan import Kind, Plan, TriggerPlan
from simulator.population import Population, plan_segments

DAY = 86_400
_RATES_LOCK = threading.RLock()
MAX_ROUNDS = 100_000  # a contact's events of one kind over the period at most (rates are bounded far below)


@dataclass(frozen=True)
class EventTimes:
    """Event times per population row (sorted within a row), in CSR form."""

    owner: np.ndarray
    at: np.ndarray
    start: int

    def _keys(self) -> np.ndarray:
        keys = self.__dict__.get("_k")
        if keys is None:
            keys = self.owner * _SPAN + np.clip(self.at - self.start, 0, _SPAN - 1)
            object.__setattr__(self, "_k", keys)
        return keys

    def first_at_or_after(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Each row's first event at or after t (NEVER if none)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(self.owner):
            return np.full(len(rows), NEVER, dtype=np.int64)
        q = rows * _SPAN + np.clip(np.asarray(t, dtype=np.int64) - self.start, 0, _SPAN - 1)
        lo, hi = _owner_range(self.owner, rows)  # only the keys of the rows' owner range (a chunk's)
        j = np.searchsorted(self._keys()[lo:hi], q, side="left")
        j += lo
        jc = np.minimum(j, len(self.owner) - 1)
        ok = (j < len(self.owner)) & (np.take(self.owner, jc) == rows)
        out = np.take(self.at, jc)  # np.where(ok, at, NEVER) without a branch per element
        out -= NEVER
        out *= ok
        out += NEVER
        return out.astype(np.int64, copy=False)


def event_sequence(keys: np.ndarray, rate_per_second: np.ndarray, seed: int, event: str, start: int,
                   end: int) -> EventTimes:
    """Every event of a Poisson process per contact in [start, end): the k-th waiting time is a counter-based
    draw keyed by (seed, contact id, event, k), so a contact's events do not depend on who else is simulated."""
    rate = np.asarray(rate_per_second, dtype=np.float64)
    active = np.flatnonzero(rate > 0.0)
    cur = np.full(len(active), start, dtype=np.int64)
    owners, times = [], []
    k = 0
    base = name_key(event)
    while active.size and k < MAX_ROUNDS:
        u = uniform(hash_keys(np.take(keys, active), stream(seed, BACKGROUND, base, -1 - k)))
        cur = cur + exponential_seconds(u, np.take(rate, active))
        ok = cur < end
        active, cur = np.compress(ok, active), np.compress(ok, cur)
        owners.append(active)
        times.append(cur)
        k += 1
    if not owners:
        return EventTimes(np.zeros(0, np.int64), np.zeros(0, np.int64), start)
    o, t = np.concatenate(owners), np.concatenate(times)
    order = np.argsort(o, kind="stable")  # rounds are in time order within each contact
    return EventTimes(o[order], t[order], start)


def effect_events(plan: Plan, behaviour: BehaviourModel) -> tuple[str, ...]:
    """The events a run reports with and without the journey: the goal, then every contact event that happens
    on its own (rate above 0) or that the journey's messages cause (conversions, unsubscribes)."""
    names: list[str] = [plan.goal.name] if plan.goal is not None else []
    messages = any(s.kind == Kind.MESSAGE for s in plan.steps)
    for event in CONTACT_EVENTS:
        caused = messages and event in (behaviour.conversion_event, "unsubscribed")
        if behaviour.event_rates.get(event, 0.0) > 0 or caused:
            names.append(event)
    if behaviour.conversion_event not in names and messages:
        names.append(behaviour.conversion_event)
    return tuple(dict.fromkeys(names))[:31]


@dataclass
class World:
    """See the module docstring."""

    plan: Plan
    pop: Population
    stated: BehaviourModel
    behaviour: BehaviourModel
    calibration: Calibration
    seed: int
    segments: dict[str, TimeSet]
    audience: TimeSet | None
    sequences: dict[str, EventTimes]
    effect_events: tuple[str, ...]
    sensitive: frozenset[str] = frozenset()  # segments a purchase changes (fed back: see `member_with`)
    _rates: dict[str, np.ndarray | None] = field(default_factory=dict)
    _values: np.ndarray | None = None
    _own: Interactions | None = None

    @property
    def feeds_back(self) -> bool:
        """Whether the journey's own conversions are purchases that change some segment it names."""
        return bool(self.sensitive) and self.behaviour.conversion_event == "purchase"

    def member_with(self, segment: str, rows: np.ndarray, t: np.ndarray | int, bought: np.ndarray,
                    bought_at: np.ndarray) -> np.ndarray:
        """Whether contacts `rows` are in `segment` at time(s) `t`, counting the purchases the journey caused
        (population rows `bought`, at `bought_at`) with their own: a purchase the journey brings about resets
        recency as one of their own does."""
        hit = self.member(segment, rows, t)
        if segment not in self.sensitive or not self.feeds_back or not len(bought):
            return hit
        rows = np.asarray(rows, dtype=np.int64)
        changed = np.isin(rows, bought)
        if not changed.any():
            return hit
        unique = np.unique(rows[changed])
        sets = self._with_purchases(unique, bought, bought_at, (segment,))
        tt = np.broadcast_to(np.asarray(t, dtype=np.int64), rows.shape)
        out = hit.copy()
        out[changed] = sets[segment].member_at(np.searchsorted(unique, rows[changed]), tt[changed])
        return out

    def audience_with(self, rows: np.ndarray, t: int, bought: np.ndarray, bought_at: np.ndarray) -> np.ndarray:
        """Whether contacts `rows` are in the journey's audience at `t`, counting the journey's own purchases."""
        audience = self.audience
        rows = np.asarray(rows, dtype=np.int64)
        hit = np.ones(len(rows), dtype=bool) if audience is None else audience.member_at(rows, t)
        names = [*self.plan.audience.segments, *self.plan.audience.exclude]
        if audience is None or not self.feeds_back or not len(bought) or not set(names) & self.sensitive:
            return hit
        changed = np.isin(rows, bought)
        if not changed.any():
            return hit
        unique = np.unique(rows[changed])
        sets = self._with_purchases(unique, bought, bought_at, tuple(names))
        again = _audience(self.plan, sets, len(unique))
        out = hit.copy()
        if again is not None:
            out[changed] = again.member_at(np.searchsorted(unique, rows[changed]), t)
        return out

    def _with_purchases(self, rows: np.ndarray, bought: np.ndarray, bought_at: np.ndarray,
                        names: tuple[str, ...]) -> dict[str, TimeSet]:
        """Segments `names` for contacts `rows` (sorted) re-evaluated with the journey's purchases added to their
        own events (the others taken as they are)."""
        source = self.pop.source
        assert source is not None
        base = source.base.take(rows)
        if self._own is None:  # the contacts' own events of interaction kinds, made once
            self._own = _simulated_interactions(self.pop, self.sequences, self._purchase_value_table()) \
                or Interactions.none()
        own = self._own
        mine = np.isin(bought, rows)
        extra_rows = np.searchsorted(rows, bought[mine])
        value = self._purchase_value_table()[bought[mine]]
        parts = []
        if len(own):
            keep = np.isin(own.contact, rows)
            parts.append(Interactions(np.searchsorted(rows, own.contact[keep]), own.kind[keep], own.at[keep],
                                      own.value[keep]))
        parts.append(Interactions(extra_rows.astype(np.int64),
                                  np.full(len(extra_rows), INTERACTION_KINDS.index("purchase"), np.int8),
                                  bought_at[mine].astype(np.int64), value))
        who = np.concatenate([p.contact for p in parts])
        order = np.lexsort((np.concatenate([p.at for p in parts]), who))
        simulated = Interactions(who[order], np.concatenate([p.kind for p in parts])[order],
                                 np.concatenate([p.at for p in parts])[order],
                                 np.concatenate([p.value for p in parts])[order])
        evaluator = Evaluator(base, source.custom, w0=source.w0, simulated=simulated)
        out = {}
        for name in names:
            if name in self.sensitive:
                out[name] = evaluator.segment(source.definitions[name])
            else:
                out[name] = self.segment(name).take(rows)
        return out

    def _purchase_value_table(self) -> np.ndarray:
        if self._values is None:
            self._values = _purchase_values(self.pop)
        return self._values

    def member(self, segment: str, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Whether contacts `rows` are in `segment` at time(s) `t`."""
        return self.segment(segment).member_at(rows, t)

    def segment(self, name: str) -> TimeSet:
        try:
            return self.segments[name]
        except KeyError:
            have = ", ".join(sorted(self.segments)) or "none"
            raise KeyError(f"the population has no segment '{name}' (it has: {have})") from None

    def rate_multiplier(self, event: str) -> np.ndarray | None:
        """Each contact's multiplier of the event's rate (None: 1 for everyone)."""
        if event in self._rates:
            return self._rates[event]
        with _RATES_LOCK:  # the engine's chunk threads ask at once: made once
            # an event no multiplier names has the multipliers of any other such event (engagement's alone): the
            # same array, without working it out again over the whole population
            own = any(m.target == f"event:{event}" and m.factor != 1.0 for m in self.behaviour.multipliers)
            twin = next((e for e in self._rates if not any(m.target == f"event:{e}" and m.factor != 1.0
                                                           for m in self.behaviour.multipliers)), None)
            if event not in self._rates and not own and twin is not None:
                self._rates[event] = self._rates[twin]
            if event not in self._rates:
                mods = Modifiers(self.behaviour, self.pop, np.arange(len(self.pop)), (event,), self.plan.start,
                                 self.member, eager=False)
                rate = mods.rate(event)
                # events whose multipliers come out the same (the same engagement effect, no attribute multiplier
                # of their own) share one array: a full column each was half a GB at 10M contacts
                same = next((r for r in self._rates.values() if r is not None and rate is not None
                             and np.array_equal(r, rate)), None)
                self._rates[event] = rate if same is None else same
            return self._rates[event]

    def event_first(self, event: str, rows: np.ndarray, t: np.ndarray, iteration: int,
                    taken: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """The first time at or after `t` each contact does `event` on its own (NEVER: not before the horizon).

        `taken` keeps the rows' contact ids and rate multipliers between calls for the same rows (by the
        identity of the column they come from: events share multipliers)."""
        rows = np.asarray(rows, dtype=np.int64)
        if event in self.sequences:
            return self.sequences[event].first_at_or_after(rows, t)
        if self.behaviour.event_rates.get(event, 0.0) <= 0.0:  # never, whatever the multipliers
            return np.full(len(rows), NEVER, dtype=np.int64)
        mult = self.rate_multiplier(event)
        kept = {} if taken is None else taken

        def take(column: np.ndarray) -> np.ndarray:
            if id(column) not in kept:
                kept[id(column)] = np.take(column, rows)
            return kept[id(column)]
        return background_times(self.behaviour, self.seed, iteration, event, take(self.pop.contact_id),
                                np.asarray(t, dtype=np.int64), None if mult is None else take(mult))


def trigger_times(world: World, trig: TriggerPlan, rows: np.ndarray, entry: np.ndarray, iteration: int) -> np.ndarray:
    """When each contact (population `rows`, entered at `entry`) meets a goal or exit condition on its own: its
    first background event at or after entry, or when it joins (is in at entry: then) or leaves a segment."""
    if trig.event:
        return world.event_first(trig.event, rows, entry, iteration)
    m = world.segment(trig.segment or "")
    if trig.when == "leaves":
        return m.first_leave_after(rows, entry)
    return m.first_at_or_after(rows, entry)


def effect_bits(world: World, rows: np.ndarray, entry: np.ndarray, cutoff: int | np.ndarray, iteration: int,
                caused: Mapping[str, np.ndarray],
                known: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per contact, which effect events happen from its entry until `cutoff` (exclusive; per contact: the goal's
    window, Plan.goal_deadline), with the journey and without it
    (bit j for `world.effect_events[j]`). Without: the contact's own events. With: those, and the conversions
    ('converted') and unsubscribes ('unsubscribed') the journey's messages caused. `known`: the times of some
    of those events (by name) for the same rows and entries, worked out already (the exits and the goal)."""
    with_bits = np.zeros(len(rows), dtype=np.int32)
    without_bits = np.zeros(len(rows), dtype=np.int32)
    conversion = world.behaviour.conversion_event
    taken: dict[int, np.ndarray] = {}  # the rows' ids and multipliers, taken once for every event
    for j, name in enumerate(world.effect_events):
        if known is not None and name in known:
            own = journey = known[name]
            if name == conversion:
                journey = np.minimum(journey, caused["converted"])
            if name == "unsubscribed":
                journey = np.minimum(journey, caused["unsubscribed"])
        elif name.startswith("segment:"):
            segment, when = name[len("segment:"):].rsplit(":", 1)
            own = trigger_times(world, TriggerPlan(segment=segment, when=when), rows, entry, iteration)
            journey = own
        else:
            own = world.event_first(name, rows, entry, iteration, taken)
            journey = own
            if name == conversion:
                journey = np.minimum(journey, caused["converted"])
            if name == "unsubscribed":
                journey = np.minimum(journey, caused["unsubscribed"])
        bit = np.int32(1 << j)
        mine = np.multiply(own < cutoff, bit, dtype=np.int32)  # np.where(own < cutoff, bit, 0), branch-free
        without_bits |= mine
        with_bits |= mine if journey is own else np.multiply(journey < cutoff, bit, dtype=np.int32)
    return with_bits, without_bits


def _uses(query: Any, what: str) -> bool:
    """Whether a query has an interactions block ('interactions') or names an attribute."""
    if isinstance(query, Mapping):
        if what == "interactions" and query.get("root") == "interactions":
            return True
        if query.get("attribute") == what:
            return True
        return any(_uses(v, what) for v in query.values())
    if isinstance(query, list):
        return any(_uses(v, what) for v in query)
    return False


def _purchase_values(pop: Population) -> np.ndarray:
    """What a contact's purchase in the run is worth: its average past purchase (else the population's median
    past purchase, else 50)."""
    assert pop.source is not None
    base = pop.source.base
    inter = base.interactions
    buys = inter.kind == INTERACTION_KINDS.index("purchase")
    count = np.bincount(inter.contact[buys], minlength=base.n).astype(np.float64)
    lv = base.column("lifetime_value")
    lv = np.asarray(lv, dtype=np.float64) if isinstance(lv, np.ndarray) else np.full(base.n, np.nan)
    past = inter.value[buys]
    past = past[~np.isnan(past) & (past > 0)]
    typical = float(np.median(past)) if len(past) else 50.0
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(count > 0, lv / np.maximum(count, 1), np.where(lv > 0, lv, typical))
    return np.round(np.where(np.isnan(avg) | (avg <= 0), typical, avg), 2)


def build_world(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int) -> World:
    """The world of one run (see the module docstring)."""
    names = list(dict.fromkeys([*plan_segments(plan), *(m.segment for m in behaviour.multipliers if m.segment)]))
    source = pop.source
    definitions = {n: source.definitions[n] for n in names if source is not None and n in source.definitions}
    for name in names:
        if name not in definitions and name not in pop.segments:
            have = ", ".join(sorted({*pop.segments, *definitions})) or "none"
            raise KeyError(f"the population has no segment '{name}' (it has: {have})")
    fixed: dict[str, TimeSet] = {n: pop.segments[n] for n in names if n not in definitions}

    # membership at the start (no simulated event has happened yet) serves the multipliers of the calibration
    plain: Evaluator | None = None
    start_segments: dict[str, TimeSet] = dict(fixed)
    multiplier_segments = [m.segment for m in behaviour.multipliers if m.segment]
    if source is not None:
        plain = Evaluator(source.base, source.custom, w0=source.w0)
        for name in multiplier_segments:
            if name in definitions:
                start_segments[name] = plain.segment(definitions[name])

    def member_at_start(segment: str, rows: np.ndarray, t: int) -> np.ndarray:
        return start_segments[segment].member_at(rows, t)

    steps = {s.id: s.channel or "" for s in plan.steps if s.kind == Kind.MESSAGE}
    effects = effect_events(plan, behaviour)
    events = tuple(dict.fromkeys([*plan.events, *(e for e in effects if not e.startswith("segment:"))]))
    calibrated, calibration = calibrate(behaviour, pop, at=plan.start, events=events, member=member_at_start,
                                        steps=steps)

    # background event sequences for the kinds that feed segments
    feed: list[str] = []
    if any(_uses(d.query, "interactions") for d in definitions.values()):
        feed += list(INTERACTION_KINDS)
    if any(_uses(d.query, a) for d in definitions.values() for a in ("last_purchase_date", "lifetime_value")):
        feed.append("purchase")
    sequences: dict[str, EventTimes] = {}
    world = World(plan, pop, behaviour, calibrated, calibration, seed, dict(start_segments), None, sequences,
                  effects)
    for kind in dict.fromkeys(feed):
        rate = calibrated.event_rates.get(kind, 0.0) / DAY
        if rate <= 0.0:
            continue
        mult = world.rate_multiplier(kind)
        per_row = np.full(len(pop), rate) if mult is None else mult * rate
        sequences[kind] = event_sequence(pop.contact_id, per_row, seed, kind, plan.start, plan.horizon)

    segments = dict(fixed)
    world.sensitive = frozenset(name for name, d in definitions.items()
                                if _uses(d.query, "interactions") or _uses(d.query, "last_purchase_date")
                                or _uses(d.query, "lifetime_value"))
    if source is not None and definitions:
        # what a purchase is worth only counts for segments on lifetime value or on interactions (their value);
        # one on the last purchase date alone needs its moment (working the values out was a tenth of a run)
        valued = any(_uses(d.query, "lifetime_value") or _uses(d.query, "interactions") for d in definitions.values())
        simulated = _simulated_interactions(pop, sequences, world._purchase_value_table()
                                            if "purchase" in sequences and valued else None, valued=valued)
        evaluator = Evaluator(source.base, source.custom, w0=source.w0, simulated=simulated) \
            if simulated is not None else plain
        assert evaluator is not None
        for name, definition in definitions.items():
            segments[name] = evaluator.segment(definition)
    world.segments = segments
    world.audience = _audience(plan, segments, len(pop))
    return world


def _simulated_interactions(pop: Population, sequences: Mapping[str, EventTimes],
                            values: np.ndarray | None, *, valued: bool = True) -> Interactions | None:
    """The contacts' own events of interaction kinds, as interactions (purchases worth `values` per row; no value
    when not `valued`)."""
    parts = [(kind, seq) for kind, seq in sequences.items() if kind in INTERACTION_KINDS and len(seq.owner)]
    if not parts:
        return None
    if valued and values is None and any(kind == "purchase" for kind, _ in parts):
        values = _purchase_values(pop)
    who = np.concatenate([seq.owner for _, seq in parts])
    at = np.concatenate([seq.at for _, seq in parts])
    kind = np.concatenate([np.full(len(seq.owner), INTERACTION_KINDS.index(k), np.int8) for k, seq in parts])
    value = np.concatenate([values[seq.owner] if k == "purchase" and values is not None
                            else np.full(len(seq.owner), np.nan) for k, seq in parts])
    if len(parts) == 1:  # one kind: its sequence is in (contact, time) order already (event_sequence)
        return Interactions(who, kind, at, value)
    order = np.lexsort((at, who))
    return Interactions(who[order], kind[order], at[order], value[order])


def _audience(plan: Plan, segments: Mapping[str, TimeSet], n: int) -> TimeSet | None:
    """The journey's audience over time: its segments (union or intersection) minus its exclusions."""
    aud = plan.audience
    if not aud.segments and not aud.exclude:
        return None
    if aud.segments:
        parts = [segments[s] for s in aud.segments]
        result = parts[0]
        for p in parts[1:]:
            result = (result | p) if aud.combine == "union" else (result & p)
    else:
        result = TimeSet.static(np.ones(n, dtype=bool), plan.start)
    for name in aud.exclude:
        result = result - segments[name]
    return result


__all__ = ["EventTimes", "World", "build_world", "effect_events", "event_sequence"]
