"""One contact's story: a saved run re-derived for one contact, every step with when and why.

A saved run (simulator/runs.py) keeps what made it: the journey, the population's spec (or its data), the
behaviour, the seed and, for an A/B split with a test period, each replica's decision. Every draw is keyed by the
contact (app/semantics/draws.py), so one contact's run can be made again on its own: the population and the
world are rebuilt, the decisions put back in the plan (`with_route`), and the reference interpreter
(app/semantics/reference.py) is driven for that contact's unit exactly as the reference run drives it
(simulator/reference_run.py), recording at each move what the interpreter looked at: the event waited for and
its time against the limit, the attribute tested, the segment at that moment, the split's draw and thresholds,
the quiet hours, the cap, the suppression or the opt-out that held a message back, the goal or exit.

The story is checked against the saved trace of replica 0 row for row (visits, messages, units): `checked`
says so, or says why it could not be (another replica's trace is not kept; a run made by another engine version
cannot be re-derived, and then only the saved trace's path and times are told, without reasons).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from app.semantics.ab_test import PATH_NAMES
from app.semantics.draws import SPLIT, SPLIT_ACCOUNT, derive_seed, hash_keys, stream, uniforms
from app.semantics.outcomes import CAPPED, COMPLETED, GOAL, HOLDOUT, LABELS, SENT, SHARED, SUPPRESSED, YES
from app.semantics.plan import LINK_CLICK, Kind, Plan, StepPlan, with_route
from app.semantics.reference import (NEVER, ContactState, Move, UnitState, Wait, advance, apply, enter,
                                     event_limit, exit_due, observe, observe_event, stop, unit_zone)
from app.semantics.timezones import utc_iso, zone
from simulator.behaviour import BehaviourModel, contact_modifiers, message_events
from simulator.engine import ENGINE_VERSION
from simulator.population import Population
from simulator.reference_run import MSG_EVENTS, PopulationFacts, entry_time
from simulator.runs import RunRecord
from simulator.trace import TABLES, Trace, TraceBuilder
from simulator.world import World, build_world, effect_bits, trigger_times

FORMAT = "contact-story/1"
MAX_REPLICA = 1000
CHANNEL_WORDS = {"email": "email", "sms": "text message", "push": "push notification"}


class StoryError(ValueError):
    """A story that cannot be told (one line: the run, the contact, what is wrong)."""


@dataclass(frozen=True)
class Happening:
    """Something the contact did with a message, or an event of its own (times UTC seconds)."""

    at: int
    what: str  # delivered, bounced, hard_bounced, opened, clicked, unsubscribed, converted, or an own event
    text: str


@dataclass
class StepStory:
    """One step of one iteration: entered and left when, with which outcome, and why."""

    iteration: int
    index: int  # the step's index in the plan (the virtual end: len(plan.steps))
    step: str
    name: str
    type: str
    entered: int
    left: int
    outcome: str
    why: str
    reason: dict[str, Any] = field(default_factory=dict)
    happenings: list[Happening] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "step": self.step, "name": self.name, "type": self.type,
                "entered": utc_iso(self.entered), "left": utc_iso(self.left), "outcome": self.outcome,
                "why": self.why, "reason": self.reason,
                "did": [{"at": utc_iso(h.at), "what": h.what, "text": h.text} for h in self.happenings]}


@dataclass
class Story:
    """A contact's way through a run (see the module docstring)."""

    journey: str
    timezone: str
    contact: int  # the contact's id
    row: int  # its row in the run's population (as the trace names it)
    replica: int
    run: int | None
    steps: list[StepStory]
    entered: bool
    audience: str  # why the contact did or did not enter, in words
    checked: str  # whether the story agrees with the saved trace, in words
    agrees: bool | None  # True / False when checked; None when there was nothing to check against
    reasons: bool = True  # False: told from the saved trace alone (no reasons)
    notes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        """The JSON form (`trace --json`)."""
        return {"format": FORMAT, "run": self.run, "replica": self.replica + 1, "journey": self.journey,
                "timezone": self.timezone, "contact": self.contact, "entered": self.entered,
                "audience": self.audience, "reasons": self.reasons, "agrees_with_trace": self.agrees,
                "checked": self.checked, "notes": self.notes, "steps": [s.to_plain() for s in self.steps]}

    def when(self, t: int) -> str:
        """A time as a reviewer reads it, in the journey's time zone."""
        return local_text(t, self.timezone)

    def lines(self) -> list[str]:
        """The story as text, one step a paragraph (`trace`'s output)."""
        where = f"run {self.run}" if self.run is not None else "the run"
        out = [f"Contact {self.contact} in {where} of '{self.journey}' (replica {self.replica + 1}; times in "
               f"{self.timezone})", f"  {self.audience}"]
        iteration = -1
        for s in self.steps:
            if s.iteration != iteration and any(x.iteration > 0 for x in self.steps):
                out.append(f"Repetition {s.iteration + 1}:")
            iteration = s.iteration
            span = self.when(s.entered) if s.left == s.entered else \
                f"{self.when(s.entered)} -> {self.when(s.left)}"
            out.append(f"{span}  {s.name} [{s.outcome}]")
            out.append(f"    why: {s.why}")
            for h in s.happenings:
                out.append(f"    {self.when(h.at)}  {h.text}")
        out.append(self.checked)
        out.extend(f"Note: {n}" for n in self.notes)
        return out


def local_text(t: int, tz: str) -> str:
    """`t` (UTC seconds) as 'Tue 1 Dec 09:00' in zone `tz` (the year when not the journey's start's)."""
    d = datetime.fromtimestamp(t, tz=timezone.utc).astimezone(zone(tz))
    return f"{d:%a} {d.day} {d:%b %Y %H:%M}"


def _dur(seconds: int) -> str:
    """A duration in words: '5 days', '1 day 12 hours', '30 minutes'."""
    seconds = int(seconds)
    parts = []
    for size, word in ((86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def _hm(seconds_of_day: int) -> str:
    return f"{seconds_of_day // 3600:02d}:{seconds_of_day % 3600 // 60:02d}"


# --- re-deriving one contact's run -------------------------------------------------------------------------

@dataclass
class _Message:
    """A message the unit was sent, as drawn: per event its time (NEVER: never), the link clicked."""

    step: int
    sent: int
    times: dict[str, int]
    link: str | None


@dataclass
class _Blocked:
    """Why a channel cannot reach a contact from a time: the step whose message caused it and how."""

    at: int
    step: int
    how: str  # "unsubscribed" | "hard bounce"


class _Teller:
    """Drives one unit through the interpreter as simulator.reference_run does, recording why it moved."""

    def __init__(self, plan: Plan, facts: PopulationFacts, behaviour: BehaviourModel, seed: int, row: int,
                 journey_steps: Mapping[str, Any], out: TraceBuilder) -> None:
        self.plan, self.facts, self.behaviour, self.seed = plan, facts, behaviour, seed
        self.row, self.steps_props, self.out = row, journey_steps, out
        self.stories: list[StepStory] = []
        self.mods_cache: dict[int, Any] = {}
        self.blocked_why: dict[tuple[int, str], _Blocked] = {}  # (row, channel) -> why it is blocked
        self.decisions: Mapping[str, dict[str, Any]] = {}  # A/B split id -> its decision as the run saved it

    # the reference run's unit loop (reference_run._run_unit), with the story recorded at every move
    def run_unit(self, k: int, contacts: list[ContactState], t0: int, account: int) -> None:
        plan, facts, pop = self.plan, self.facts, self.facts.pop
        cutoff, horizon = plan.cutoff(k)
        state = enter(plan, contacts, k, t0)
        heap: list[tuple[int, int, str, Any]] = []
        seq = 0
        goal_name = plan.goal.name if plan.goal else None
        goal_at = NEVER
        drawn_unsub: dict[int, int] = {}
        drawn_conv: dict[int, int] = {}
        sent: dict[int, _Message] = {}  # step index -> the story contact's message there
        mine = next(i for i, c in enumerate(contacts) if c.contact == self.row)
        own: dict[str, int] = {}  # trigger name -> when the story contact's own event (not a message's) happens

        def push(t: int, kind: str, payload: Any) -> None:
            nonlocal seq, goal_at
            if t >= NEVER:
                return
            heapq.heappush(heap, (t, seq, kind, payload))
            seq += 1
            if kind == "contact" and payload[0] == goal_name:
                goal_at = min(goal_at, t)

        for pos, c in enumerate(contacts):
            for trig in (*plan.exits, *([plan.goal] if plan.goal else [])):
                t = int(trigger_times(facts.world, trig, np.array([c.contact]), np.array([t0]), k)[0])
                push(t, "contact", (trig.name, pos))
                if pos == mine and t < NEVER:
                    own[trig.name] = min(own.get(trig.name, NEVER), t)

        def chance(step: StepPlan) -> float:
            return self.draw(step, contacts[0].contact, account)

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
                story = self.explain(state, step_index, arrived, action, mine, account, sent)
                self.visit(k, contacts, step_index, arrived, action)
                apply(plan, state, action)
                if plan.steps[step_index].kind == Kind.MESSAGE:
                    self.send(k, step_index, contacts, action, push, drawn_unsub, drawn_conv, mine, sent, story)
                self.stories.append(story)
                if action.next is None:
                    final = action
                elif action.next == plan.end:
                    final = Move(action.at, COMPLETED, None)
                    self.visit(k, contacts, plan.end, action.at, final)
                    self.stories.append(self.ending(k, plan.end, action.at, final, "reached the end of its path",
                                                    {"kind": "end"}))
            if final is not None:
                break
            assert isinstance(action, Wait) and state.step is not None
            ex = exit_due(plan, state)
            if ex is not None:
                final = ex
                self.visit(k, contacts, state.step, state.arrived, ex)
                self.stories.append(self.left_on(k, state, ex, own, drawn_conv, mine, sent))
                break
            wake = min(action.until, heap[0][0] if heap else NEVER)
            if wake >= cutoff:
                final = stop(cutoff, horizon)
                self.visit(k, contacts, state.step, state.arrived, final)
                why = (f"still here when the simulation ended ({local_text(cutoff, plan.timezone)}): "
                       + self.waiting_for(state, k)) if horizon else \
                    (f"the journey's schedule ended at {local_text(cutoff, plan.timezone)} while it waited here"
                     if cutoff >= plan.end_at else
                     f"this repetition ended at {local_text(cutoff, plan.timezone)} while it waited here")
                s = self.step_story(k, state.step, state.arrived, final, why,
                                    {"kind": "horizon" if horizon else "schedule_end", "at": utc_iso(cutoff)})
                self.stories.append(s)
                break
            now = wake

        reached = goal_at < plan.goal_deadline(t0, cutoff)
        for pos, c in enumerate(contacts):
            caused = {"converted": np.array([drawn_conv.get(pos, NEVER)]),
                      "unsubscribed": np.array([drawn_unsub.get(pos, NEVER)])}
            with_bits, without_bits = effect_bits(facts.world, np.array([c.contact]), np.array([t0]),
                                                  plan.goal_deadline(np.array([t0]), cutoff), k, caused)
            self.out.units(np.array([c.contact]), k, np.array([t0]), np.array([final.at]),
                           np.array([final.outcome]), np.array([goal_at if reached else NEVER]), with_bits,
                           without_bits)
        del pop

    def draw(self, step: StepPlan, first_row: int, account: int) -> float:
        """The split's uniform draw, keyed as the reference run keys it (the account, or the unit's first contact)."""
        pop = self.facts.pop
        if account >= 0:
            h = hash_keys(np.array([account]), stream(self.seed, step.key, SPLIT_ACCOUNT))
        else:
            h = hash_keys(pop.contact_id[first_row:first_row + 1], stream(self.seed, step.key, SPLIT))
        return float(uniforms(h)[0][0])

    def visit(self, k: int, contacts: list[ContactState], step: int, t_enter: int, move: Move) -> None:
        for pos, c in enumerate(contacts):
            o = move.contact_outcomes[pos] if move.contact_outcomes is not None else move.outcome
            self.out.visits(np.array([c.contact]), k, step, np.array([t_enter]), np.array([move.at]), o)

    def send(self, k: int, step_index: int, contacts: list[ContactState], move: Move, push: Any,
             drawn_unsub: dict[int, int], drawn_conv: dict[int, int], mine: int, sent: dict[int, _Message],
             story: StepStory) -> None:
        """reference_run._send, keeping what the story contact's message did."""
        plan, pop = self.plan, self.facts.pop
        step = plan.steps[step_index]
        b = self.behaviour.for_step(step.id, step.channel or "")
        assert move.contact_outcomes is not None
        for pos, (c, o) in enumerate(zip(contacts, move.contact_outcomes)):
            if o != SENT:
                continue
            row = c.contact
            if row not in self.mods_cache:
                self.mods_cache[row] = contact_modifiers(self.behaviour, pop, np.array([row]), plan.events,
                                                         plan.start, self.facts.world.member)
            ev = message_events(b, self.seed, k, step.key, pop.contact_id[row:row + 1], np.array([move.at]),
                                self.mods_cache[row], np.zeros(1, dtype=np.int64), len(step.links))
            for name in MSG_EVENTS:
                push(int(ev.get(name)[0]), "message", (step_index, name))
            link = None
            if ev.link is not None and ev.link[0] >= 0:
                link = step.links[int(ev.link[0])]
                push(int(ev.clicked[0]), "message", (step_index, f"{LINK_CLICK}{link}"))
            unsub = int(ev.unsubscribed[0])
            push(unsub, "contact", ("unsubscribed", pos, step.channel))
            drawn_unsub[pos] = min(drawn_unsub.get(pos, NEVER), unsub)
            hard = int(ev.hard_bounced[0])
            lost = min(unsub, hard)
            if lost < NEVER and step.channel:
                key = (row, step.channel)
                if key not in self.blocked_why or lost < self.blocked_why[key].at:
                    self.blocked_why[key] = _Blocked(lost, step_index, "unsubscribed" if unsub <= hard
                                                     else "hard bounce")
            c.block(step.channel, lost)
            conv = int(ev.converted[0])
            push(conv, "contact", (self.behaviour.conversion_event, pos))
            drawn_conv[pos] = min(drawn_conv.get(pos, NEVER), conv)
            if self.facts.world.feeds_back and conv < NEVER:
                self.facts.bought.setdefault(row, []).append(conv)
            self.out.messages(np.array([row]), k, step_index, np.array([move.at]),
                              {n: ev.get(n) for n in ("delivered", "opened", "clicked", "unsubscribed",
                                                      "converted")})
            if pos == mine:
                times = {n: int(ev.get(n)[0]) for n in ("delivered", "bounced", "hard_bounced", "opened",
                                                          "clicked", "unsubscribed", "converted")}
                sent[step_index] = _Message(step_index, move.at, times, link)
                story.happenings.extend(self.happenings(step, times, link))

    def happenings(self, step: StepPlan, times: dict[str, int], link: str | None) -> list[Happening]:
        """What the contact did with a message, before the simulation's horizon, in time order."""
        horizon = self.plan.horizon
        word = CHANNEL_WORDS.get(step.channel or "", "message")
        out: list[Happening] = []
        if times["delivered"] < horizon:
            out.append(Happening(times["delivered"], "delivered", f"the {word} was delivered"))
        if times["bounced"] < horizon:
            hard = times["hard_bounced"] <= times["bounced"]
            out.append(Happening(times["bounced"], "hard_bounced" if hard else "bounced",
                                 "it bounced: the address is dead (a hard bounce), no more "
                                 f"{word}s can reach it" if hard else "it bounced (soft: later ones may arrive)"))
        if times["opened"] < horizon:
            out.append(Happening(times["opened"], "opened", "opened it" if step.channel != "sms" else "read it"))
        if times["clicked"] < horizon:
            out.append(Happening(times["clicked"], "clicked", f"clicked the link '{link}'" if link
                                 else "clicked it"))
        if times["unsubscribed"] < horizon:
            out.append(Happening(times["unsubscribed"], "unsubscribed", f"unsubscribed from {word}s"))
        if times["converted"] < horizon:
            out.append(Happening(times["converted"], "converted",
                                 f"{self.behaviour.conversion_event} (after the click: caused by this {word})"))
        return sorted(out, key=lambda h: h.at)

    # --- reasons ---------------------------------------------------------------------------------------
    def step_story(self, k: int, index: int, entered: int, move: Move, why: str,
                   reason: dict[str, Any]) -> StepStory:
        plan = self.plan
        if index >= plan.end:
            sid, name, typ = "end", "End", "end"
        else:
            s = plan.steps[index]
            sid, name, typ = s.id, s.name, s.type
        outcome = move.contact_outcomes[self._mine] if move.contact_outcomes is not None else move.outcome
        return StepStory(k, index, sid, name, typ, entered, move.at, LABELS.get(outcome, str(outcome)), why, reason)

    _mine = 0  # the story contact's position in its unit (set per unit)

    def ending(self, k: int, index: int, at: int, move: Move, why: str, reason: dict[str, Any]) -> StepStory:
        return self.step_story(k, index, at, move, why, reason)

    def explain(self, state: UnitState, index: int, arrived: int, move: Move, mine: int, account: int,
                sent: dict[int, _Message]) -> StepStory:
        """Why the unit left step `index` the way it did (read before the move is applied)."""
        self._mine = mine
        plan, facts = self.plan, self.facts
        step = plan.steps[index]
        tz = plan.timezone
        row = state.contacts[mine].contact
        k = step.kind
        if k == Kind.MESSAGE:
            return self.explain_message(state, step, arrived, move, mine)
        if k == Kind.WAIT_FOR:
            return self.step_story(state.iteration, index, arrived, move, f"waited {_dur(step.seconds)}",
                                   {"kind": "wait", "duration_seconds": step.seconds})
        if k == Kind.WAIT_UNTIL:
            why = (f"waited until {local_text(step.until, tz)}" if step.until > arrived
                   else f"the date to wait for ({local_text(step.until, tz)}) had passed: went straight on")
            return self.step_story(state.iteration, index, arrived, move, why,
                                   {"kind": "wait_until", "until": utc_iso(step.until)})
        if k == Kind.IF_EVENT:
            return self.explain_event(state, step, arrived, move, sent)
        if k == Kind.IF_SEGMENT:
            seg = step.segment or ""
            members = {c.contact: facts.member(c.contact, seg, arrived) for c in state.contacts}
            inside = members[row]
            why = (f"was in segment '{seg}' at {local_text(arrived, tz)}: yes" if inside
                   else f"was not in segment '{seg}' at {local_text(arrived, tz)}: no")
            if not inside and move.outcome == YES:
                why = f"was not in segment '{seg}' then, but another contact of its account was: yes"
            return self.step_story(state.iteration, index, arrived, move, why,
                                   {"kind": "segment", "segment": seg, "member": inside, "at": utc_iso(arrived)})
        if k == Kind.IF_CONDITION:
            from app.semantics.reference import condition_holds
            cond = step.condition
            assert cond is not None
            value = facts.attribute(row, cond.attribute)
            holds = condition_holds(cond, value, arrived)
            ref = "" if cond.op in ("contains_data", "does_not_contain_data") else f" {cond.value!r}"
            shown = "no value" if value is None else repr(_plain_value(value))
            why = (f"its {cond.attribute} is {shown}; tested '{cond.attribute} {cond.op.replace('_', ' ')}{ref}': "
                   f"{'yes' if holds else 'no'}")
            if not holds and move.outcome == YES:
                why += " (another contact of its account passed: yes)"
            return self.step_story(state.iteration, index, arrived, move, why,
                                   {"kind": "condition", "attribute": cond.attribute, "value": _plain_value(value),
                                    "operator": cond.op, "tested_against": _plain_value(cond.value),
                                    "holds": holds})
        if k == Kind.SPLIT:
            return self.explain_split(state, step, arrived, move, account)
        if k == Kind.ACTION:
            o = move.contact_outcomes[mine] if move.contact_outcomes is not None else move.outcome
            why = (f"{step.type} done" if o != SHARED
                   else f"{step.type} done once for its account (by another of its contacts)")
            return self.step_story(state.iteration, index, arrived, move, why, {"kind": "action", "type": step.type})
        return self.step_story(state.iteration, index, arrived, move, "an exit tile: the journey ends here for it",
                               {"kind": "exit_tile"})

    def explain_message(self, state: UnitState, step: StepPlan, arrived: int, move: Move, mine: int) -> StepStory:
        plan, facts = self.plan, self.facts
        tz_unit = unit_zone(plan, facts, state)
        c = state.contacts[mine]
        s = move.at
        o = move.contact_outcomes[mine] if move.contact_outcomes is not None else move.outcome
        word = CHANNEL_WORDS.get(step.channel or "", "message")
        props = self.steps_props.get(step.id) or {}
        content = props.get("content")
        reason: dict[str, Any] = {"kind": "message", "channel": step.channel, "content": content,
                                  "send_slot": utc_iso(s)}
        parts: list[str] = []
        if s > arrived and plan.quiet is not None:
            qs, qe = plan.quiet
            parts.append(f"held by the quiet hours ({_hm(qs)}-{_hm(qe)} in {tz_unit}, the contact's time) from "
                         f"{local_text(arrived, plan.timezone)} to {local_text(s, plan.timezone)}")
            reason["quiet_hours"] = {"start": _hm(qs), "end": _hm(qe), "zone": tz_unit,
                                     "held_from": utc_iso(arrived), "until": utc_iso(s)}
        what = f"'{content}'" if content else "its content"
        if o == SENT:
            parts.append(f"sent the {word} {what}")
        elif o == SUPPRESSED:
            why = self.suppressed_why(c, step, s)
            reason["held_back"] = why[1]
            parts.append(f"the {word} {what} was not sent: {why[0]}")
        elif o == CAPPED:
            assert plan.cap is not None
            limit, per = plan.cap
            recent = [x for x in c.sends if x > s - per]
            reason["held_back"] = {"by": "frequency_cap", "messages": limit, "per_seconds": per,
                                   "recent_sends": [utc_iso(x) for x in recent]}
            parts.append(f"the {word} {what} was not sent: the journey's frequency cap ({limit} per {_dur(per)}) "
                         f"was reached (sent {', '.join(local_text(x, plan.timezone) for x in recent)})")
        return self.step_story(state.iteration, step.index, arrived, move, "; ".join(parts), reason)

    def suppressed_why(self, c: ContactState, step: StepPlan, s: int) -> tuple[str, dict[str, Any]]:
        plan, tz = self.plan, self.plan.timezone
        channel = step.channel or ""
        if not c.reachable(channel, s):
            b = self.blocked_why.get((c.contact, channel))
            if b is not None:
                src = plan.steps[b.step]
                how = ("it had unsubscribed" if b.how == "unsubscribed"
                       else "its address had hard-bounced")
                return (f"{how} from {CHANNEL_WORDS.get(channel, channel)}s on {local_text(b.at, tz)} "
                        f"(after '{src.name}')", {"by": b.how.replace(" ", "_"), "since": utc_iso(b.at),
                                                   "after_step": src.id})
            return (f"it cannot be reached by {channel} (opted out)", {"by": "opted_out"})
        supp = plan.audience.suppress or ""
        return (f"it was in the suppression segment '{supp}' at {local_text(s, tz)}",
                {"by": "suppression", "segment": supp, "at": utc_iso(s)})

    def explain_event(self, state: UnitState, step: StepPlan, arrived: int, move: Move,
                      sent: dict[int, _Message]) -> StepStory:
        plan, tz = self.plan, self.plan.timezone
        watched = plan.steps[step.watch_step] if 0 <= step.watch_step < plan.end else None
        msg_name = watched.name if watched else "the message"
        ev = step.watch_event
        ev_text = f"a click on the link '{ev[len(LINK_CLICK):]}'" if ev.startswith(LINK_CLICK) else f"'{ev}'"
        delivered = state.events.get((step.watch_step, "delivered"), NEVER)
        limit = event_limit(arrived, delivered, step.seconds)
        seen = state.events.get((step.watch_step, ev), NEVER)
        reason: dict[str, Any] = {"kind": "event", "event": ev, "message": watched.id if watched else None,
                                  "within_seconds": step.seconds, "limit": utc_iso(limit),
                                  "happened": utc_iso(seen) if seen < NEVER else None,
                                  "delivered": utc_iso(delivered) if delivered < NEVER else None}
        within = f"within {_dur(step.seconds)}"
        if delivered <= arrived + step.seconds:
            counted = f"counted from its delivery at {local_text(delivered, tz)}, until {local_text(limit, tz)}"
        else:
            got = sent.get(step.watch_step)
            if got is None:
                counted = (f"'{msg_name}' was not sent to it on this path, so the wait ran {_dur(step.seconds)} "
                           f"from its arrival, until {local_text(limit, tz)}")
            else:
                counted = (f"'{msg_name}' was not delivered within the limit, so the wait ran {_dur(step.seconds)} "
                           f"from its arrival, until {local_text(limit, tz)}")
        if move.outcome == YES:
            when = "already before it got here" if seen <= arrived else f"at {local_text(seen, tz)}"
            why = f"waited for {ev_text} of '{msg_name}' {within} ({counted}): it happened {when}: yes"
        else:
            late = f" (it happened later, at {local_text(seen, tz)})" if seen < NEVER else ""
            why = f"waited for {ev_text} of '{msg_name}' {within} ({counted}): it did not happen by then{late}: no"
        return self.step_story(state.iteration, step.index, arrived, move, why, reason)

    def explain_split(self, state: UnitState, step: StepPlan, arrived: int, move: Move, account: int) -> StepStory:
        tz = self.plan.timezone
        u = self.draw(step, state.contacts[0].contact, account)
        lo = 0.0
        bands = []
        for i, th in enumerate(step.thresholds):
            bands.append({"path": PATH_NAMES[i], "from": round(lo, 6), "below": round(th, 6)})
            lo = th
        reason: dict[str, Any] = {"kind": "split", "draw": round(u, 6), "paths": bands,
                                  "holdout_from": round(step.thresholds[-1], 6) if step.thresholds else None,
                                  "keyed_by": "account" if account >= 0 else "contact"}
        shown = ", ".join(f"{b['path']} {b['from']:.3f}-{b['below']:.3f}" for b in bands)
        if step.thresholds and step.thresholds[-1] < 1:
            shown += f", held out {step.thresholds[-1]:.3f}-1"
        drew = f"drew {u:.4f} ({shown})"
        if account >= 0:
            drew = "its account " + drew
        label = LABELS.get(move.outcome, "")
        if step.ab is not None:
            decision = self.decisions.get(step.id) or {}
            reason["ab_test"] = {"decide_at": utc_iso(step.ab.decide_at), "metric": step.ab.metric,
                                 "route": PATH_NAMES[step.route] if step.route >= 0 else None,
                                 "before_decision": arrived < step.ab.decide_at, "decision": decision}
            decided = f" ({decision['reason']})" if decision.get("reason") else ""
            if move.outcome == HOLDOUT:
                why = f"{drew}: held out (the control group; an A/B winner does not change that)"
            elif arrived < step.ab.decide_at:
                why = (f"came at {local_text(arrived, tz)}, in the A/B test (before its decision at "
                       f"{local_text(step.ab.decide_at, tz)}): {drew}: {label}")
            elif step.route >= 0:
                why = (f"came at {local_text(arrived, tz)}, after the A/B test's decision at "
                       f"{local_text(step.ab.decide_at, tz)}: path {PATH_NAMES[step.route]} had been chosen{decided}, "
                       f"so everyone took it ({drew}: not held out)")
            else:
                why = (f"came after the A/B test's decision at {local_text(step.ab.decide_at, tz)}, which chose no "
                       f"winner{decided}: the paths keep splitting: {drew}: {label}")
        else:
            why = f"{drew}: {'held out (the control group)' if move.outcome == HOLDOUT else label}"
        return self.step_story(state.iteration, step.index, arrived, move, why, reason)

    def left_on(self, k: int, state: UnitState, ex: Move, own: Mapping[str, int], drawn_conv: Mapping[int, int],
                mine: int, sent: Mapping[int, _Message]) -> StepStory:
        """The goal or exit condition that took the unit out while it waited at its step."""
        plan, tz = self.plan, self.plan.timezone
        assert state.step is not None
        name = next((t.name for t in plan.exits if state.contact_events.get(t.name, NEVER) == ex.at), "")
        kind = "goal" if ex.outcome == GOAL else "exit"
        if name.startswith("segment:"):
            _, seg, when = name.split(":", 2)
            what = f"it {'joined' if when == 'joins' else 'left'} segment '{seg}'"
        elif name == self.behaviour.conversion_event and drawn_conv.get(mine, NEVER) == ex.at:
            src = next((plan.steps[m.step].name for m in sent.values()
                        if m.times.get("converted") == ex.at), "a message")
            what = f"{name}, after clicking '{src}' (caused by the journey)"
        elif own.get(name, NEVER) == ex.at:
            what = f"{name}, of its own (not caused by a message)"
        else:
            what = f"{name} (by another contact of its account)" if len(state.contacts) > 1 else name
        lead = "reached the goal" if kind == "goal" else "left on the exit condition"
        why = f"{lead} at {local_text(ex.at, tz)}: {what}"
        return self.step_story(k, state.step, state.arrived, ex, why,
                               {"kind": kind, "event": name, "at": utc_iso(ex.at)})

    def waiting_for(self, state: UnitState, k: int) -> str:
        assert state.step is not None
        step = self.plan.steps[state.step]
        if step.kind == Kind.IF_EVENT:
            return "it was still waiting for the event"
        if step.kind in (Kind.WAIT_FOR, Kind.WAIT_UNTIL):
            return "its wait had not run out"
        if step.kind == Kind.MESSAGE:
            return "its message's send time had not come"
        return "it had not moved on"


def _plain_value(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain_value(x) for x in v]
    return v


def _plan_with_decisions(record: RunRecord, replica: int) -> tuple[Plan, list[str], dict[str, dict[str, Any]]]:
    """The run's plan with replica `replica`'s A/B decisions put back (read from the saved results, as
    simulator/ab_winner.py decided them), the notes, and each decision as saved (by step id)."""
    plan = record.plan()
    notes: list[str] = []
    decisions: dict[str, dict[str, Any]] = {}
    for test in record.results.get("ab_tests") or []:
        decided = test.get("replicas") or []
        step = next((s for s in plan.steps if s.id == test.get("step")), None)
        if step is None:
            continue
        if replica >= len(decided):
            notes.append(f"the A/B test at '{step.name}' has no saved decision for this replica")
            continue
        decisions[step.id] = dict(decided[replica])
        route = decided[replica].get("route")
        if route is not None:
            plan = with_route(plan, step.index, PATH_NAMES.index(route))
    return plan, notes, decisions


def _row_of(pop: Population, contact: int) -> int | None:
    hit = np.flatnonzero(pop.contact_id == contact)
    return int(hit[0]) if len(hit) else None


def _not_entered(plan: Plan, facts: PopulationFacts, row: int, iterations: int) -> str:
    """Why contact `row` never entered, in words (consent, audience, exclusions, when it qualified)."""
    from app.model.attributes import CONSENT_LEVELS
    pop, aud, tz = facts.pop, plan.audience, plan.timezone
    rows = np.array([row])
    consent = int(pop.consent[row])
    if consent < aud.min_consent:
        have = CONSENT_LEVELS[consent] if 0 <= consent < len(CONSENT_LEVELS) else str(consent)
        return (f"It never entered: its consent ({have}) is below the journey's minimum "
                f"({CONSENT_LEVELS[aud.min_consent]}); it was not in the audience")
    begin = plan.iterations[0][0]
    inside = [s for s in aud.segments if bool(facts.world.member(s, rows, begin)[0])]
    excluded = [s for s in aud.exclude if bool(facts.world.member(s, rows, begin)[0])]
    if excluded:
        return (f"It never entered: it was in the exclusion segment '{excluded[0]}' at "
                f"{local_text(begin, tz)}; it was not in the audience")
    if aud.segments and not inside:
        named = ", ".join(f"'{s}'" for s in aud.segments)
        return (f"It never entered: it was in none of the audience segments ({named}) at {local_text(begin, tz)}"
                + (" nor joined them before the journey ended" if plan.frequency == "ongoing" else "")
                + "; it was not in the audience")
    return ("It never entered: it was in the audience but joined too late (at or after the journey's end or the "
            "simulation's horizon)")


def _rows_of(trace: Trace, table: str, row: int, iterations: set[int] | None = None) -> list[tuple[int, ...]]:
    cols = getattr(trace, table)
    keep = np.flatnonzero(cols["contact"] == row)
    return sorted(zip(*(cols[c][keep].tolist() for c in TABLES[table])))


class RunStories:
    """Stories of a saved run's contacts: the run's population and world made once (for one replica), then any
    contact's story told from them (`tell`). StoryError (one line) for a replica the run does not have."""

    def __init__(self, record: RunRecord, *, replica: int = 0, run: int | None = None,
                 trace: Trace | None = None) -> None:
        where = f"run {run}" if run is not None else "the run"
        if not 0 <= replica < min(record.replicas, MAX_REPLICA):
            raise StoryError(f"{where} has {record.replicas} replica{'s' if record.replicas != 1 else ''}: "
                             f"there is no replica {replica + 1}")
        self.record, self.replica, self.run = record, replica, run
        self.journey = record.journey()
        self.plan, self.notes, self.decisions = _plan_with_decisions(record, replica)
        self.saved = trace if trace is not None else (record.trace() if replica == 0 else None)
        self.derivable = record.engine_version == ENGINE_VERSION
        if not self.derivable:
            if replica != 0:
                raise StoryError(f"{where} was made by engine version {record.engine_version}; this version "
                                 f"({ENGINE_VERSION}) cannot re-derive it, and only replica 1's trace is kept")
            return
        self.pop = record.population_(replica)
        self.behaviour = BehaviourModel.from_plain(record.behaviour)
        self.seed = derive_seed(record.seed, replica)
        self.world = build_world(self.plan, self.pop, self.behaviour, self.seed)

    def contacts(self) -> np.ndarray:
        """The ids of the run's contacts (its population), in row order."""
        return self.pop.contact_id if self.derivable else np.zeros(0, dtype=np.int64)

    def tell(self, contact: int) -> Story:
        """The story of contact `contact` (its id); StoryError when it is not in the run's population."""
        if not self.derivable:
            assert self.saved is not None
            return _from_trace(self.record, self.plan, self.saved, contact, self.run)
        row = _row_of(self.pop, contact)
        if row is None:
            raise StoryError(_absent(self.pop, contact, self.run, self.replica))
        return _tell(self.journey, self.plan, self.pop, self.world, self.seed, row, contact, self.replica,
                     self.run, self.saved, list(self.notes), self.decisions)


def tell(record: RunRecord, contact: int, *, replica: int = 0, run: int | None = None,
         trace: Trace | None = None) -> Story:
    """The story of contact `contact` (its id) in saved run `record`, replica `replica` (0-based); see
    `RunStories`. A run made by another engine version is told from its saved trace alone (no reasons)."""
    return RunStories(record, replica=replica, run=run, trace=trace).tell(contact)


def _absent(pop: Population, contact: int, run: int | None, replica: int) -> str:
    ids = pop.contact_id
    span = f" (ids {int(ids.min())} to {int(ids.max())})" if len(ids) else ""
    where = f"run {run}" if run is not None else "the run"
    rep = f", replica {replica + 1}" if replica else ""
    return f"contact {contact} is not in {where}{rep}: its population has {len(ids):,} contacts{span}"


def _tell(journey: Any, plan: Plan, pop: Population, world: World, seed: int, row: int, contact: int,
          replica: int, run: int | None, saved: Trace | None, notes: list[str],
          decisions: Mapping[str, dict[str, Any]]) -> Story:
    facts = PopulationFacts(pop, world)
    out = TraceBuilder(plan)
    props = {s.id: s.props for s in journey.steps.values()}
    teller = _Teller(plan, facts, world.behaviour, seed, row, props, out)
    teller.decisions = decisions
    carried: dict[int, ContactState] = {}
    entered_any = False
    audience = ""
    for k in range(len(plan.iterations)):
        members, t, account = _unit_of(plan, facts, row, k)
        if not members:
            continue
        teller._mine = members.index(row)
        contacts = [carried.setdefault(r, ContactState(r)) for r in members]
        teller.run_unit(k, contacts, t, account)
        if not entered_any:
            audience = _entered_text(plan, pop, row, k, t, account, len(members))
        entered_any = True
    if not entered_any:
        audience = _not_entered(plan, facts, row, len(plan.iterations))
    mine = out.finish()
    checked, agrees = "", None
    if saved is not None:
        diffs = [t for t in ("visits", "messages", "units")
                 if _rows_of(mine, t, row) != _rows_of(saved, t, row)]
        agrees = not diffs
        checked = ("Agrees with the run's saved trace (every step, time and message of this contact)." if agrees
                   else f"Does NOT agree with the run's saved trace ({', '.join(diffs)} differ): the story may "
                        "be wrong; please report it.")
    else:
        checked = (f"Replica {replica + 1}'s trace is not kept with the run (only replica 1's is), so this story "
                   "was not checked against one.")
    return Story(plan.journey_name, plan.timezone, contact, row, replica, run, teller.stories, entered_any,
                 audience, checked, agrees, True, notes)


def _unit_of(plan: Plan, facts: PopulationFacts, row: int, k: int) -> tuple[list[int], int, int]:
    """The unit contact `row` enters iteration `k` with (its rows, when, its account or -1); ([], NEVER, -1)
    when it does not enter (as reference_run._units forms units)."""
    t = entry_time(plan, facts, row, k)
    pop = facts.pop
    acc = int(pop.account_id[row]) if plan.accounts else -1
    if acc < 0:
        return ([row], t, -1) if t < NEVER else ([], NEVER, -1)
    rows = np.flatnonzero(pop.account_id == acc).tolist()
    times = {r: entry_time(plan, facts, r, k) for r in rows}
    first = min(times.values())
    if first >= NEVER or times[row] != first:
        return [], NEVER, -1
    return sorted(r for r, tr in times.items() if tr == first), first, acc


def _entered_text(plan: Plan, pop: Population, row: int, k: int, t: int, account: int, n: int) -> str:
    tz = plan.timezone
    aud = plan.audience
    segs = " / ".join(f"'{s}'" for s in aud.segments) or "everyone"
    how = (f"joined the audience ({segs}) at {local_text(t, tz)} and entered then" if plan.frequency == "ongoing"
           and t > plan.iterations[k][0] else f"was in the audience ({segs}) at the start and entered at "
                                              f"{local_text(t, tz)}")
    if account >= 0:
        how += f", with its account ({n} contact{'s' if n != 1 else ''} entering together)"
    return f"It {how}."


def _from_trace(record: RunRecord, plan: Plan, saved: Trace, contact: int, run: int | None) -> Story:
    """A story told from the saved trace alone (a run this engine version cannot re-derive): path and times."""
    pop_ids: np.ndarray | None = None
    try:
        pop_ids = record.population_(0).contact_id
    except Exception:  # noqa: BLE001 - an old spec this version cannot rebuild: ids are then rows
        pop_ids = None
    if pop_ids is not None:
        hit = np.flatnonzero(pop_ids == contact)
        if not len(hit):
            raise StoryError(f"contact {contact} is not in run {run}'s population")
        row = int(hit[0])
    else:
        row = contact
    v = saved.visits
    keep = np.flatnonzero(v["contact"] == row)
    order = keep[np.lexsort((v["t_enter"][keep], v["iteration"][keep]))]
    steps = []
    for i in order.tolist():
        idx = int(v["step"][i])
        sp = plan.steps[idx] if idx < plan.end else None
        steps.append(StepStory(int(v["iteration"][i]), idx, sp.id if sp else "end", sp.name if sp else "End",
                               sp.type if sp else "end", int(v["t_enter"][i]) + saved.t0,
                               int(v["t_leave"][i]) + saved.t0, LABELS.get(int(v["outcome"][i]), "?"),
                               "(not re-derived: no reason kept)", {}))
    note = (f"This run was made by engine version {record.engine_version}; this version ({ENGINE_VERSION}) cannot "
            "re-derive it, so only its saved path and times are told, without the reasons.")
    return Story(plan.journey_name, plan.timezone, contact, row, 0, run, steps, bool(steps),
                 "It entered the journey." if steps else "It never entered the journey.", note, None, False, [])

