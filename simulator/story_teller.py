"""The driver behind one contact's story (simulator/story.py): the reference run's unit loop for one unit, with
the reason of every move recorded as it is made.

`Teller.run_unit` runs simulator/reference_run.py's `run_unit` (the same interpreter calls in the same order, the
same draws, the same trace rows, so the story's rows can be compared with the saved run's) as its observer
(`UnitObserver`): before each move is applied, `explain` reads what the interpreter looked at (the watched event's time
and limit, the attribute and the operator, the segment at that moment, the split's draw and thresholds, the
quiet hours, the cap's sends, the opt-out or suppression) and words it. Kept apart from story.py so that each
stays readable; nothing else should need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from app.semantics.ab_test import PATH_NAMES
from app.semantics.draws import SPLIT, SPLIT_ACCOUNT, hash_keys, stream, uniforms
from app.semantics.outcomes import CAPPED, GOAL, HOLDOUT, LABELS, SENT, SHARED, SUPPRESSED, YES
from app.semantics.plan import LINK_CLICK, Kind, Plan, StepPlan
from app.semantics.reference import (NEVER, ContactState, Move, UnitState, condition_holds,
                                     event_limit, unit_zone)
from app.semantics.timezones import utc_iso
from simulator.behaviour import BehaviourModel
from simulator.reference_run import PopulationFacts, UnitObserver, run_unit
from simulator.story import Happening, StepStory, local_text
from simulator.trace import TraceBuilder

CHANNEL_WORDS = {"email": "email", "sms": "text message", "push": "push notification"}


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


class Teller(UnitObserver):
    """Drives one unit through the interpreter as simulator.reference_run does, recording why it moved."""

    def __init__(self, plan: Plan, facts: PopulationFacts, behaviour: BehaviourModel, seed: int, row: int,
                 journey_steps: Mapping[str, Any], out: TraceBuilder) -> None:
        self.plan, self.facts, self.behaviour, self.seed = plan, facts, behaviour, seed
        self.row, self.steps_props, self.out = row, journey_steps, out
        self.stories: list[StepStory] = []
        self.mods_cache: dict[int, Any] = {}
        self.blocked_why: dict[tuple[int, str], _Blocked] = {}  # (row, channel) -> why it is blocked
        self.decisions: Mapping[str, dict[str, Any]] = {}  # A/B split id -> its decision as the run saved it
        self.content: Mapping[str, Any] = {}  # content name -> Content (its subject or text is quoted)
        # the unit being told (set per unit by run_unit)
        self._k, self._account, self._mine = 0, -1, 0  # its iteration, account (-1: none), the story contact's place
        self._sent: dict[int, _Message] = {}  # step index -> the story contact's message there
        self._own: dict[str, int] = {}  # trigger name -> when the story contact's own event (not a message's) is
        self._story: StepStory | None = None  # the move being made

    # the reference run's unit loop (reference_run.run_unit), with the story recorded at every move
    def run_unit(self, k: int, contacts: list[ContactState], t0: int, account: int) -> None:
        self._k, self._account = k, account
        self._mine = next(i for i, c in enumerate(contacts) if c.contact == self.row)
        self._sent, self._own = {}, {}
        run_unit(self.plan, self.facts, self.behaviour, self.seed, k, contacts, t0, account, self.out,
                 self.mods_cache, observer=self)

    # --- what the loop tells (reference_run.UnitObserver) ---------------------------------------------------
    def trigger(self, pos: int, name: str, t: int) -> None:
        if pos == self._mine:
            self._own[name] = min(self._own.get(name, NEVER), t)

    def moving(self, state: UnitState, index: int, arrived: int, move: Move) -> None:
        self._story = self.explain(state, index, arrived, move, self._mine, self._account, self._sent)

    def message(self, pos: int, row: int, step_index: int, move: Move, ev: Any, link: str | None) -> None:
        step = self.plan.steps[step_index]
        unsub, hard = int(ev.unsubscribed[0]), int(ev.hard_bounced[0])
        lost = min(unsub, hard)
        if lost < NEVER and step.channel:
            key = (row, step.channel)
            if key not in self.blocked_why or lost < self.blocked_why[key].at:
                self.blocked_why[key] = _Blocked(lost, step_index, "unsubscribed" if unsub <= hard else "hard bounce")
        if pos == self._mine:
            times = {n: int(ev.get(n)[0]) for n in ("delivered", "bounced", "hard_bounced", "opened", "clicked",
                                                     "unsubscribed", "converted")}
            self._sent[step_index] = _Message(step_index, move.at, times, link)
            assert self._story is not None
            self._story.happenings.extend(self.happenings(step, times, link))

    def moved(self) -> None:
        assert self._story is not None
        self.stories.append(self._story)
        self._story = None

    def reached_end(self, at: int, final: Move) -> None:
        self.stories.append(self.ending(self._k, self.plan.end, at, final, "reached the end of its path",
                                        {"kind": "end"}))

    def exited(self, state: UnitState, ex: Move, drawn_conv: dict[int, int]) -> None:
        self.stories.append(self.left_on(self._k, state, ex, self._own, drawn_conv, self._mine, self._sent))

    def cut_off(self, state: UnitState, final: Move, cutoff: int, horizon: bool) -> None:
        plan = self.plan
        assert state.step is not None
        why = (f"still here when the simulation ended ({local_text(cutoff, plan.timezone)}): "
               + self.waiting_for(state, self._k)) if horizon else \
            (f"the journey's schedule ended at {local_text(cutoff, plan.timezone)} while it waited here"
             if cutoff >= plan.end_at else
             f"this repetition ended at {local_text(cutoff, plan.timezone)} while it waited here")
        self.stories.append(self.step_story(self._k, state.step, state.arrived, final, why,
                                            {"kind": "horizon" if horizon else "schedule_end",
                                             "at": utc_iso(cutoff)}))

    def finished(self, goal_at: int, reached: bool, final: Move) -> None:
        plan = self.plan
        if reached and final.outcome != GOAL and self.stories and plan.goal is not None:
            days = plan.goal_window // 86_400
            late = "after leaving the journey" if goal_at >= final.at else "while in the journey"
            self.stories[-1].happenings.append(Happening(
                goal_at, "goal", f"reached the goal ({plan.goal.name}) {late}: it counts for the journey, being "
                                 f"within {days} days of entering"))

    def draw(self, step: StepPlan, first_row: int, account: int) -> float:
        """The split's uniform draw, keyed as the reference run keys it (the account, or the unit's first contact)."""
        pop = self.facts.pop
        if account >= 0:
            h = hash_keys(np.array([account]), stream(self.seed, step.key, SPLIT_ACCOUNT))
        else:
            h = hash_keys(pop.contact_id[first_row:first_row + 1], stream(self.seed, step.key, SPLIT))
        return float(uniforms(h)[0][0])

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
        made = self.content.get(content) if content else None
        line = (getattr(made, "subject", "") or getattr(made, "title", "") or getattr(made, "text", "")) if made else ""
        if line:
            line = line if len(line) <= 80 else line[:77] + "..."
            what += f" (\"{line}\")"
            reason["says"] = line
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
                       f"{local_text(step.ab.decide_at, tz)}): {drew}: {label}"
                       + (f"; the test then decided: {decision['reason']}" if decision.get("reason") else ""))
            elif step.route >= 0:
                took = (f"so it took path {PATH_NAMES[step.route]} (its draw, {u:.4f}, is below the holdout's "
                        f"{step.thresholds[-1]:.3f}: not held out)" if step.thresholds[-1] < 1
                        else f"so it took path {PATH_NAMES[step.route]}, as everyone arriving from then on")
                why = (f"came at {local_text(arrived, tz)}, after the A/B test's decision at "
                       f"{local_text(step.ab.decide_at, tz)}: path {PATH_NAMES[step.route]} had been chosen{decided}, "
                       + took)
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
