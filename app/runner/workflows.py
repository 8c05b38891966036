"""The runner's Temporal workflows: a unit's own (ContactWorkflow), a cohort's (cohort.py), and one that enrols a
journey's audience.

What a unit does is unit.py's `Unit` (the reference interpreter driven on the run's clock); ContactWorkflow runs one
unit: an activity per send, its own timer, its own search attributes. It stays registered for runs started with
a workflow per unit (`RunSettings.cohort = 0`) and for workflows started before cohorts existed.

The workflow keeps search attributes up to date (devserver.SEARCH_ATTRIBUTES) for the live per-step counts,
answers the `progress` query, and returns its path.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from app.runner.calls import (CONTACT_WORKFLOW, ENROLMENT_WORKFLOW, ContactInput, EnrolInput, EnrolPage,
                                  EnrolResult, Event, FactsAnswer, FactsRequest, SendResult, StepRequest)
    from app.runner.clock import Clock
    from app.runner.runnable import lookup
    from app.runner.unit import (EVENTS_KEEP_TIME, FACTS_TIMEOUT, FAILED, NO_ADDRESS, PERMANENT, SEND_ATTEMPTS,
                                 SEND_GIVE_UP, SEND_RETRY, Unit, failure_reason, split_draw)
    from app.semantics.plan import Plan

__all__ = ["EVENTS_KEEP_TIME", "FACTS_TIMEOUT", "FAILED", "NO_ADDRESS", "PERMANENT", "SEND_ATTEMPTS", "SEND_GIVE_UP",
           "SEND_RETRY", "split_draw", "ContactWorkflow", "EnrolmentWorkflow"]

KEY = SearchAttributeKey.for_keyword("JourneyKey")
STEP = SearchAttributeKey.for_keyword("JourneyStep")
PATH = SearchAttributeKey.for_keyword_list("JourneyPath")
OUTCOME = SearchAttributeKey.for_keyword("JourneyOutcome")
GOAL = SearchAttributeKey.for_keyword("JourneyGoal")
TALLY = SearchAttributeKey.for_keyword_list("JourneyTally")  # an account's: "KEY*n", n of its contacts per path key

# enrolment waits for the world (Temporal, the contacts database) however long it is away: no bound
ENROL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=30))
PAGES_PER_RUN = 200  # enrolment continues as new after this many pages, to keep its history short


@workflow.defn(name=CONTACT_WORKFLOW)
class ContactWorkflow:
    """One unit's way (a contact's, or an account's contacts') through one iteration of a journey, in a workflow of
    its own (the unit's id is the workflow's)."""

    def __init__(self) -> None:
        self.unit: Unit | None = None
        self.early: list[Event] = []  # signals that came before the unit was made
        self.ended = self.goal_shown = False

    @workflow.signal(name="event")
    def event(self, ev: Event) -> None:
        """An event from the tracking endpoint (an open, a click, a purchase...)."""
        if self.unit is None:
            self.early.append(ev)
        else:
            self.unit.signal(ev)

    @workflow.query(name="progress")
    def progress(self) -> dict[str, Any]:
        """Where the unit is and the steps it took so far (its first contact's; `paths`: every contact's)."""
        if self.unit is None:
            return {"step": "", "visits": [], "paths": {}}
        return self.unit.progress()

    @workflow.run
    async def run(self, inp: ContactInput) -> dict[str, Any]:
        self.unit = unit = Unit(self, inp, workflow.info().workflow_id)
        for ev in self.early:
            unit.signal(ev)
        return await unit.run()

    # --- the unit's host -----------------------------------------------------------------------------------

    async def facts(self, req: FactsRequest) -> FactsAnswer:
        ans: FactsAnswer = await workflow.execute_local_activity(
            "contact_facts", req, result_type=FactsAnswer, start_to_close_timeout=FACTS_TIMEOUT)
        return ans

    async def sends_of(self, journey: str, contacts: list[int]) -> dict[str, Any]:
        found: dict[str, Any] = await workflow.execute_local_activity(
            "contact_sends", args=[journey, contacts], result_type=dict, start_to_close_timeout=FACTS_TIMEOUT)
        return found

    async def blocks_of(self, journey: str, contacts: list[int]) -> dict[str, Any]:
        found: dict[str, Any] = await workflow.execute_local_activity(
            "contact_blocks", args=[journey, contacts], result_type=dict, start_to_close_timeout=FACTS_TIMEOUT)
        return found

    async def undelivered(self, uid: str, up_to: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await workflow.execute_local_activity(
            "undelivered_events", args=[uid, up_to], result_type=list, start_to_close_timeout=FACTS_TIMEOUT)
        return found

    async def send(self, req: StepRequest, timeout: timedelta) -> SendResult:
        """Send a message (retried within SEND_RETRY's bounds); a send that fails for good is `failed`, recorded."""
        try:
            res: SendResult = await workflow.execute_activity(
                "send_message", req, result_type=SendResult, start_to_close_timeout=timeout,
                schedule_to_close_timeout=max(SEND_GIVE_UP, 2 * timeout), retry_policy=SEND_RETRY)
            return res
        except ActivityError as e:
            reason = failure_reason(e)
            workflow.logger.warning("contact %s, step %s: the message is not sent: %s", req.contact, req.step_id,
                                    reason)
            await workflow.execute_local_activity("send_failed", args=[req.key, reason],
                                                  start_to_close_timeout=FACTS_TIMEOUT)
            return SendResult(FAILED, "", reason)

    async def sleep(self, unit: Unit, seconds: float) -> bool:
        try:
            await workflow.wait_condition(lambda: unit.woken, timeout=timedelta(seconds=seconds))
        except asyncio.TimeoutError:
            return True
        return False

    def moved(self, unit: Unit) -> None:
        """Search attributes for the live counts: the current step and the steps (with outcomes) behind; at the
        end, the outcome; then whether the goal was reached."""
        if unit.finished:
            return
        if unit.goal_reached:
            if not self.goal_shown:
                self.goal_shown = True
                workflow.upsert_search_attributes([GOAL.value_set("reached")])
        elif unit.outcome and not self.ended:
            self.ended = True
            workflow.upsert_search_attributes([STEP.value_set("end"), PATH.value_set(unit.path_keys()),
                                               OUTCOME.value_set(unit.outcome), *self.tally(unit)])
        elif not unit.outcome:
            workflow.upsert_search_attributes([STEP.value_set(unit.where),
                                               PATH.value_set([*unit.path_keys(), unit.where]),
                                               *self.tally(unit, unit.where)])

    def tally(self, unit: Unit, where: str = "") -> list[Any]:
        """An account's workflow: how many of its contacts each path key counts (status.py adds them up)."""
        if unit.inp.account < 0:
            return []
        counts = unit.key_counts(where)
        return [TALLY.value_set([f"*{len(unit.paths)}", *(f"{k}*{n}" for k, n in counts.items())])]


@workflow.defn(name=ENROLMENT_WORKFLOW)
class EnrolmentWorkflow:
    """Enter the audience: at the start (one-time), at each iteration (repeating), or as members join (ongoing)."""

    @workflow.run
    async def run(self, inp: EnrolInput) -> dict[str, Any]:
        r = lookup(inp.journey, inp.digest)
        plan: Plan = r.plan
        self.inp, self.clock = inp, Clock.from_plain(inp.clock)
        enrolled = inp.enrolled
        pages = 0
        for k in range(inp.iteration, len(plan.iterations)):
            begin, cutoff = plan.iterations[k][0], plan.cutoff(k)[0]
            await self.sleep_until(begin)
            while inp.exact and k > 0 and await workflow.execute_activity(
                    "iteration_open", args=[inp.journey, k - 1], result_type=int,
                    start_to_close_timeout=timedelta(minutes=5), retry_policy=ENROL_RETRY):
                await workflow.sleep(timedelta(seconds=0.2))  # a rehearsal: the previous iteration is not over yet
            after = inp.after if k == inp.iteration else 0
            look = begin  # a rehearsal looks at the ongoing audience at logical moments: begin, + poll, ...
            while (look if inp.exact else self.sim_now()) < cutoff:
                at = begin if plan.frequency != "ongoing" else look if inp.exact else max(begin, self.sim_now())
                page_after: int | None = after
                while page_after is not None:
                    res = await self.enrol(k, at, page_after)
                    enrolled += res.started
                    page_after = res.after
                    pages += 1
                    if pages >= PAGES_PER_RUN:
                        workflow.continue_as_new(replace(inp, iteration=k, after=page_after or 0, enrolled=enrolled))
                after = 0
                if plan.frequency != "ongoing":
                    break
                await self.sleep_until(min(at + inp.poll, cutoff))
                look = at + inp.poll
        return {"enrolled": enrolled}

    def sim_now(self) -> int:
        return self.clock.sim(workflow.now().timestamp())

    async def sleep_until(self, target: int) -> None:
        delay = self.clock.real(target) - workflow.now().timestamp()
        if delay > 0:
            await workflow.sleep(timedelta(seconds=delay))

    async def enrol(self, k: int, at: int, after: int) -> EnrolResult:
        i = self.inp
        page = EnrolPage(i.journey, i.digest, k, at, at if i.exact else max(at, self.sim_now()), after, i.page,
                         i.clock, i.seed, i.send_timeout, i.poll, i.exact, i.cohort)
        return await workflow.execute_activity("enrol_page", page, result_type=EnrolResult,
                                               start_to_close_timeout=timedelta(minutes=10),
                                               heartbeat_timeout=timedelta(seconds=60),
                                               retry_policy=ENROL_RETRY)
