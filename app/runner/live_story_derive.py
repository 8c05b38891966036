"""A live contact's path re-derived: the one-contact reference interpreter (app/semantics/reference.py) run again for
the contact, as the runner's workflow ran it, so the live story tells every step (waits and branches included),
when it was entered and left, and why.

What it is fed: the contact's facts from the run's contacts database (named by the runner's `worker` setting), the
events the runner's endpoint took for it (its outbox rows, at their simulated moments), the split draws
(app/runner/unit.py `split_draw`, with the run's seed), the A/B decisions kept in the runner's state, and how each
send ended there (a send the runner's own cap or the transport held back is counted as the runner counted it).
It stops at the run's "now" (its clock, or its end): a contact still in the journey waits where it is.

The derived path is then checked against the state: each send the state holds must be a message step the path sent
at the same simulated moment, give or take the runner's lag; a derived send the state does not hold (before now)
is a disagreement too. Facts are read as they are now (an attribute changed since the contact went through an
if/then reads its new value), which is one reason the two may disagree; the story says so when they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from app.model.registry import PATH_NAMES
from app.semantics.outcomes import CAPPED, COMPLETED, EXITED, GOAL, HOLDOUT, LABELS, NO, SENT, STOPPED, SUPPRESSED, YES
from app.semantics.plan import CHANNEL_EVENTS, LINK_CLICK, MESSAGE_EVENT_NAMES, STEP_EVENTS, Kind, Plan, with_route
from app.semantics.reference import (NEVER, ContactState, Move, UnitState, Wait, advance, apply, condition_holds,
                                     enter, event_limit, exit_due, observe, observe_event, send_slot, unit_zone)

if TYPE_CHECKING:
    from app.runner.contacts import ContactsDb

LAG_REAL = 10.0  # real seconds the runner may lag behind its clock (a send's moment is its slot; steps after drift)
MIN_LAG = 60  # simulated seconds allowed at least (and all a rehearsal gets: its moments are exact)


@dataclass(frozen=True)
class Visit:
    """One step of the derived path: entered, left (None: still there at the run's now), how, and why."""

    iteration: int
    step: str
    entered: int
    left: int | None
    outcome: str
    why: str


@dataclass
class Derived:
    """The derived path of a contact, and how it compares with the runner's state."""

    visits: list[Visit]
    now: int
    agrees: bool
    compare: str
    notes: list[str] = field(default_factory=list)


class DbFacts:
    """The interpreter's Facts from the contacts database (as the runner's local activities answer them; the runner
    parity tests drive the interpreter with it too)."""

    def __init__(self, db: ContactsDb, r: Any) -> None:
        self.db, self.r = db, r

    def member(self, contact: int, segment: str, t: int) -> bool:
        return bool(self.db.member(self.r, contact, segment, t))

    def attribute(self, contact: int, name: str) -> Any:
        return self.db.attribute(contact, name)

    def timezone(self, contact: int) -> str | None:
        row = self.db.contact(contact)
        tz = row.get("time_zone") if row else None
        return str(tz) if tz else None


def _hm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _span(seconds: int) -> str:
    for unit, n in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= n and seconds % n == 0:
            k = seconds // n
            return f"{k} {unit}{'s' if k != 1 else ''}"
    return f"{seconds} seconds"


def derive(r: Any, db: ContactsDb, contact: int, entered: list[tuple[int, int]], sends: list[tuple[int, str, str, int]],
           events: list[tuple[int, dict[str, Any]]], routes: dict[str, dict[str, Any]], now: int, scale: float,
           seed: int, when: Any, script: list[dict[str, Any]] | None = None,
           moved: dict[int, str] | None = None) -> Derived:
    """The contact's derived path in each iteration it entered. `sends`: the state's (iteration, step, status,
    moment); `events`: its outbox events per iteration; `routes`: A/B decisions by step id; `when`: moment -> text;
    `script`: a rehearsal's items for the contact (app/runner/rehearsal.py: events its workflow made up itself,
    which never reach the outbox); `moved`: iteration -> the step the contact was moved to from the previous
    version (it entered there)."""
    plan: Plan = r.plan
    for sid, d in routes.items():
        route = d.get("route")
        idx = next((s.index for s in plan.steps if s.id == sid), None)
        if idx is not None and isinstance(route, str) and route in PATH_NAMES[:len(plan.steps[idx].thresholds)]:
            plan = with_route(plan, idx, PATH_NAMES.index(route))
    facts = DbFacts(db, r)
    person = ContactState(contact)
    held = {(k, step): (status, at) for k, step, status, at in sends}
    visits: list[Visit] = []
    notes: list[str] = []
    for k, at in sorted(entered):
        if k >= len(plan.iterations):
            notes.append(f"repetition {k + 1} is not in the package's schedule: not derived")
            continue
        visits.extend(_iteration(plan, facts, person, k, at, [e for i, e in events if i == k], held, now, seed, when,
                                 script or [], (moved or {}).get(k)))
    looked = [t.segment for t in plan.exits if t.segment]
    if looked:
        notes.append("an exit on joining or leaving a segment (" + ", ".join(f"'{x}'" for x in looked) + ") is not "
                     "re-derived: the runner looks at it every poll, at moments its state does not keep; if the "
                     "contact left that way, the derived path goes on where the runner's stopped")
    tol = MIN_LAG if script is not None else max(MIN_LAG, int(LAG_REAL * scale))
    derived = {(v.iteration, v.step): v for v in visits if v.outcome == "sent"}
    gaps, wrong = [], []
    unheld: set[tuple[int, str]] = set()
    names = {s.id: s.name for s in plan.steps}
    for k, step, status, at in sends:
        if status != "sent":
            continue
        v = derived.get((k, step))
        if v is None or v.left is None:
            wrong.append(f"the state holds a send of '{names.get(step, step)}' at {when(at)} that the derived path "
                         "does not make")
        elif abs(v.left - at) > tol:
            wrong.append(f"'{names.get(step, step)}' was sent at {when(at)}, the derived path sends it at "
                         f"{when(v.left)}")
        else:
            gaps.append(abs(v.left - at))
    for (k, step), v in derived.items():
        if v.left is not None and v.left <= now and held.get((k, step), ("", 0))[0] != "sent":
            wrong.append(f"the derived path sends '{names.get(step, step)}' at {when(v.left)}; the state holds no "
                         "such send")
            unheld.add((k, step))
    n = sum(1 for s in sends if s[2] == "sent")
    if wrong:
        compare = ("The derived path DISAGREES with the runner's state: " + "; ".join(wrong) + " (the facts are read "
                   "as they are now, and an event the endpoint took late may have come after the runner decided); "
                   "the steps told are the derived ones, the sends and events are the state's")
    elif n:
        which = f"each of its {n} sends" if n > 1 else "its send"
        apart = "at the same simulated second" if not max(gaps) else f"at most {max(gaps)} s apart"
        compare = (f"The derived path agrees with the runner's state: {which} is a message step the path sent, "
                   f"{apart} (the runner's lag allowed: {tol} s)")
    else:
        compare = "The derived path agrees with the runner's state: neither sends the contact anything (so far)"
    visits = [replace(v, why=v.why + " (derived: the state holds no such send)") if (v.iteration, v.step) in unheld
              else v for v in visits]
    return Derived(visits, now, not wrong, compare, notes)


def _iteration(plan: Plan, facts: DbFacts, person: ContactState, k: int, entered: int, events: list[dict[str, Any]],
               held: dict[tuple[int, str], tuple[str, int]], run_now: int, seed: int, when: Any,
               script: list[dict[str, Any]], start_step: str | None = None) -> list[Visit]:
    import bisect

    from app.runner.unit import split_draw
    cutoff = plan.cutoff(k)[0]
    horizon = min(cutoff, run_now)
    state = enter(plan, [person], k, entered)
    if start_step is not None:  # moved here from the previous version's run: it enters at that step (unit.py)
        state.step = next((s.index for s in plan.steps if s.id == start_step), plan.entry)
    pending = sorted([*events, *({"name": str(i["event"]), "at": plan.start + int(i["at"])} for i in script
                                 if "at" in i)], key=lambda e: int(e["at"]))
    sent: dict[int, int] = {}
    out: list[Visit] = []
    by_id = {s.id: s for s in plan.steps}

    def observe_due(t: int) -> None:
        while pending and int(pending[0]["at"]) <= t:
            e = pending.pop(0)
            name, at, sid = str(e["name"]), max(int(e["at"]), entered), e.get("step_id") or ""
            step = by_id.get(str(sid)) if sid else None
            if sid and name in CHANNEL_EVENTS:
                channel = step.channel if step is not None else None
                if name == "unsubscribed":
                    observe_event(state, name, at, person, channel)
                else:
                    person.block(channel, at)
                    if step is not None and step.index in sent:
                        observe(state, step.index, "bounced", max(at, sent[step.index]))
            elif sid:
                ev = name if name.startswith(LINK_CLICK) else MESSAGE_EVENT_NAMES.get(name)
                if ev is not None and step is not None and step.index in sent:
                    observe(state, step.index, ev, max(at, sent[step.index]))
            else:
                observe_event(state, name, at, person)

    def draw(s: Any) -> float:
        return split_draw(seed, s, person.contact)

    def visit(i: int, arrived: int, move: Move | None, why: str, outcome: str | None = None) -> None:
        sid = plan.steps[i].id if i < plan.end else "end"
        o = outcome or (LABELS[(move.contact_outcomes or (move.outcome,))[0]] if move is not None else "waiting")
        out.append(Visit(k, sid, arrived, move.at if move is not None else None, o, why))

    t = entered
    if t >= cutoff:
        visit(state.step if state.step is not None else plan.entry, t, Move(cutoff, STOPPED, None),
              "the repetition was over when it entered")
        return out
    while True:
        action: Wait | Move = Wait(NEVER)
        while True:
            observe_due(t)
            action = advance(plan, facts, state, t, draw)
            if isinstance(action, Wait):
                break
            i, arrived = state.step, state.arrived
            assert i is not None
            action, why = _explain(plan, facts, state, person, i, action, held, draw, when)
            visit(i, arrived, action, why)
            apply(plan, state, action)
            if plan.steps[i].kind == Kind.MESSAGE and SENT in (action.contact_outcomes or ()):
                sent[i] = action.at
                observe(state, i, "delivered", action.at)
                sid = plan.steps[i].id
                for item in (x for x in script if x.get("after") == sid):  # a rehearsal: what it does after it
                    at, name = action.at + int(item.get("delay", 0)), str(item["event"])
                    made = [{"name": name, "at": at, "step_id": sid if name in STEP_EVENTS else ""}]
                    if item.get("link"):
                        made.append({"name": f"{LINK_CLICK}{item['link']}", "at": at, "step_id": sid})
                    for e in made:
                        bisect.insort(pending, e, key=lambda x: int(x["at"]))
            if action.next is None:
                return out
            if action.next == plan.end:
                return out
            if t >= cutoff:
                visit(action.next, action.at, Move(cutoff, STOPPED, None), "the repetition's schedule ended")
                return out
        ex = exit_due(plan, state)
        if ex is not None:
            ev = min((state.contact_events.get(x.name, NEVER), x.name) for x in plan.exits)[1]
            visit(state.step or 0, state.arrived, ex, f"its event '{ev}' at {when(ex.at)}: "
                  + ("the goal, it leaves the journey" if ex.outcome == GOAL else "an exit condition, it leaves"))
            return out
        wake = min(action.until, cutoff, int(pending[0]["at"]) if pending else NEVER)
        if wake > horizon or wake >= cutoff:
            observe_due(horizon - 1 if horizon == cutoff else horizon)
            ex = exit_due(plan, state)
            if ex is not None and ex.at < horizon:
                ev = min((state.contact_events.get(x.name, NEVER), x.name) for x in plan.exits)[1]
                visit(state.step or 0, state.arrived, ex, f"its event '{ev}' at {when(ex.at)}: it leaves the journey")
            elif horizon < cutoff:
                until = f" until {when(action.until)}" if action.until < NEVER else ""
                visit(state.step or 0, state.arrived, None, f"at the run's now ({when(run_now)}) it waits{until}"
                      f"{_waiting_for(plan, state)}")
            else:
                visit(state.step or 0, state.arrived, Move(cutoff, STOPPED, None), "the repetition's schedule ended "
                      "(or the simulated horizon) while it waited here")
            return out
        t = max(t, wake)


def _waiting_for(plan: Plan, state: UnitState) -> str:
    step = plan.steps[state.step] if state.step is not None and state.step < plan.end else None
    if step is None:
        return ""
    if step.kind == Kind.IF_EVENT:
        return f" (for '{step.watch_event}' of '{plan.steps[step.watch_step].name}', or its limit)"
    if step.kind == Kind.MESSAGE:
        return " (its send slot, past the quiet hours)"
    return ""


def _explain(plan: Plan, facts: DbFacts, state: UnitState, person: ContactState, i: int, move: Move,
             held: dict[tuple[int, str], tuple[str, int]], draw: Any, when: Any) -> tuple[Move, str]:
    """The move as the runner made it (a send the state says was held back counts as held back), and why."""
    step = plan.steps[i]
    a = state.arrived
    k = step.kind
    if k == Kind.MESSAGE:
        zone = unit_zone(plan, facts, state)
        quiet = ""
        if send_slot(plan, zone, a) > a and plan.quiet is not None:
            quiet = f"held by the quiet hours ({_hm(plan.quiet[0])}-{_hm(plan.quiet[1])} in {zone}); "
        o = (move.contact_outcomes or (SENT,))[0]
        status = held.get((state.iteration, step.id))
        if o == SENT and status is not None and status[0] != "sent":
            from app.runner.live_story import HELD
            move = replace(move, contact_outcomes=(CAPPED if status[0] == "capped" else SUPPRESSED,))
            return move, quiet + f"the {step.channel} was {HELD.get(status[0], status[0])} (the runner's state)"
        if o == SENT:
            return move, quiet + f"the {step.channel} was sent"
        if o == CAPPED and plan.cap is not None:
            return move, quiet + (f"not sent: the journey's frequency cap ({plan.cap[0]} in {_span(plan.cap[1])}) "
                                  "was reached")
        ch = step.channel or ""
        if not person.reachable(ch, move.at):
            return move, quiet + (f"not sent: it cannot be reached by {ch} since {when(person.blocked[ch])} "
                                  "(an opt-out or a hard bounce)")
        return move, quiet + f"not sent: it was in the suppression segment '{plan.audience.suppress}' then"
    if k == Kind.WAIT_FOR:
        return move, f"waited {_span(step.seconds)}"
    if k == Kind.WAIT_UNTIL:
        return move, f"waited until {when(step.until)}" if step.until > a else "its date was past: went on at once"
    if k == Kind.IF_EVENT:
        watched = plan.steps[step.watch_step].name if step.watch_step is not None else "?"
        ev = step.watch_event
        delivered = state.events.get((step.watch_step, "delivered"), NEVER)
        limit = event_limit(a, delivered, step.seconds)
        basis = (f"{_span(step.seconds)} after its delivery at {when(delivered)}" if delivered < NEVER and
                 limit == delivered + step.seconds else f"{_span(step.seconds)} after it arrived: the message was "
                 "not delivered to it by then")
        if move.outcome == YES:
            seen = state.events.get((step.watch_step, ev), NEVER)
            return move, f"yes: '{ev}' of '{watched}' at {when(seen)}, within the limit ({when(limit)}, {basis})"
        return move, f"no: no '{ev}' of '{watched}' by the limit {when(limit)} ({basis})"
    if k == Kind.IF_CONDITION and step.condition is not None:
        c = step.condition
        value = facts.attribute(person.contact, c.attribute)
        ref = "" if c.op in ("contains_data", "does_not_contain_data") else f" {c.value!r}"
        held_ = condition_holds(c, value, a)
        shown = "has no value" if value is None else f"is {value!r}"
        return move, (f"{'yes' if move.outcome == YES else 'no'}: {c.attribute} {shown} (read now); "
                      f"'{c.op}'{ref} {'holds' if held_ else 'does not hold'}")
    if k == Kind.IF_SEGMENT:
        return move, (f"{'yes' if move.outcome == YES else 'no'}: {'in' if move.outcome == YES else 'not in'} the "
                      f"segment '{step.segment}' at {when(a)}")
    if k == Kind.SPLIT:
        u = draw(step)
        shares = ", ".join(f"{PATH_NAMES[j]} below {x:.4f}" for j, x in enumerate(step.thresholds))
        if move.outcome == HOLDOUT:
            return move, f"held out: its draw {u:.4f} is above every path's share ({shares})"
        label = LABELS[move.outcome]
        if step.route >= 0 and step.ab is not None and a >= step.ab.decide_at:
            return move, (f"{label}: the A/B test's decision (path {PATH_NAMES[step.route]}, kept in the runner's "
                          f"state) sends every contact arriving from {when(step.ab.decide_at)} down it")
        test = " (in the A/B test's test period)" if step.ab is not None and a < step.ab.decide_at else ""
        return move, f"{label}: its draw {u:.4f} ({shares}){test}"
    if k == Kind.ACTION:
        return move, "done"
    if move.outcome in (COMPLETED, EXITED) or move.next == plan.end:
        return move, "an exit tile: it leaves the journey"
    return move, LABELS.get(move.outcome, "passed") if move.outcome != NO else "no"
