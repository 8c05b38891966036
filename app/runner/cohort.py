"""A cohort's workflow: the units of one enrolment page, each a `Unit` coroutine (unit.py) in one workflow.

Temporal runs a workflow's asyncio tasks deterministically, so the units keep their own loop, facts and clock
exactly as in a workflow of their own; what the cohort changes is the number of round trips:

- **Batches per activation.** A unit's send, fact read or outbox read is queued; once every unit of the
  activation has run as far as it can (Temporal checks wait conditions only then), a batcher takes the whole
  queue and runs ONE activity for it: `send_batch` (idempotent per message key, as `send_message`; it returns
  each message's result), `facts_batch`, `undelivered_batch`, `sends_batch`, `blocks_batch` (local activities).
- **One timer per distinct wake-up.** Units register the moment they wait for; a clock task sleeps until the
  earliest and rings every unit whose moment has come (a unit woken by an event first drops its alarm).
- **Signals carry the unit.** The tracking endpoint signals the cohort with the unit's id in the event
  (`Event.unit`, from the enrolments table); an event for a unit that has left is dropped, as a finished
  workflow's would be.
- **Counts.** The cohort publishes one `JourneyTally` at most once per activation (status.py adds them up):
  `*n` its contacts, `KEY*n` per path key, `@STEP*n` waiting at a step (`@end`: left, listening for the goal),
  `=OUTCOME*n` outcomes, `~goal*n` goals reached, `~running*n` still in (counted in contacts).

History stays bounded by the cohort's size: per activation a few events whatever the number of units, plus
one signal per event a contact makes. With 500 units (the default page) a journey of a few messages and events
per contact stays far below Temporal's 50,000-event limit (bench_runner checks the longest history at 10,000
contacts); a journey with many events per contact takes smaller cohorts (`RunSettings.cohort`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from app.runner.calls import (COHORT_WORKFLOW, CohortInput, Event, FactsAnswer, FactsRequest, SendResult,
                                  StepRequest)
    from app.runner.unit import FACTS_TIMEOUT, FAILED, SEND_GIVE_UP, SEND_RETRY, Unit, failure_reason
    from app.runner.workflows import TALLY

T = TypeVar("T")
R = TypeVar("R")
SENDS_PER_TIMEOUT = 50  # a batch of sends gets one send timeout per this many messages (at least one)


class _Batcher(Generic[T, R]):
    """Requests queued by units during an activation, run together as one activity when they are all in."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self.run = run
        self.queue: list[tuple[T, asyncio.Future[R]]] = []

    async def call(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.queue.append((item, fut))
        return await fut

    async def serve(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.queue))
            items, self.queue = self.queue, []
            asyncio.create_task(self._flush(items))  # the next activation's batch need not wait for this one

    async def _flush(self, items: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self.run([item for item, _ in items])
        except BaseException as e:  # noqa: BLE001 (every unit waiting on the batch gets its failure)
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(e)
            return
        for (_, fut), res in zip(items, results):
            if not fut.done():
                fut.set_result(res)


@workflow.defn(name=COHORT_WORKFLOW)
class CohortWorkflow:
    """The units of one enrolment page through one iteration of a journey, in one workflow."""

    def __init__(self) -> None:
        self.units: dict[str, Unit] = {}
        self.early: list[Event] = []  # signals that came before the units were made
        self.alarms: dict[str, float] = {}  # unit id -> the real moment it waits for
        self.rang: set[str] = set()
        self.earliest = float("inf")
        self.dirty = False
        self.send_timeout = 60.0
        self.facts_b: _Batcher[FactsRequest, FactsAnswer] = _Batcher(self._facts)
        self.undelivered_b: _Batcher[tuple[str, int], list[dict[str, Any]]] = _Batcher(self._undelivered)
        self.sends_b: _Batcher[tuple[str, list[int]], dict[str, Any]] = _Batcher(
            lambda items: self._per_contact("sends_batch", items))
        self.blocks_b: _Batcher[tuple[str, list[int]], dict[str, Any]] = _Batcher(
            lambda items: self._per_contact("blocks_batch", items))
        self.send_b: _Batcher[StepRequest, SendResult] = _Batcher(self._send)

    @workflow.signal(name="event")
    def event(self, ev: Event) -> None:
        """An event from the tracking endpoint, for the unit it names."""
        if not self.units:
            self.early.append(ev)
            return
        unit = self.units.get(ev.unit)
        if unit is not None and not unit.finished:
            unit.signal(ev)

    @workflow.query(name="progress")
    def progress(self) -> dict[str, Any]:
        """Every unit's progress (Unit.progress), by unit id."""
        return {"units": {uid: u.progress() for uid, u in self.units.items()}}

    @workflow.run
    async def run(self, inp: CohortInput) -> dict[str, Any]:
        self.units = {uid: Unit(self, u, uid) for uid, u in zip(inp.ids, inp.unit_inputs())}
        self.send_timeout = inp.base.send_timeout
        for ev in self.early:
            self.event(ev)
        helpers = [asyncio.create_task(b.serve()) for b in (self.facts_b, self.undelivered_b, self.sends_b,
                                                              self.blocks_b, self.send_b)]
        helpers += [asyncio.create_task(self._clock()), asyncio.create_task(self._publisher())]
        results = await asyncio.gather(*(u.run() for u in self.units.values()))
        for task in helpers:
            task.cancel()
        self._publish()
        return {"units": dict(zip(self.units, results))}

    # --- the units' host -----------------------------------------------------------------------------------

    async def facts(self, req: FactsRequest) -> FactsAnswer:
        return await self.facts_b.call(req)

    async def sends_of(self, journey: str, contacts: list[int]) -> dict[str, Any]:
        return await self.sends_b.call((journey, contacts))

    async def blocks_of(self, journey: str, contacts: list[int]) -> dict[str, Any]:
        return await self.blocks_b.call((journey, contacts))

    async def undelivered(self, uid: str, up_to: int) -> list[dict[str, Any]]:
        return await self.undelivered_b.call((uid, up_to))

    async def send(self, req: StepRequest, timeout: timedelta) -> SendResult:
        return await self.send_b.call(req)

    async def sleep(self, unit: Unit, seconds: float) -> bool:
        at = workflow.now().timestamp() + seconds
        self.alarms[unit.uid] = at
        self.earliest = min(self.earliest, at)
        try:
            await workflow.wait_condition(lambda: unit.woken or unit.uid in self.rang)
        finally:
            self.alarms.pop(unit.uid, None)
        if unit.uid in self.rang:
            self.rang.discard(unit.uid)
            return True
        return False

    def moved(self, unit: Unit) -> None:
        self.dirty = True

    # --- the batches ---------------------------------------------------------------------------------------

    async def _facts(self, reqs: list[FactsRequest]) -> list[FactsAnswer]:
        found = await workflow.execute_local_activity(
            "facts_batch", reqs, result_type=list[FactsAnswer], start_to_close_timeout=FACTS_TIMEOUT)
        return list(found)

    async def _undelivered(self, items: list[tuple[str, int]]) -> list[list[dict[str, Any]]]:
        found = await workflow.execute_local_activity(
            "undelivered_batch", [[uid, at] for uid, at in items], result_type=list,
            start_to_close_timeout=FACTS_TIMEOUT)
        return list(found)

    async def _per_contact(self, name: str, items: list[tuple[str, list[int]]]) -> list[dict[str, Any]]:
        """A read per contact (sends, blocks) for many units at once; each unit gets its contacts' answers."""
        journey = items[0][0]
        contacts = sorted({c for _, unit in items for c in unit})
        found: dict[str, Any] = await workflow.execute_local_activity(
            name, args=[journey, contacts], result_type=dict, start_to_close_timeout=FACTS_TIMEOUT)
        return [{str(c): found.get(str(c)) for c in unit if str(c) in found} for _, unit in items]

    async def _send(self, reqs: list[StepRequest]) -> list[SendResult]:
        """Send the activation's messages as one activity; when it fails for good, each unsettled one is failed."""
        timeout = timedelta(seconds=self.send_timeout * (1 + len(reqs) // SENDS_PER_TIMEOUT))
        try:
            plain = [[q.journey, q.digest, q.workflow_id, q.contact, q.iteration, q.step_id, q.at, q.account]
                     for q in reqs]
            found = await workflow.execute_activity(
                "send_batch", plain, result_type=list, start_to_close_timeout=timeout,
                schedule_to_close_timeout=max(SEND_GIVE_UP, 2 * timeout), retry_policy=SEND_RETRY)
            return [SendResult(str(o), str(t), str(why)) for o, t, why in found]
        except ActivityError as e:
            reason = failure_reason(e)
            workflow.logger.warning("%d messages are not sent: %s", len(reqs), reason)
            await workflow.execute_local_activity("sends_failed", [[r.key, reason] for r in reqs],
                                                  start_to_close_timeout=FACTS_TIMEOUT)
            return [SendResult(FAILED, "", reason) for _ in reqs]

    # --- one timer for the cohort --------------------------------------------------------------------------

    async def _clock(self) -> None:
        """Sleep until the earliest moment a unit waits for, ring every unit whose moment has come; again."""
        while True:
            await workflow.wait_condition(lambda: bool(self.alarms))
            self.earliest = min(self.alarms.values())
            due = self.earliest
            delay = due - workflow.now().timestamp()
            if delay > 0:
                try:
                    await workflow.wait_condition(lambda: self.earliest < due or not self.alarms,
                                                  timeout=timedelta(seconds=delay))
                    continue  # an earlier moment, or nobody waits any more: start again
                except asyncio.TimeoutError:
                    pass
            now = workflow.now().timestamp()
            for uid, at in list(self.alarms.items()):
                if at <= now:
                    self.rang.add(uid)
                    del self.alarms[uid]
            self.earliest = min(self.alarms.values(), default=float("inf"))

    # --- the counts ----------------------------------------------------------------------------------------

    async def _publisher(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self.dirty)
            self._publish()

    def _publish(self) -> None:
        """The cohort's tallies, in contacts (status.py adds them up)."""
        self.dirty = False
        counts: dict[str, int] = {}

        def add(key: str, n: int) -> None:
            counts[key] = counts.get(key, 0) + n

        total = 0
        for u in self.units.values():
            n = len(u.paths)
            total += n
            if not u.finished:
                add("~running", n)
            if not u.where:
                continue  # not yet at a step
            for key, k in u.key_counts().items():
                add(key, k)
            if not u.finished:
                add(f"@{u.where}", n)
            if u.outcome:
                add(f"={u.outcome}", n)
            if u.goal_reached:
                add("~goal", n)
        workflow.upsert_search_attributes([TALLY.value_set([f"*{total}", *(f"{k}*{n}" for k, n in counts.items())])])
