"""The reference interpreter: the meaning of every tile, written once, as a pure state machine per unit.

A unit is one contact, or, when a journey targets accounts, the contacts of one account that enter together
(they take the same path at every branch; an action that creates a task, lead or workflow runs once for the
account). The live runner drives this same code; the simulator's reference run drives it with predrawn events
(reference_run.py), and the vectorised engine must agree with it to the second (tests/test_sim_differential.py).

The protocol, for a unit at a step since `arrived`, at time `now`:

- `advance(plan, facts, state, now, chance)` answers `Wait(until)` (call again then, or when an event arrives)
  or `Move(at, ...)` (the unit leaves its step at `at`); `apply` commits a move. A driver calls `advance` until
  it waits, so a chain of instant steps runs at one moment.
- `observe` / `observe_event` record events as they happen; the interpreter never looks at future events.
- After the moves of a moment, `exit_due` says whether an exit condition was met (actions at time t happen
  before exits at time t). A driver stops the unit at the iteration's cutoff (schedule end, next repetition,
  or the simulated horizon): nothing happens at or after it.

Step semantics:

- Message: the send slot is the arrival time, deferred past the journey's quiet hours in the unit's local time
  (its first contact's time zone, else the journey's). The unit waits at the step until the slot; then each
  contact is SUPPRESSED (in the suppression segment at that moment, or unreachable on the message's channel),
  CAPPED (the frequency cap's count of this journey's sends in the last `per` is reached) or SENT.
- Reachability is per channel (`ContactState.blocked`): an unsubscribe from an email stops email, an SMS STOP
  stops texts, an opt-out from push stops push; an unsubscribe that names no channel stops all. A hard bounce
  ends delivery to that address (its channel) for the rest of the run; a soft bounce does not.
- Wait: for a duration, or until a date (a date already past lets the unit through at once).
- If/then on an event of an earlier message: yes as soon as any contact of the unit has had it (at arrival if it
  already happened), provided that is within the time limit counted from the message's delivery (seed 000: "up
  to one day after receiving the email"); otherwise no when the limit runs out (at arrival, if it ran out
  before). A message not delivered within the limit after arrival ends the wait then (`event_limit`). A message
  the unit did not get on this path never has events.
- If/then on a condition or a segment: tested at arrival; an account answers yes if any of its contacts does.
  Missing data fails every test but `does_not_contain_data`; text comparisons ignore case.
- Split: a uniform draw keyed by the contact (or the account) and the step, not the iteration, so a contact
  keeps its path across repetitions; above the paths' cumulative shares it is held out and leaves. An A/B split
  with a test period, once decided (`StepPlan.route`, app/semantics/ab_test.py), sends every unit arriving from
  its decision time on down the chosen path, except those the draw holds out.
- Action: done at once; per account when the journey targets accounts (tasks, leads, workflows).
- Exit tile: the unit goes to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, Sequence

from app.semantics.outcomes import (CAPPED, DONE, EXITED, GOAL, HOLDOUT, NO, PASSED, SENT, SHARED, STOPPED, SUPPRESSED,
                                WAITING, YES, path)
from app.semantics.plan import Condition, Kind, Plan, StepPlan
from app.semantics.timezones import utc_offset

NEVER = 1 << 62
DAY = 86_400


class Facts(Protocol):
    """What the interpreter may ask about contacts (the simulator answers from a Population)."""

    def member(self, contact: int, segment: str, t: int) -> bool: ...
    def attribute(self, contact: int, name: str) -> Any: ...
    def timezone(self, contact: int) -> str | None: ...


CHANNELS: tuple[str, ...] = ("email", "sms", "push")


@dataclass
class ContactState:
    """What a journey remembers of one contact across its iterations: its sends (for the frequency cap) and,
    per channel, from when it cannot be reached there (an opt-out or a hard bounce)."""

    contact: int
    sends: list[int] = field(default_factory=list)
    blocked: dict[str, int] = field(default_factory=dict)

    def block(self, channel: str | None, t: int) -> None:
        """The contact cannot be reached on `channel` (every channel when None) from `t` on."""
        for ch in (channel,) if channel else CHANNELS:
            if t < self.blocked.get(ch, NEVER):
                self.blocked[ch] = t

    def reachable(self, channel: str, t: int) -> bool:
        return self.blocked.get(channel, NEVER) > t


@dataclass
class UnitState:
    """A unit on its way through one iteration: where it is, since when, and the events it has seen."""

    contacts: list[ContactState]
    iteration: int
    entered_at: int
    step: int | None
    arrived: int
    events: dict[tuple[int, str], int] = field(default_factory=dict)  # (message step, event) -> first time
    contact_events: dict[str, int] = field(default_factory=dict)  # contact event name -> first time


@dataclass(frozen=True)
class Wait:
    """Nothing to do before `until` (or before an event arrives)."""

    until: int


@dataclass(frozen=True)
class Move:
    """The unit leaves its step at `at` with `outcome` for `next` (a step, plan.end, or None: it leaves)."""

    at: int
    outcome: int
    next: int | None
    contact_outcomes: tuple[int, ...] | None = None


Action = Wait | Move
Chance = Callable[[StepPlan], float]


def enter(plan: Plan, contacts: Sequence[ContactState], iteration: int, t: int) -> UnitState:
    """A unit entering the journey's entry step at `t`."""
    return UnitState(list(contacts), iteration, t, plan.entry, t)


def observe(state: UnitState, step: int, event: str, t: int) -> None:
    """Record a message event (delivered, bounced, opened, clicked) of any of the unit's contacts."""
    key = (step, event)
    if t < state.events.get(key, NEVER):
        state.events[key] = t


def observe_event(state: UnitState, name: str, t: int, contact: ContactState | None = None,
                  channel: str | None = None) -> None:
    """Record a contact event (purchase, unsubscribed, segment:X:joins...); an unsubscribe also stops later
    messages on its `channel` (on every channel when it names none)."""
    if t < state.contact_events.get(name, NEVER):
        state.contact_events[name] = t
    if name == "unsubscribed" and contact is not None:
        contact.block(channel, t)


def send_slot(plan: Plan, zone: str, t: int) -> int:
    """The first moment at or after `t` outside the quiet hours, in local time of `zone`."""
    if plan.quiet is None:
        return t
    qs, qe = plan.quiet
    off = utc_offset(zone, t)
    sod = (t + off) % DAY
    inside = qs <= sod < qe if qs < qe else (sod >= qs or sod < qe)
    if not inside:
        return t
    t1 = t + (qe - sod) % DAY
    return t1 - (utc_offset(zone, t1) - off)  # the quiet end is local: correct for a change of offset meanwhile


def unit_zone(plan: Plan, facts: Facts, state: UnitState) -> str:
    return facts.timezone(state.contacts[0].contact) or plan.timezone


def _send_outcome(plan: Plan, facts: Facts, c: ContactState, s: int, channel: str) -> int:
    supp = plan.audience.suppress
    if not c.reachable(channel, s) or (supp is not None and facts.member(c.contact, supp, s)):
        return SUPPRESSED
    if plan.cap is not None:
        limit, per = plan.cap
        if sum(1 for x in c.sends if x > s - per) >= limit:
            return CAPPED
    return SENT


def advance(plan: Plan, facts: Facts, state: UnitState, now: int, chance: Chance) -> Action:
    """What the unit at its step does at `now`: wait, or move on."""
    assert state.step is not None and state.step < plan.end
    step = plan.steps[state.step]
    a = state.arrived
    k = step.kind
    if k == Kind.MESSAGE:
        s = send_slot(plan, unit_zone(plan, facts, state), a)
        if now < s:
            return Wait(s)
        outs = tuple(_send_outcome(plan, facts, c, s, step.channel or "") for c in state.contacts)
        return Move(s, PASSED, step.next[0], outs)
    if k in (Kind.WAIT_FOR, Kind.WAIT_UNTIL):
        t = a + step.seconds if k == Kind.WAIT_FOR else max(a, step.until)
        return Wait(t) if now < t else Move(t, PASSED, step.next[0])
    if k == Kind.IF_EVENT:
        seen = state.events.get((step.watch_step, step.watch_event), NEVER)
        limit = event_limit(a, state.events.get((step.watch_step, "delivered"), NEVER), step.seconds)
        if seen <= min(now, limit):
            return Move(max(a, seen), YES, step.next[0])
        return Wait(limit) if now < limit else Move(max(a, limit), NO, step.next[1])
    if k in (Kind.IF_CONDITION, Kind.IF_SEGMENT):
        if k == Kind.IF_SEGMENT:
            yes = any(facts.member(c.contact, step.segment or "", a) for c in state.contacts)
        else:
            assert step.condition is not None
            yes = any(condition_holds(step.condition, facts.attribute(c.contact, step.condition.attribute), a)
                      for c in state.contacts)
        return Move(a, YES, step.next[0]) if yes else Move(a, NO, step.next[1])
    if k == Kind.SPLIT:
        u = chance(step)
        if step.route >= 0 and step.ab is not None and a >= step.ab.decide_at and u < step.thresholds[-1]:
            return Move(a, path(step.route), step.next[step.route])  # an A/B test's decision (held out stay out)
        for i, threshold in enumerate(step.thresholds):
            if u < threshold:
                return Move(a, path(i), step.next[i])
        return Move(a, HOLDOUT, None)
    if k == Kind.ACTION:
        n = len(state.contacts)
        outs = (DONE,) + (SHARED if step.per_account else DONE,) * (n - 1)
        return Move(a, PASSED, step.next[0], outs)
    return Move(a, PASSED, plan.end)  # exit tile


def event_limit(arrived: int, delivered: int, seconds: int) -> int:
    """When an if/then on a message event stops waiting: `seconds` after the message was delivered (seed 000:
    "up to one day after receiving the email"). A message not delivered by `seconds` after the unit's arrival
    (bounced, suppressed, not sent on this path, or slower than the limit) ends the wait then."""
    fallback = arrived + seconds
    return delivered + seconds if delivered <= fallback else fallback


def apply(plan: Plan, state: UnitState, move: Move) -> None:
    """Commit a move: remember sends (for the frequency cap) and put the unit on its next step."""
    if move.contact_outcomes is not None:
        for c, o in zip(state.contacts, move.contact_outcomes):
            if o == SENT:
                c.sends.append(move.at)
    state.step = move.next
    state.arrived = move.at


def exit_due(plan: Plan, state: UnitState) -> Move | None:
    """The unit leaves on the first exit condition seen: GOAL when that event is the journey's goal."""
    first = NEVER
    for trig in plan.exits:
        first = min(first, state.contact_events.get(trig.name, NEVER))
    if first >= NEVER:
        return None
    goal = plan.goal is not None and plan.goal.name in {t.name for t in plan.exits} \
        and state.contact_events.get(plan.goal.name, NEVER) <= first
    return Move(first, GOAL if goal else EXITED, None)


def stop(at: int, horizon: bool) -> Move:
    """Processing ends at `at`: the horizon (still waiting) or the schedule / iteration end (stopped)."""
    return Move(at, WAITING if horizon else STOPPED, None)


# --- conditions -----------------------------------------------------------------------------------------

def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return float(v) if isinstance(v, bool) else None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
        try:  # a date or date-time, read as UTC
            d = datetime.fromisoformat(v)
        except ValueError:
            return None
        return d.replace(tzinfo=d.tzinfo or timezone.utc).timestamp()
    return None


def _text(v: Any) -> str:
    return str(v).casefold()


def condition_holds(cond: Condition, value: Any, now: int) -> bool:
    """Whether an attribute value passes an if/then condition at time `now` (dates are UTC seconds)."""
    op, ref = cond.op, cond.value
    if op == "contains_data":
        return value is not None
    if op == "does_not_contain_data":
        return value is None
    if value is None:
        return False
    if isinstance(value, str):
        v = _text(value)
        if op == "equals":
            return v == _text(ref)
        if op == "not_equals":
            return v != _text(ref)
        if op == "in":
            return v in {_text(x) for x in (ref or [])}
        if op == "contains":
            return _text(ref) in v
        if op == "does_not_contain":
            return _text(ref) not in v
        if op == "begins_with":
            return v.startswith(_text(ref))
        if op == "ends_with":
            return v.endswith(_text(ref))
        raise ValueError(f"operator '{op}' does not apply to text")
    x = float(value)
    if op in ("in_last_days", "not_in_last_days"):
        inside = now - float(ref) * DAY <= x <= now
        return inside if op == "in_last_days" else not inside
    if op == "between":
        lo, hi = (_number(r) for r in ref)
        return lo is not None and hi is not None and lo <= x <= hi
    r = _number(ref)
    if r is None:
        return False
    return {"equals": x == r, "not_equals": x != r, "less_than": x < r, "at_most": x <= r,
            "greater_than": x > r, "at_least": x >= r}[op]
