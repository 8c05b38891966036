"""One unit's way through one iteration of a journey, as a coroutine a workflow runs (workflows.py, cohort.py).

A unit is a contact or, when the journey targets accounts, the contacts of an account that enter together
(seed 003: they take one path; a task, lead or workflow is created once for the account; messages go to each
contact, with facts, consent, the frequency cap and opt-outs per contact). `Unit.run` steps through the journey
with the reference interpreter (app/semantics/reference.py), exactly as the simulator's reference run drives it,
except that events come from the world (signals) instead of draws and that time is the run's clock (clock.py)
read from `workflow.now()`:

- at each moment: events up to now are observed, the interpreter's moves run (a message step's send and an
  action's effect are activities: retried, idempotent), then exit conditions are checked;
- then the unit waits until the interpreter's next wake-up, the schedule's end (or the iteration's), or an event
  signal, whichever comes first; nothing happens at or after the cutoff;
- facts the interpreter asks for (segment membership, attribute values) are read by local activities at the
  moment asked, so the answers are in the history and a replay takes the same path;
- live, a step is entered when the unit actually gets there, so a worker that was down catches up at the time
  it comes back (the simulator has no such delays, so its times are the ideal ones).

What touches Temporal goes through the unit's `Host`: a workflow of its own (ContactWorkflow, one activity per
send, its own timer and search attributes) or a cohort (CohortWorkflow: the sends, fact reads and outbox reads of
all its units in one activation go as one activity, one timer per distinct wake-up, one upsert of the
cohort's tallies per activation). The unit's id (`uid`, its own workflow's id in the first case) names its
sends (idempotency keys), its tracking tokens and its events in the outbox, wherever it runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    import numpy as np

    from app.runner.calls import (IN_FLIGHT_EVENT, ContactInput, Event, FactsAnswer, FactsRequest, SendResult,
                                  StepRequest)
    from app.runner.clock import Clock
    from app.runner.runnable import lookup
    from app.semantics.draws import SPLIT, SPLIT_ACCOUNT, hash_keys, stream, uniforms
    from app.model.registry import PATH_NAMES
    from app.semantics.outcomes import CAPPED, COMPLETED, DONE, LABELS, PATH_BASE, SENT, SUPPRESSED
    from app.semantics.plan import (CHANNEL_EVENTS, LINK_CLICK, MESSAGE_EVENT_NAMES, STEP_EVENTS, Kind, StepPlan,
                                    with_route)
    from app.semantics.reference import (NEVER, ContactState, Move, Wait, advance, apply, enter, exit_due,
                                         observe, observe_event, stop)

# a patch marker: workflows started before it was added replay as they ran (a message's moves at the moment it
# was decided, no outbox read before a deadline that passed while an activity ran); new ones keep events' time
EVENTS_KEEP_TIME = "events-keep-their-time"

FAILED, NO_ADDRESS = "failed", "no_address"  # why a message was not sent, as the counts tell it
FACTS_TIMEOUT = timedelta(seconds=30)
PERMANENT = "PermanentFailure"  # the error type of a send or an action that another attempt would not change
SEND_ATTEMPTS = 8  # a send or an action: tried at most this many times (1 s, 2 s, 4 s... 60 s apart)
SEND_GIVE_UP = timedelta(minutes=30)  # ... and given up on this long after it was first scheduled
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=60), maximum_attempts=SEND_ATTEMPTS,
                         non_retryable_error_types=[PERMANENT])


def split_draw(seed: int, step: StepPlan, contact: int, account: int = -1) -> float:
    """The uniform draw of a split for a unit: the simulator's (keyed by the contact, or the account, and the step,
    not the iteration)."""
    if account >= 0:
        h = hash_keys(np.array([account], dtype=np.int64), stream(seed, step.key, SPLIT_ACCOUNT))
    else:
        h = hash_keys(np.array([contact], dtype=np.int64), stream(seed, step.key, SPLIT))
    return float(uniforms(h)[0][0])


def failure_reason(e: ActivityError) -> str:
    """Why an activity failed for good, in one line."""
    cause = e.cause
    text = cause.message if isinstance(cause, FailureError) else str(cause or e)
    if e.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return f"gave up after {SEND_ATTEMPTS} attempts: {text}"
    if e.retry_state == RetryState.TIMEOUT:
        return f"gave up after {SEND_GIVE_UP}: {text}"
    return text


class Host(Protocol):
    """What a unit asks of the workflow it runs in."""

    async def facts(self, req: FactsRequest) -> FactsAnswer: ...

    async def sends_of(self, journey: str, contacts: list[int]) -> dict[str, Any]: ...

    async def blocks_of(self, journey: str, contacts: list[int]) -> dict[str, Any]: ...

    async def undelivered(self, uid: str, up_to: int) -> list[dict[str, Any]]: ...

    async def send(self, req: StepRequest, timeout: timedelta) -> SendResult: ...

    async def sleep(self, unit: "Unit", seconds: float) -> bool: ...

    def moved(self, unit: "Unit") -> None: ...


class _NeedFacts(Exception):
    """The interpreter asked for a fact the unit has not read yet."""

    def __init__(self, segment: str | None, attribute: str | None, at: int) -> None:
        super().__init__(segment or attribute)
        self.segment, self.attribute, self.at = segment, attribute, at


class _Facts:
    """The interpreter's Facts, answered from what local activities read (in the history).

    The suppression segment is the exception: it is asked at each message's send slot, and the send activity
    checks it again at send time anyway, so it is first assumed false (`assumed` records that) and the send
    activity's answer stands for it; it is read only when the assumption decided something else (the cap).
    """

    def __init__(self, zone: str | None, suppress: str | None) -> None:
        self.zone, self.suppress = zone, suppress
        self.now = 0
        self.members: dict[tuple[str, int, int], bool] = {}  # (segment, contact, moment)
        self.values: dict[tuple[str, int, int], Any] = {}  # (attribute, contact, moment)
        self.assumed: set[tuple[str, int]] = set()

    def member(self, contact: int, segment: str, t: int) -> bool:
        if (segment, contact, t) not in self.members:
            if segment == self.suppress:
                self.assumed.add((segment, t))
                return False
            raise _NeedFacts(segment, None, t)
        return self.members[(segment, contact, t)]

    def attribute(self, contact: int, name: str) -> Any:
        if (name, contact, self.now) not in self.values:
            raise _NeedFacts(None, name, self.now)
        return self.values[(name, contact, self.now)]

    def timezone(self, contact: int) -> str | None:
        return self.zone


class Unit:
    """One unit's way (a contact's, or an account's contacts') through one iteration of a journey."""

    def __init__(self, host: Host, inp: ContactInput, uid: str) -> None:
        self.host, self.inp, self.uid = host, inp, uid
        self.pending: list[Event] = []
        self.seen: set[tuple[str, int, str, int]] = set()  # events handed to the interpreter (name, at, step, contact)
        self.collected_at = -1  # the outbox was last read for events accepted up to this simulated moment
        self.woken = False
        self.paths: dict[int, list[list[Any]]] = {c: [] for c in inp.contacts}  # contact -> [[step, in, out, label]]
        self.visits: list[list[Any]] = self.paths[inp.contact]  # the first contact's
        self.sent: dict[int, int] = {}  # message step index -> simulated send time
        self.where: str = ""
        self.outcome: str = ""  # the final outcome's label once the unit has left
        self.goal_reached = False
        self.finished = False  # the unit's coroutine returned (it no longer listens)
        self.reasons: dict[tuple[int, str], str] = {}  # (contact, step id) -> failed / no_address, for the counts
        self.ab_decided: set[int] = set()  # A/B splits whose decision this unit has asked for
        self.taken_from: str | None = None  # the step the next version takes the unit from (migrate_flight.py)

    def signal(self, ev: Event) -> None:
        """An event from the tracking endpoint (an open, a click, a purchase...)."""
        if ev.name == IN_FLIGHT_EVENT:  # the next version takes the unit, if it still waits at that step
            self.taken_from = ev.step_id
            self.woken = True
            return
        self.pending.append(ev)
        self.woken = True

    def progress(self) -> dict[str, Any]:
        """Where the unit is and the steps it took so far (its first contact's; `paths`: every contact's), with its
        account and time zone (what the next version's run needs to take the unit over: migrate_flight.py)."""
        return {"step": self.where, "visits": self.visits, "paths": {str(c): v for c, v in self.paths.items()},
                "account": self.inp.account, "timezone": self.inp.timezone}

    async def run(self) -> dict[str, Any]:
        inp = self.inp
        r = lookup(inp.journey, inp.digest)
        self.plan, self.clock = r.plan, Clock.from_plain(inp.clock)
        plan = self.plan
        cutoff = plan.cutoff(inp.iteration)[0]
        self.facts = _Facts(inp.timezone, plan.audience.suppress)
        unit = inp.contacts
        contacts = [ContactState(c) for c in unit]
        self.by_id = {c.contact: c for c in contacts}
        if plan.cap is not None:  # the frequency cap counts this journey's earlier sends
            sends = await self.host.sends_of(inp.journey, unit)
            for c in contacts:
                c.sends = [int(x) for x in sends.get(str(c.contact), [])]
        if inp.iteration > 0:  # opt-outs and hard bounces of earlier iterations hold for the rest of the run
            found = await self.host.blocks_of(inp.journey, unit)
            for c in contacts:
                for channel, at in (found.get(str(c.contact)) or {}).items():
                    c.block(str(channel), int(at))
        self.saved_blocks = {c.contact: dict(c.blocked) for c in contacts}
        now = inp.entered_at if inp.exact else max(inp.entered_at, self.sim_now())
        state = enter(plan, contacts, inp.iteration, now)
        if inp.start_step:  # moved here from the previous version's run: it enters at that step
            state.step = next(s.index for s in plan.steps if s.id == inp.start_step)
        self.state = state
        for item in inp.script:  # a rehearsal's contact events at set moments (rehearsal.py)
            if "at" in item:
                self.pending.append(Event(str(item["event"]), plan.start + int(item["at"]), "",
                                          int(item.get("contact", -1))))
        # exit and goal conditions on segments: looked at on entry, then every `poll` simulated seconds
        self.watched = [t for t in (*plan.exits, *([plan.goal] if plan.goal else [])) if t.segment]
        self.next_look = now
        final: Move | None = None
        if now >= cutoff:
            final = stop(cutoff, False)
            self.visit(plan.entry, now, final)
        while final is None:
            if self.taken_from is not None and state.step is not None and state.step < plan.end \
                    and plan.steps[state.step].id == self.taken_from:  # moved on or left by the next version
                final = stop(now, False)
                self.visit(state.step, state.arrived, final)
                break
            action: Wait | Move = Wait(NEVER)
            while final is None:
                if self.observe_until(now):  # events up to now (some came while an activity ran) before the moves
                    await self.save_blocks()
                action = await self.advance(now)
                if isinstance(action, Wait):
                    break
                if (not inp.exact and state.arrived < action.at < now and self.collected_at < now
                        and workflow.patched(EVENTS_KEEP_TIME)):
                    # a deadline passed while an activity ran (or the worker or Temporal was away): an event the
                    # endpoint accepted before it may still be on its way; read the outbox, then decide
                    await self.collect_undelivered(now)
                    continue
                step_index, arrived = state.step, state.arrived
                assert step_index is not None
                action = await self.carry_out(plan.steps[step_index],
                                              action if inp.exact else replace(action, at=max(action.at, now)))
                now = action.at if inp.exact else max(now, self.sim_now())
                self.visit(step_index, arrived, action)
                apply(plan, state, action)
                if action.next is None:
                    final = action
                elif action.next == plan.end:
                    final = Move(action.at, COMPLETED, None)
                    self.visit(plan.end, action.at, final)
                elif now >= cutoff:
                    final = stop(cutoff, False)
                    self.visit(action.next, action.at, final)
            if final is not None:
                break
            if self.observe_until(now):
                await self.save_blocks()
                continue  # events came in while the moves ran: the interpreter sees them at this moment
            if await self.look_at_segments(now):
                continue
            ex = exit_due(plan, state)
            if ex is not None:
                final = ex
                self.visit(state.step, state.arrived, ex)  # type: ignore[arg-type]
                break
            self.publish()
            assert isinstance(action, Wait)
            target = min(action.until, cutoff, *(e.at for e in self.pending),
                         *([self.next_look] if self.watched else []))
            timer = await self.sleep_until(target)
            if inp.exact:  # logical time: the moment waited for, or (woken by an event) the same moment
                now = max(now, target) if timer else now
            else:
                now = max(now, self.sim_now(), target if timer else 0)
                if timer:
                    await self.collect_undelivered(now)
            if now >= cutoff:
                self.observe_until(cutoff - 1)
                ex = exit_due(plan, state)
                final = ex if ex is not None else stop(cutoff, False)
                self.visit(state.step, state.arrived, final)  # type: ignore[arg-type]
        self.where = "end"
        self.outcome = LABELS[final.outcome]
        self.host.moved(self)
        goal_at = await self.attribute_goal(cutoff)
        await self.save_blocks()
        self.finished = True
        self.host.moved(self)
        return {"contact": inp.contact, "iteration": inp.iteration, "visits": self.visits,
                "outcome": LABELS[final.outcome], "left_at": final.at, "goal_at": goal_at,
                "paths": {str(c): v for c, v in self.paths.items()},
                "not_sent": {f"{c}:{step}": why for (c, step), why in self.reasons.items()}}

    async def attribute_goal(self, cutoff: int) -> int | None:
        """The one definition of a goal (Plan.goal_deadline): its event within the goal's window after entry,
        whether or not the contact has left. A contact that has left without it is still listened to until the
        window closes (or the iteration's cutoff); then the goal counts 'reached' when it came."""
        plan = self.plan
        if plan.goal is None:
            return None
        deadline = plan.goal_deadline(self.state.entered_at, cutoff)
        logical = max(self.state.arrived, self.state.entered_at)
        while True:
            now = logical if self.inp.exact else self.sim_now()
            self.observe_until(min(now, deadline - 1))
            if plan.goal.segment and now < deadline:
                await self.look_at_segments(now)
            at = self.state.contact_events.get(plan.goal.name, NEVER)
            if at < deadline:
                self.goal_reached = True
                self.host.moved(self)
                return at
            if now >= deadline:
                if self.inp.exact or self.collected_at >= deadline or not workflow.patched(EVENTS_KEEP_TIME):
                    return None
                await self.collect_undelivered(now)  # a goal accepted in time, on its way when the window closed
                continue
            looks = [self.next_look] if plan.goal.segment else []
            target = min([deadline, *looks, *(e.at for e in self.pending)])
            if await self.sleep_until(target):
                logical = max(logical, target)
                if not self.inp.exact:
                    await self.collect_undelivered(self.sim_now())

    async def save_blocks(self) -> None:
        """Record channels that stopped reaching contacts since the last record (for later iterations)."""
        if len(self.plan.iterations) < 2:
            return
        new: dict[str, dict[str, int]] = {}
        for c in self.state.contacts:
            saved = self.saved_blocks[c.contact]
            found = {ch: at for ch, at in c.blocked.items() if saved.get(ch) != at}
            if found:
                new[str(c.contact)] = found
        if new:
            await workflow.execute_local_activity("record_blocks", args=[self.inp.journey, new],
                                                  start_to_close_timeout=FACTS_TIMEOUT)
            for key, channels in new.items():
                self.saved_blocks[int(key)].update(channels)

    async def look_at_segments(self, now: int) -> bool:
        """Read the segments of exit and goal conditions when a look is due; record a condition met ('joins':
        a member, at entry or since; 'leaves': no longer a member) as its contact event. Live, a condition is
        seen at the first look after it is met (every `poll` simulated seconds); whether anything was new."""
        if not self.watched or now < self.next_look:
            return False
        self.next_look = now + max(1, self.inp.poll)
        names = sorted({t.segment for t in self.watched if t.segment})
        await self.read_facts(now, names, [])
        new = False
        for t in self.watched:  # a unit meets a condition when any of its contacts does
            for c in self.state.contacts:
                member = self.facts.members.get((t.segment or "", c.contact, now), False)
                met = member if t.when != "leaves" else not member
                if met and t.name not in self.state.contact_events:
                    observe_event(self.state, t.name, now, c)
                    new = True
        return new

    # --- time ----------------------------------------------------------------------------------------------

    def sim_now(self) -> int:
        return self.clock.sim(workflow.now().timestamp())

    async def sleep_until(self, target: int) -> bool:
        """Wait until simulated `target` or an event signal; True when the time ran out."""
        delay = self.clock.real(target) - workflow.now().timestamp()
        if delay <= 0:
            return True
        self.woken = False
        return await self.host.sleep(self, delay)

    # --- events --------------------------------------------------------------------------------------------

    async def collect_undelivered(self, now: int) -> None:
        """Before a deadline passes: events the endpoint accepted by `now` whose signal is late (delivery lag, or
        the worker or Temporal away) still count, read from the runner's outbox. That includes events signalled
        already whose signal this workflow task has not seen yet. The signal, when it comes, adds nothing:
        observing an event again keeps its first moment."""
        found = await self.host.undelivered(self.uid, now)
        self.collected_at = max(self.collected_at, now)
        known = self.seen | {(e.name, e.at, e.step_id, e.contact) for e in self.pending}
        for doc in found:
            ev = Event(**doc)
            if (ev.name, ev.at, ev.step_id, ev.contact) not in known:
                self.pending.append(ev)

    def observe_until(self, now: int) -> bool:
        """Hand the interpreter the events that happened up to `now`, in time order; whether there were any."""
        due = sorted((e for e in self.pending if e.at <= now), key=lambda e: e.at)
        if not due:
            return False
        self.pending = [e for e in self.pending if e.at > now]
        for e in due:
            self.seen.add((e.name, e.at, e.step_id, e.contact))
            at = max(e.at, self.state.entered_at)
            who = self.by_id.get(e.contact, self.state.contacts[0])  # whose event: one contact of the unit
            if e.step_id and e.name in CHANNEL_EVENTS:  # from one message: its channel only
                step = next((s for s in self.plan.steps if s.id == e.step_id), None)
                channel = step.channel if step is not None else None
                if e.name == "unsubscribed":
                    observe_event(self.state, e.name, at, who, channel)
                else:  # the address is dead: nothing more on that channel (a soft bounce is only 'bounced')
                    who.block(channel, at)
                    if step is not None and step.index in self.sent:
                        observe(self.state, step.index, "bounced", max(at, self.sent[step.index]))
            elif e.step_id:
                name = e.name if e.name.startswith(LINK_CLICK) else MESSAGE_EVENT_NAMES.get(e.name)
                index = next((s.index for s in self.plan.steps if s.id == e.step_id), None)
                if name is None or index is None or index not in self.sent:
                    continue  # a message this contact was not sent on its path has no events
                observe(self.state, index, name, max(at, self.sent[index]))
            else:
                observe_event(self.state, e.name, at, who)
        return True

    # --- the interpreter -----------------------------------------------------------------------------------

    async def advance(self, now: int) -> Wait | Move:
        """The interpreter's next action at `now`, reading the facts it asks for first."""
        await self.ab_decision()
        while True:
            self.facts.now = now
            self.facts.assumed.clear()
            try:
                action = advance(self.plan, self.facts, self.state, now,
                                 lambda step: split_draw(self.inp.seed, step, self.inp.contact, self.inp.account))
            except _NeedFacts as need:
                await self.read_facts(need.at, [need.segment] if need.segment else [],
                                      [need.attribute] if need.attribute else [])
                continue
            if isinstance(action, Move) and CAPPED in (action.contact_outcomes or ()) and self.facts.assumed:
                for segment, at in list(self.facts.assumed):  # suppressed or capped: read which
                    await self.read_facts(at, [segment], [])
                continue
            return action

    async def ab_decision(self) -> None:
        """At an A/B split whose test period is over: its decision (taken once by the first unit there, kept in the
        runner's state: ab_live.py) goes into this unit's plan, so the interpreter sends it down the winner."""
        at = self.state.step
        step = self.plan.steps[at] if at is not None and at < self.plan.end else None
        if step is None or step.ab is None or step.route >= 0 or self.state.arrived < step.ab.decide_at \
                or step.index in self.ab_decided:
            return
        decision = await workflow.execute_local_activity("ab_decide", args=[self.inp.journey, self.inp.digest, step.id],
                                                         start_to_close_timeout=FACTS_TIMEOUT)
        self.ab_decided.add(step.index)
        route = decision.get("route") if isinstance(decision, dict) else None
        if isinstance(route, str) and route in PATH_NAMES[:len(step.thresholds)]:
            self.plan = with_route(self.plan, step.index, PATH_NAMES.index(route))

    async def ab_arrival(self, step: StepPlan, move: Move) -> None:
        """A unit taking a path of an A/B split during its test period: its contacts are kept (ab_live.py) to count
        the paths when the test is decided."""
        if step.ab is None or move.at >= step.ab.decide_at or not PATH_BASE <= move.outcome < PATH_BASE + 10:
            return
        rows = [[c.contact, self.inp.iteration, move.outcome - PATH_BASE, move.at] for c in self.state.contacts]
        await workflow.execute_local_activity("ab_arrive", args=[self.inp.journey, step.id, rows],
                                              start_to_close_timeout=FACTS_TIMEOUT)

    async def read_facts(self, at: int, segments: list[str], attributes: list[str]) -> None:
        """Read the unit's segment memberships and attribute values at `at` (a local activity, in the history)."""
        unit = self.inp.contacts
        ans = await self.host.facts(FactsRequest(self.inp.journey, self.inp.digest, unit, at, segments, attributes))
        for name, answers in ans.members.items():
            for c, yes in zip(unit, answers):
                self.facts.members[(name, c, at)] = bool(yes)
        for name, values in ans.attributes.items():
            for c, value in zip(unit, values):
                self.facts.values[(name, c, at)] = value

    async def carry_out(self, step: StepPlan, move: Move) -> Move:
        """Do what a move means in the world: send the message to each contact it goes to, create the task (once
        per account when the step acts per account), call the webhook."""
        outs = list(move.contact_outcomes or ())
        timeout = timedelta(seconds=self.inp.send_timeout)

        def request(contact: int) -> StepRequest:
            return StepRequest(self.inp.journey, self.inp.digest, self.uid, contact, self.inp.iteration, step.id,
                               move.at, self.inp.account)

        unit = [c.contact for c in self.state.contacts]
        if step.kind == Kind.SPLIT:
            await self.ab_arrival(step, move)
        if step.kind == Kind.MESSAGE and SENT in outs:
            todo = [i for i, o in enumerate(outs) if o == SENT]
            results = await asyncio.gather(*(self.host.send(request(unit[i]), timeout) for i in todo))
            sent = []
            for i, res in zip(todo, results):
                if res.outcome == "capped":  # the project's frequency cap across journeys held it back
                    outs[i] = CAPPED
                elif res.outcome != "sent":
                    outs[i] = SUPPRESSED  # not sent (consent, suppression, no address, a failure): the contact goes on
                    if res.outcome in (FAILED, NO_ADDRESS):
                        self.reasons[(unit[i], step.id)] = res.outcome
                else:
                    sent.append(unit[i])
            if not self.inp.exact and workflow.patched(EVENTS_KEEP_TIME):
                # live: the move happens when the sends completed (an outage delays them; an if/then's window on
                # this message starts from there)
                move = replace(move, at=max(move.at, self.sim_now()))
            if sent:
                self.sent[step.index] = move.at
                observe(self.state, step.index, "delivered", move.at)  # the transport accepted it
            for item in self.inp.script:  # a rehearsal: what the contacts sent this message do after it
                who = int(item.get("contact", self.inp.contact))
                if item.get("after") == step.id and who in sent:
                    at, name = move.at + int(item.get("delay", 0)), str(item["event"])
                    self.pending.append(Event(name, at, step.id if name in STEP_EVENTS else "", who))
                    if item.get("link"):
                        self.pending.append(Event(f"{LINK_CLICK}{item['link']}", at, step.id, who))
            return replace(move, contact_outcomes=tuple(outs))
        if step.kind == Kind.ACTION:
            await asyncio.gather(*(self.act(request(unit[i]), timeout) for i, o in enumerate(outs) if o == DONE))
        return move

    async def act(self, req: StepRequest, timeout: timedelta) -> None:
        """Carry out an action (retried within SEND_RETRY's bounds); one that fails for good is counted `failed`."""
        try:
            await workflow.execute_activity("run_action", req, start_to_close_timeout=timeout,
                                            schedule_to_close_timeout=max(SEND_GIVE_UP, 2 * timeout),
                                            retry_policy=SEND_RETRY)
        except ActivityError as e:
            workflow.logger.warning("contact %s, step %s: the action failed: %s", req.contact, req.step_id,
                                    failure_reason(e))
            self.reasons[(req.contact, req.step_id)] = FAILED

    # --- what the run shows ----------------------------------------------------------------------------------

    def visit(self, step: int, entered: int, move: Move) -> None:
        step_id = "end" if step >= len(self.plan.steps) else self.plan.steps[step].id
        for pos, c in enumerate(self.inp.contacts):
            outcome = move.contact_outcomes[pos] if move.contact_outcomes is not None else move.outcome
            self.paths[c].append([step_id, entered, move.at, LABELS.get(outcome, str(outcome))])

    def path_keys(self) -> list[str]:
        """The steps the unit entered and `step=outcome` of each it left (any of its contacts'); a message not sent
        for want of an address, or because the send failed, says so instead of 'suppressed'."""
        keys: list[str] = []
        for c, visits in self.paths.items():
            for step_id, _, _, outcome in visits:
                keys += [step_id, f"{step_id}={self.reasons.get((c, step_id), outcome)}"]
        return list(dict.fromkeys(keys))

    def key_counts(self, where: str = "") -> dict[str, int]:
        """How many of the unit's contacts each path key counts (and `where`, when given, all of them)."""
        counts: dict[str, int] = {}
        for c, visits in self.paths.items():
            keys = [k for step_id, _, _, outcome in visits
                    for k in (step_id, f"{step_id}={self.reasons.get((c, step_id), outcome)}")]
            for key in dict.fromkeys([*keys, *([where] if where else [])]):
                counts[key] = counts.get(key, 0) + 1
        return counts

    def publish(self) -> None:
        """Tell the host where the unit is now, when that changed (the live counts)."""
        assert self.state.step is not None
        where = self.plan.steps[self.state.step].id
        if where != self.where:
            self.where = where
            self.host.moved(self)
