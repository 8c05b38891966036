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

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from app.audience.base import Interactions
from app.audience.evaluate import Evaluator
from app.audience.timesets import TimeSet, _SPAN, _owner_range
from app.model.attributes import CONTACT_EVENTS, INTERACTION_KINDS
from simulator.behaviour import BehaviourModel, Modifiers, background_times, positive_waits
from simulator.calibration import Calibration, start_calibration
from app.semantics.draws import BACKGROUND, NEVER, hash_keys, name_key, stream, uniform
from app.semantics.plan import Kind, Plan, TriggerPlan
from app.semantics.timezones import OffsetTable
from simulator.population import Population, plan_segments

DAY = 86_400
T = TypeVar("T")
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


def first_in_range(ts: TimeSet, start: int, stop: int, t: int) -> np.ndarray:
    """`ts.first_at_or_after(np.arange(start, stop), t)` for one time `t`: the first moment at or after t each of
    the owners start..stop-1 is a member (NEVER if none), read from their spans in one pass (no search per owner).

    A set's spans are sorted by (owner, start), apart and not touching: an owner's first span that ends after t
    holds t (then t) or starts after it (then its start)."""
    tt = max(int(t), ts.w0)
    a, b = _owner_range(ts.owner, np.array([start, stop - 1]))
    if b > a and max(tt, int(ts.lo[a:b].max())) - ts.w0 >= _SPAN - 1:  # times its keys clip: as the set reads them
        return ts.first_at_or_after(np.arange(start, stop, dtype=np.int64), t)
    out = np.full(stop - start, NEVER, dtype=np.int64)
    if b > a:
        alive = np.flatnonzero(ts.hi[a:b] > tt)
        alive += a
        owner = np.take(ts.owner, alive)
        first = np.ones(len(owner), dtype=bool)
        np.not_equal(owner[1:], owner[:-1], out=first[1:])
        pick = np.compress(first, alive)
        owner = np.compress(first, owner)
        owner -= start
        np.put(out, owner, np.maximum(np.take(ts.lo, pick), tt))
    out[ts.full[start:stop]] = tt
    return out


def event_sequence(keys: np.ndarray, rate_per_second: np.ndarray, seed: int, event: str, start: int,
                   end: int) -> EventTimes:
    """Every event of a Poisson process per contact in [start, end): the k-th waiting time is a counter-based
    draw keyed by (seed, contact id, event, k), so a contact's events do not depend on who else is simulated."""
    rate = np.asarray(rate_per_second, dtype=np.float64)
    positive = rate > 0.0
    everyone = bool(positive.all())  # (the common case) the first round draws for every row, as they are
    active = np.arange(len(rate)) if everyone else np.flatnonzero(positive)
    cur = np.full(len(active), start, dtype=np.int64)
    owners, times = [], []
    k = 0
    base = name_key(event)
    while active.size and k < MAX_ROUNDS:
        whole = everyone and k == 0
        u = uniform(hash_keys(keys if whole else np.take(keys, active), stream(seed, BACKGROUND, base, -1 - k)))
        cur = cur + positive_waits(u, rate if whole else np.take(rate, active))  # (a new array: `times` keeps the last)
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
    _values: np.ndarray | None = None
    _own: Interactions | None = None
    offsets: OffsetTable | None = None  # the contacts' zones' UTC offsets over the run (`offset_table`)

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

    def event_first(self, event: str, rows: np.ndarray, t: np.ndarray, iteration: int,
                    taken: dict[Any, np.ndarray | None] | None = None) -> np.ndarray:
        """The first time at or after `t` each contact does `event` on its own (NEVER: not before the horizon).

        `taken` keeps the rows' contact ids and rate multipliers between calls for the same rows (events whose
        multipliers are alike share them)."""
        rows = np.asarray(rows, dtype=np.int64)
        if event in self.sequences:
            return self.sequences[event].first_at_or_after(rows, t)
        if self.behaviour.event_rates.get(event, 0.0) <= 0.0:  # never, whatever the multipliers
            return np.full(len(rows), NEVER, dtype=np.int64)
        kept = {} if taken is None else taken
        ids = kept.get("ids")
        if ids is None:
            ids = kept["ids"] = np.take(self.pop.contact_id, rows)
        return background_times(self.behaviour, self.seed, iteration, event, ids, np.asarray(t, dtype=np.int64),
                                self._multipliers_at(event, rows, kept))

    def _multipliers_at(self, event: str, rows: np.ndarray, kept: dict[Any, np.ndarray | None]) -> np.ndarray | None:
        """Each contact's multiplier of the event's rate (None: 1 for everyone), for `rows` alone (a contact's is
        its own), once for the events whose multipliers are alike (engagement's alone, most often)."""
        key = ("rate", tuple(m for m in self.behaviour.multipliers if m.target == f"event:{event}" and m.factor != 1.0))
        if key not in kept:
            mods = Modifiers(self.behaviour, self.pop, rows, (), self.plan.start, self.member, eager=False)
            kept[key] = mods.rate(event)
        return kept[key]


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
    taken: dict[Any, np.ndarray | None] = {}  # the rows' ids and multipliers, taken once for every event
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
    calibrating = start_calibration(behaviour, pop, at=plan.start, events=events, member=member_at_start)
    rated = calibrating.with_rates()  # the background events need the calibrated rates alone
    sensitive = frozenset(name for name, d in definitions.items()
                          if _uses(d.query, "interactions") or _uses(d.query, "last_purchase_date")
                          or _uses(d.query, "lifetime_value"))
    # background event sequences for the kinds that feed segments
    feed: list[str] = []
    if any(_uses(d.query, "interactions") for d in definitions.values()):
        feed += list(INTERACTION_KINDS)
    if any(_uses(d.query, a) for d in definitions.values() for a in ("last_purchase_date", "lifetime_value")):
        feed.append("purchase")
    kinds = [k for k in dict.fromkeys(feed) if rated.event_rates.get(k, 0.0) > 0.0]
    sequences: dict[str, EventTimes] = {}
    world = World(plan, pop, behaviour, rated, Calibration(), seed, dict(start_segments), None, sequences, effects,
                  sensitive)

    # Two threads share the work: this one draws the background events (the first half of the contacts') and
    # evaluates the segments they feed; the other draws the second half's events first, then calibrates the
    # channels' figures, works out the time zones' offsets and evaluates the segments no simulated event changes
    # (what it has not started when this one is done, this one does). The same world as one thread makes, in
    # less time; errors are raised as the work done in order would raise them.
    with _Beside() as beside:
        n = len(pop)
        mid = n // 2 if beside.parallel and n >= 2 * SPLIT_AT else n
        later = {kind: beside.run(_sequence_part, world, kind, mid, n) for kind in kinds if mid < n}
        channels = beside.run(calibrating.finish, steps)
        table = beside.run(offset_table, plan, pop)
        # an Evaluator of its own for the other thread (an evaluator keeps what it worked out)
        fixed_by_definition = {name: beside.run(Evaluator(source.base, source.custom, w0=source.w0).segment, d)
                               for name, d in definitions.items() if name not in sensitive} \
            if source is not None else {}
        try:
            for kind in kinds:
                parts = [(0, _sequence_part(world, kind, 0, mid))] + ([(mid, later[kind].result())] if mid < n else [])
                sequences[kind] = _joined(parts, plan.start)
            evaluated = _sensitive_segments(world, definitions, plain)
        except Exception:
            channels.result()  # a calibration error comes first, as it did when the calibration ran first
            raise
        world.behaviour, world.calibration = channels.result()
        world.offsets = table.result()
        segments = dict(fixed)
        for name in definitions:  # in the definitions' order: the first that cannot be evaluated is the one said
            got = evaluated[name] if name in sensitive else fixed_by_definition[name].result()
            if isinstance(got, Exception):
                raise got
            segments[name] = got
    world.segments = segments
    world.audience = _audience(plan, segments, len(pop))
    return world


SPLIT_AT = 65_536  # contacts: from twice this, the background events are drawn in two halves on two threads
SEQUENCE_BLOCK = 1 << 20  # contacts whose background events are drawn at once (float64 arrays of 8 MB)


def _sequence_part(world: World, kind: str, lo: int, hi: int) -> EventTimes:
    """The background events of `kind` of population rows lo..hi-1 (owners counted from lo) over the run, at the
    calibrated rate (world.behaviour's event rates) times each contact's multiplier; drawn a block of rows at a
    time (a block's arrays stay below glibc's largest mmap threshold: reused, not fresh pages to fault in)."""
    pop, plan = world.pop, world.plan
    rate = world.behaviour.event_rates.get(kind, 0.0) / DAY
    parts = []
    for a in range(lo, hi, SEQUENCE_BLOCK):
        b = min(a + SEQUENCE_BLOCK, hi)
        rows = np.arange(a, b, dtype=np.int64)
        # multipliers read segments at the journey's start (the world's segments are those while it is made)
        mult = Modifiers(world.behaviour, pop, rows, (), plan.start, world.member, eager=False).rate(kind)
        per_row = np.full(b - a, rate) if mult is None else mult * rate
        parts.append((a - lo, event_sequence(pop.contact_id[a:b], per_row, world.seed, kind, plan.start,
                                             plan.horizon)))
    return _joined(parts, plan.start) if parts else EventTimes(np.zeros(0, np.int64), np.zeros(0, np.int64),
                                                               plan.start)


def _joined(parts: list[tuple[int, EventTimes]], start: int) -> EventTimes:
    """Sequences of consecutive ranges of rows (each from its first row) as one (a contact's draws are its own:
    the same as one sequence over all the rows)."""
    if len(parts) == 1 and parts[0][0] == 0:
        return parts[0][1]
    return EventTimes(np.concatenate([p.owner + lo for lo, p in parts]), np.concatenate([p.at for _, p in parts]),
                      start)


def _sensitive_segments(world: World, definitions: Mapping[str, Any],
                        plain: Evaluator | None) -> dict[str, TimeSet | Exception]:
    """The segments a simulated event changes (world.sensitive), evaluated with the world's background events (each
    one's error in its place, to be raised in the definitions' order)."""
    pop, sequences = world.pop, world.sequences
    source = pop.source
    segments: dict[str, TimeSet | Exception] = {}
    if source is not None and world.sensitive:
        # what a purchase is worth only counts for segments on lifetime value or on interactions (their value);
        # one on the last purchase date alone needs its moment (working the values out was a tenth of a run)
        valued = any(_uses(d.query, "lifetime_value") or _uses(d.query, "interactions") for d in definitions.values())
        simulated = _simulated_interactions(pop, sequences, world._purchase_value_table()
                                            if "purchase" in sequences and valued else None, valued=valued)
        evaluator = Evaluator(source.base, source.custom, w0=source.w0, simulated=simulated) \
            if simulated is not None else plain
        assert evaluator is not None
        for name, definition in definitions.items():
            if name in world.sensitive:
                try:
                    segments[name] = evaluator.segment(definition)
                except Exception as e:  # noqa: BLE001 - raised in the definitions' order by build_world
                    segments[name] = e
    return segments


def offset_table(plan: Plan, pop: Population) -> OffsetTable:
    """The UTC offsets of the contacts' time zones, and of the journey's (the last row), over the run's window
    with two days either side: the engine's quiet hours read them."""
    return OffsetTable([*pop.timezones, plan.timezone], plan.start - 2 * DAY, plan.horizon + 2 * DAY)


class _Beside:
    """Work run on a second thread beside the caller's, in the order it is handed over; what the thread has not
    started when the caller asks for it, the caller does itself. With the engine on one thread
    (simulator.engine.WORKERS), the caller does it all, when it asks."""

    parallel = False

    def __enter__(self) -> _Beside:
        from simulator import engine  # (it imports this module) its thread count, which a sweep's workers set
        self._pool = ThreadPoolExecutor(max_workers=1) if engine.WORKERS > 1 else None
        self.parallel = self._pool is not None
        return self

    def run(self, fn: Callable[..., T], *args: Any) -> _Task[T]:
        """fn(*args), on the other thread if it gets to it first."""
        return _Task(fn, args, self._pool.submit(fn, *args) if self._pool is not None else None)

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._pool is not None:  # on an error, what has not started yet is not started
            self._pool.shutdown(wait=True, cancel_futures=kind is not None)


class _Task(Generic[T]):
    """A piece of work handed to `_Beside`."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], future: Future[T] | None) -> None:
        self._fn, self._args, self._future = fn, args, future
        self._done: tuple[T] | None = None

    def result(self) -> T:
        """What the work gives (its error raised), done here unless the other thread started it."""
        if self._done is None:
            if self._future is not None and not self._future.cancel():
                self._done = (self._future.result(),)
            else:
                self._done = (self._fn(*self._args),)
        return self._done[0]


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
