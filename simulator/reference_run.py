"""The reference run: the interpreter (reference.py) driven one unit at a time through an event loop.

Slow and plain on purpose: it is the oracle the vectorised engine is tested against. Entry is worked out per
contact in Python; each unit then lives in its own loop: events (predrawn with the shared behaviour functions)
become visible at their times, `advance` runs the moves of each moment, `exit_due` follows, and the unit
sleeps until its next wake-up, an event, or the cutoff.

Entry, per iteration: a contact enters if its consent reaches the journey's minimum and it is in the audience
(its segments combined, minus its exclusion segments; one-time and repeating: at the iteration's start;
ongoing: at the first moment from the start that it is, i.e. when it joins), before the cutoff. With no
audience segment, everyone is in the audience (less the exclusions). Segments come from the run's world
(simulator.world): evaluated from their definitions over time, the contacts' own events fed back. Targeting
accounts, the contacts of an account that enter at the account's first entry time form one unit (an account
enters once per iteration; a contact that qualifies later does not join it); contacts without an account are
units of their own.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from typing import Any

import numpy as np

from simulator.behaviour import BehaviourModel, contact_modifiers, message_events
from app.semantics.draws import SPLIT, SPLIT_ACCOUNT, hash_keys, stream, uniforms
from app.semantics.outcomes import COMPLETED, SENT
from app.semantics.plan import LINK_CLICK, Kind, Plan, StepPlan
from simulator.population import CategoryColumn, Population
from app.semantics.reference import (NEVER, ContactState, Move, UnitState, Wait, advance, apply, enter, exit_due,
                                     observe, observe_event, stop)
from simulator.trace import Trace, TraceBuilder
from simulator.world import World, build_world, effect_bits, trigger_times

MSG_EVENTS = ("delivered", "bounced", "opened", "clicked")


class UnitObserver:
    """What a caller of the unit loop may follow as a unit moves: simulator/story_teller.py tells one contact's
    story from these calls. Here every method does nothing (the reference run itself needs none of them)."""

    def trigger(self, pos: int, name: str, t: int) -> None:
        """The exit or goal event `name` of the unit's contact at `pos` is due at `t` (its own, not a message's)."""

    def moving(self, state: UnitState, index: int, arrived: int, move: Move) -> None:
        """The unit leaves step `index` (entered at `arrived`) by `move`: called before the move is applied."""

    def message(self, pos: int, row: int, step_index: int, move: Move, ev: Any, link: str | None) -> None:
        """What the contact at `pos` (population row `row`) does with the message of `step_index` it was sent (the
        drawn events; `link` the one clicked, if any)."""

    def moved(self) -> None:
        """The move announced by `moving` is applied (and its message, if any, sent)."""

    def reached_end(self, at: int, final: Move) -> None:
        """The unit reached the end of its path at `at`."""

    def exited(self, state: UnitState, ex: Move, drawn_conv: dict[int, int]) -> None:
        """An exit or goal event took the unit out while it waited at its step."""

    def cut_off(self, state: UnitState, final: Move, cutoff: int, horizon: bool) -> None:
        """The simulation's horizon (or the schedule's end) came while the unit waited at its step."""

    def finished(self, goal_at: int, reached: bool, final: Move) -> None:
        """The unit is done: when its goal came (NEVER if not) and whether it counts."""


_QUIET = UnitObserver()


class PopulationFacts:
    """Facts about contacts (population rows), read one value at a time from a Population and its World."""

    def __init__(self, pop: Population, world: World) -> None:
        self.pop, self.world = pop, world
        self.bought: dict[int, list[int]] = {}  # population row -> times of the purchases the journey caused

    def purchases(self, contact: int) -> tuple[np.ndarray, np.ndarray]:
        times = self.bought.get(contact, [])
        return np.full(len(times), contact, dtype=np.int64), np.array(times, dtype=np.int64)

    def member(self, contact: int, segment: str, t: int) -> bool:
        rows = np.array([contact])
        if self.world.feeds_back and contact in self.bought:
            return bool(self.world.member_with(segment, rows, t, *self.purchases(contact))[0])
        return bool(self.world.member(segment, rows, t)[0])

    def attribute(self, contact: int, name: str) -> Any:
        col = self.pop.attribute(name)
        if col is None:
            raise KeyError(f"the population has no attribute '{name}'")
        if isinstance(col, CategoryColumn):
            code = int(col.codes[contact])
            return col.values[code] if code >= 0 else None
        v = float(col[contact])
        return None if math.isnan(v) else v

    def timezone(self, contact: int) -> str | None:
        i = int(self.pop.tz[contact])
        return self.pop.timezones[i] if i >= 0 else None


def entry_time(plan: Plan, facts: PopulationFacts, row: int, iteration: int) -> int:
    """When contact `row` enters iteration `iteration` (NEVER if it does not): with enough consent, when it is
    in the audience (its segments combined, minus exclusions): at the iteration's start, or for an ongoing
    journey the first moment from the start that it is (when it joins)."""
    pop, aud = facts.pop, plan.audience
    if int(pop.consent[row]) < aud.min_consent:
        return NEVER
    begin = plan.iterations[iteration][0]
    audience = facts.world.audience
    rows = np.array([row])
    if audience is None:
        t = begin
    elif plan.frequency == "ongoing":
        t = int(audience.first_at_or_after(rows, begin)[0])
    else:
        inside = bool(audience.member_at(rows, begin)[0])
        if iteration > 0 and facts.world.feeds_back and row in facts.bought:  # the journey's own purchases
            inside = bool(facts.world.audience_with(rows, begin, *facts.purchases(row))[0])
        t = begin if inside else NEVER
    return t if t < plan.cutoff(iteration)[0] else NEVER


def run_reference(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int, *,
                  world: World | None = None) -> Trace:
    """Simulate every unit through the interpreter; the same trace as the engine, row order aside."""
    world = world if world is not None else build_world(plan, pop, behaviour, seed)
    facts = PopulationFacts(pop, world)
    out = TraceBuilder(plan)
    carried: dict[int, ContactState] = {}
    mods_cache: dict[int, Any] = {}
    for k in range(len(plan.iterations)):
        entries = [(row, entry_time(plan, facts, row, k)) for row in range(len(pop))]
        for members, t, account in _units(plan, pop, [(r, t) for r, t in entries if t < NEVER]):
            contacts = [carried.setdefault(r, ContactState(r)) for r in members]
            run_unit(plan, facts, world.behaviour, seed, k, contacts, t, account, out, mods_cache)
    return out.finish({"engine": "reference", "seed": seed, "effect_events": list(world.effect_events)})


def _units(plan: Plan, pop: Population, entries: list[tuple[int, int]]) -> list[tuple[list[int], int, int]]:
    if not plan.accounts:
        return [([r], t, -1) for r, t in entries]
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
    units = []
    for r, t in entries:
        acc = int(pop.account_id[r])
        if acc < 0:
            units.append(([r], t, -1))
        else:
            groups[acc].append((r, t))
    for acc, items in groups.items():
        first = min(t for _, t in items)
        units.append((sorted(r for r, t in items if t == first), first, acc))
    return units


def run_unit(plan: Plan, facts: PopulationFacts, behaviour: BehaviourModel, seed: int, k: int,
             contacts: list[ContactState], t0: int, account: int, out: TraceBuilder,
             mods_cache: dict[int, Any], observer: UnitObserver = _QUIET) -> None:
    """One unit (a contact, or an account's contacts that enter together) from its entry at `t0` to its end."""
    pop = facts.pop
    cutoff, horizon = plan.cutoff(k)
    state = enter(plan, contacts, k, t0)
    heap: list[tuple[int, int, str, Any]] = []
    seq = 0
    goal_name = plan.goal.name if plan.goal else None
    goal_at = NEVER
    drawn_unsub: dict[int, int] = {}
    drawn_conv: dict[int, int] = {}

    def push(t: int, kind: str, payload: Any) -> None:
        nonlocal seq, goal_at
        if t >= NEVER:
            return
        heapq.heappush(heap, (t, seq, kind, payload))
        seq += 1
        if kind == "contact" and payload[0] == goal_name:
            goal_at = min(goal_at, t)

    def mods(row: int) -> Any:
        if row not in mods_cache:
            mods_cache[row] = contact_modifiers(behaviour, pop, np.array([row]), plan.events, plan.start,
                                                facts.world.member)
        return mods_cache[row]

    for pos, c in enumerate(contacts):
        for trig in (*plan.exits, *([plan.goal] if plan.goal else [])):
            t = int(trigger_times(facts.world, trig, np.array([c.contact]), np.array([t0]), k)[0])
            push(t, "contact", (trig.name, pos))
            if t < NEVER:
                observer.trigger(pos, trig.name, t)

    def chance(step: StepPlan) -> float:
        if account >= 0:
            h = hash_keys(np.array([account]), stream(seed, step.key, SPLIT_ACCOUNT))
        else:
            h = hash_keys(pop.contact_id[contacts[0].contact:contacts[0].contact + 1], stream(seed, step.key, SPLIT))
        return float(uniforms(h)[0][0])

    def visit(step: int, t_enter: int, move: Move) -> None:
        for pos, c in enumerate(contacts):
            o = move.contact_outcomes[pos] if move.contact_outcomes is not None else move.outcome
            out.visits(np.array([c.contact]), k, step, np.array([t_enter]), np.array([move.at]), o)

    now = t0
    final: Move | None = None
    while final is None:
        while heap and heap[0][0] <= now:
            t, _, kind, payload = heapq.heappop(heap)
            if kind == "message":
                observe(state, payload[0], payload[1], t)
            else:
                observe_event(state, payload[0], t, contacts[payload[1]], *payload[2:])
        action: Wait | Move = Wait(NEVER)
        while final is None:
            action = advance(plan, facts, state, now, chance)
            if isinstance(action, Wait):
                break
            step_index, arrived = state.step, state.arrived
            assert step_index is not None
            observer.moving(state, step_index, arrived, action)
            visit(step_index, arrived, action)
            apply(plan, state, action)
            if plan.steps[step_index].kind == Kind.MESSAGE:
                _send(plan, facts, behaviour, seed, k, step_index, contacts, action, mods, push, drawn_unsub,
                      drawn_conv, out, observer)
            observer.moved()
            if action.next is None:
                final = action
            elif action.next == plan.end:
                final = Move(action.at, COMPLETED, None)
                visit(plan.end, action.at, final)
                observer.reached_end(action.at, final)
        if final is not None:
            break
        assert isinstance(action, Wait) and state.step is not None
        ex = exit_due(plan, state)
        if ex is not None:  # an exit event seen now (after this moment's moves)
            final = ex
            visit(state.step, state.arrived, ex)
            observer.exited(state, ex, drawn_conv)
            break
        wake = min(action.until, heap[0][0] if heap else NEVER)
        if wake >= cutoff:  # nothing happens at or after the cutoff
            final = stop(cutoff, horizon)
            visit(state.step, state.arrived, final)
            observer.cut_off(state, final, cutoff, horizon)
            break
        now = wake

    reached = goal_at < plan.goal_deadline(t0, cutoff)  # whether or not the unit has left (plan.goal_deadline)
    observer.finished(goal_at, reached, final)
    for pos, c in enumerate(contacts):
        caused = {"converted": np.array([drawn_conv.get(pos, NEVER)]),
                  "unsubscribed": np.array([drawn_unsub.get(pos, NEVER)])}
        with_bits, without_bits = effect_bits(facts.world, np.array([c.contact]), np.array([t0]),
                                              plan.goal_deadline(np.array([t0]), cutoff), k, caused)
        out.units(np.array([c.contact]), k, np.array([t0]), np.array([final.at]), np.array([final.outcome]),
                  np.array([goal_at if reached else NEVER]), with_bits, without_bits)


def _send(plan: Plan, facts: PopulationFacts, behaviour: BehaviourModel, seed: int, k: int, step_index: int,
          contacts: list[ContactState], move: Move, mods: Any, push: Any, drawn_unsub: dict[int, int],
          drawn_conv: dict[int, int], out: TraceBuilder, observer: UnitObserver = _QUIET) -> None:
    """Draw what each contact sent the message does, and schedule those events."""
    pop = facts.pop
    step = plan.steps[step_index]
    b = behaviour.for_step(step.id, step.channel or "")
    assert move.contact_outcomes is not None
    for pos, (c, o) in enumerate(zip(contacts, move.contact_outcomes)):
        if o != SENT:
            continue
        row = c.contact
        ev = message_events(b, seed, k, step.key, pop.contact_id[row:row + 1], np.array([move.at]), mods(row),
                            np.zeros(1, dtype=np.int64), len(step.links))
        for name in MSG_EVENTS:
            push(int(ev.get(name)[0]), "message", (step_index, name))
        link = None
        if ev.link is not None and ev.link[0] >= 0:  # the click is on one link: an if/then may name it
            link = step.links[int(ev.link[0])]
            push(int(ev.clicked[0]), "message", (step_index, f"{LINK_CLICK}{link}"))
        unsub = int(ev.unsubscribed[0])
        push(unsub, "contact", ("unsubscribed", pos, step.channel))
        drawn_unsub[pos] = min(drawn_unsub.get(pos, NEVER), unsub)
        # the channel cannot reach the contact from then on (this and later iterations): drawn now, compared
        # with each later send time, as the engine does
        c.block(step.channel, min(unsub, int(ev.hard_bounced[0])))
        push(int(ev.converted[0]), "contact", (behaviour.conversion_event, pos))
        drawn_conv[pos] = min(drawn_conv.get(pos, NEVER), int(ev.converted[0]))
        if facts.world.feeds_back and int(ev.converted[0]) < NEVER:
            facts.bought.setdefault(row, []).append(int(ev.converted[0]))
        out.messages(np.array([row]), k, step_index, np.array([move.at]),
                     {n: ev.get(n) for n in ("delivered", "opened", "clicked", "unsubscribed", "converted")})
        observer.message(pos, row, step_index, move, ev, link)
