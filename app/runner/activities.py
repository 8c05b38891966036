"""The runner's activities: everything that touches the world (databases, SMTP, the SMS gateway, Temporal).

Sends and actions are idempotent by key (workflow id + step id): see state.py for the claim / mark protocol
and the crash window it leaves. A send or a webhook that cannot succeed (a message that cannot be built, an SMTP
5xx, an HTTP 4xx other than 408 and 429) raises a non-retryable `ApplicationError` of type `PERMANENT`, after
marking the send `failed` with its reason; the workflow records the contact's outcome as failed and goes on.
Reading facts is done by local activities (short, no side effects). Enrolment starts contact workflows with ids
derived from journey, version, contact and iteration and a reuse policy that refuses duplicates, and records
each enrolment, so it may run any number of times.
"""

from __future__ import annotations

import asyncio
import email.errors
import hashlib
import json
import urllib.error
import urllib.request
import threading
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from app.model.registry import REGISTRY
from app.runner.calls import (COHORT_WORKFLOW, CONTACT_WORKFLOW, CohortInput, ContactInput, EnrolPage, EnrolResult,
                              FactsAnswer, FactsRequest, SendResult, StepRequest, cohort_workflow_id,
                              contact_workflow_id, unit_workflow_id)
from app.runner.channels import (ChannelError, SmsChannel, SmtpChannel, Tokens, Tracked, build_email, http_permanent,
                                 personalise)
from app.runner.contacts import ContactsDb
from app.runner.migrate_flight import admit_page, page_done, taken
from app.runner.runnable import Runnable, RunnerError, lookup
from app.runner.state import CAPPED, FAILED, NO_ADDRESS, SENT, SETTLED, SUPPRESSED, CapLedger, StateDb
from app.runner.workflows import KEY, PERMANENT, TALLY

START_CONCURRENCY = 32  # workflow starts in flight at once during enrolment
MARK_EVERY = 50  # a batch of sends marks what it sent after this many messages (and at its end)
SEND_THREADS = 8  # a batch of sends calls its transports from this many threads at once
_POOL_LOCK = threading.Lock()


def permanent(reason: str) -> ApplicationError:
    """The error of a send that another attempt would not change: Temporal does not retry it."""
    return ApplicationError(reason, type=PERMANENT, non_retryable=True)


def transport_id(key: str, channel: str) -> str:
    """The id a message keeps on every attempt: an email Message-ID, or an SMS idempotency key."""
    h = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{h}@journey-studio>" if channel == "email" else h


def _period(seconds: int) -> str:
    from datetime import timedelta
    from app.model.values import format_duration
    return format_duration(timedelta(seconds=seconds))


def _zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


DEFAULT_SEND_TO = {"email": "email", "sms": "mobile_phone", "push": "mobile_app"}  # as the registry's tiles


@dataclass
class Activities:
    """The activities of one runner process, with what they need."""

    contacts: ContactsDb
    state: StateDb
    tokens: Tokens
    tracking_url: str  # base URL of the tracking endpoint, e.g. http://127.0.0.1:8787
    smtp: SmtpChannel | None = None
    sms: SmsChannel | None = None
    client: Client | None = None
    push: SmsChannel | None = None  # push notifications: the same generic gateway, at its own URL
    script: Mapping[int, list[dict[str, Any]]] = field(default_factory=dict)  # a rehearsal's (rehearsal.py)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    ledger: CapLedger | None = None  # the project's frequency caps across journeys (None: the package has none)

    def all(self) -> list[Any]:
        """The activity callables to register on a worker."""
        from app.runner.ab_activities import ABActivities  # A/B splits' arrivals and decisions
        return [*ABActivities(self.state, self.script).all(),
                self.contact_facts, self.contact_sends, self.contact_blocks, self.record_blocks, self.send_message,
                self.send_failed, self.run_action, self.enrol_page, self.iteration_open, self.undelivered_events,
                self.facts_batch, self.undelivered_batch, self.sends_batch, self.blocks_batch, self.send_batch,
                self.sends_failed]

    # --- facts ---------------------------------------------------------------------------------------------

    @activity.defn(name="contact_facts")
    def contact_facts(self, req: FactsRequest) -> FactsAnswer:
        """Segment memberships and attribute values of a unit's contacts at a simulated moment."""
        r = lookup(req.journey, req.digest)
        members = {s: [self.contacts.member(r, c, s, req.at) for c in req.contacts] for s in req.segments}
        values = {a: [self.contacts.attribute(c, a) for c in req.contacts] for a in req.attributes}
        return FactsAnswer(members, values)

    @activity.defn(name="facts_batch")
    def facts_batch(self, reqs: list[FactsRequest]) -> list[FactsAnswer]:
        """`contact_facts` for many units (a cohort's, cohort.py): one query per segment and moment."""
        out = [FactsAnswer({}, {}) for _ in reqs]
        groups: dict[tuple[str, str, int, str], list[int]] = {}
        for i, req in enumerate(reqs):
            for s in req.segments:
                groups.setdefault((req.journey, req.digest, req.at, s), []).append(i)
            for a in req.attributes:
                out[i].attributes[a] = [self.contacts.attribute(c, a) for c in req.contacts]
        for (journey, digest, at, segment), which in groups.items():
            r = lookup(journey, digest)
            found = self.contacts.members(r, [c for i in which for c in reqs[i].contacts], segment, at)
            for i in which:
                out[i].members[segment] = [c in found for c in reqs[i].contacts]
        return out

    @activity.defn(name="sends_batch")
    def sends_batch(self, journey: str, contacts: list[int]) -> dict[str, list[int]]:
        """`contact_sends` of a cohort's units at once."""
        return self.contact_sends(journey, contacts)

    @activity.defn(name="blocks_batch")
    def blocks_batch(self, journey: str, contacts: list[int]) -> dict[str, dict[str, int]]:
        """`contact_blocks` of a cohort's units at once."""
        return self.contact_blocks(journey, contacts)

    @activity.defn(name="undelivered_batch")
    def undelivered_batch(self, wanted: list[list[Any]]) -> list[list[dict[str, Any]]]:
        """`undelivered_events` of many units at once: [[unit id, up to], ...] -> each unit's events."""
        return self.state.undelivered_many([(str(w), int(t)) for w, t in wanted])

    @activity.defn(name="contact_sends")
    def contact_sends(self, journey: str, contacts: list[int]) -> dict[str, list[int]]:
        """When this journey sent each contact messages (for the frequency cap)."""
        return {str(c): self.state.contact_sends(journey, c) for c in contacts}

    @activity.defn(name="contact_blocks")
    def contact_blocks(self, journey: str, contacts: list[int]) -> dict[str, dict[str, int]]:
        """The channels this journey can no longer reach each contact on, and since when."""
        return {str(c): self.state.contact_blocks(journey, c) for c in contacts}

    @activity.defn(name="record_blocks")
    def record_blocks(self, journey: str, found: dict[str, dict[str, int]]) -> None:
        """Remember channels that stopped reaching contacts (for their later iterations)."""
        for contact, channels in found.items():
            self.state.record_blocks(journey, int(contact), channels)

    @activity.defn(name="undelivered_events")
    def undelivered_events(self, workflow_id: str, up_to: int) -> list[dict[str, Any]]:
        """Events for a workflow that arrived by simulated `up_to`, in the outbox (pending, or signalled already)."""
        return self.state.undelivered_events(workflow_id, up_to)

    # --- sends ---------------------------------------------------------------------------------------------

    @activity.defn(name="send_message")
    def send_message(self, req: StepRequest) -> SendResult:
        """Send a message step to a contact once: consent and suppression checked now, then the transport."""
        r = lookup(req.journey, req.digest)
        channel = r.plan.steps[r.step(req.step_id)].channel or ""
        key = req.key
        prior, tid = self.state.claim(key, journey=r.key, contact=req.contact, iteration=req.iteration,
                                      step_id=req.step_id, channel=channel, transport_id=transport_id(key, channel))
        if prior in SETTLED:  # a retry after the send was recorded: nothing to do
            return SendResult(prior, tid, self.state.reason(key) if prior in (FAILED, CAPPED) else "")
        supp = r.plan.audience.suppress
        row = self.contacts.contact(req.contact)
        suppressed = supp is not None and row is not None and \
            self.contacts.consent_ok(r, row.get("consent_level")) and self.contacts.member(r, req.contact, supp, req.at)
        # the cap counts messages that would go: one stopped by consent, suppression or its address takes no slot
        capped = self._capped([(req, r, channel)] if self._stopped(r, req, row, suppressed) is None else [])
        if key in capped:
            self.state.mark(key, CAPPED, None, capped[key])
            return SendResult(CAPPED, tid, capped[key])
        try:
            res = self._deliver(r, req, tid, row, suppressed)
        except ChannelError as e:
            if e.permanent:
                self.state.fail(key, str(e))
                self._release([key])
                raise permanent(str(e)) from None
            raise RuntimeError(str(e)) from None  # retried by Temporal; the claim stays 'sending'
        self.state.mark(key, res.outcome, req.at if res.outcome == SENT else None)
        if res.outcome != SENT:
            self._release([key])
        return res

    def _capped(self, items: list[tuple[StepRequest, Runnable, str]]) -> dict[str, str]:
        """The sends among `items` (request, journey, channel) that the project's frequency caps hold back, key ->
        the reason; the others on a capped channel took a slot in the ledger (state.CapLedger)."""
        if self.ledger is None:
            return {}
        rows, why = [], {}
        for q, r, channel in items:
            limit = r.cap_limits.get(channel)
            if limit is None:
                continue
            rows.append({"key": q.key, "journey": r.key, "contact": q.contact, "channel": channel, "at": q.at,
                         "priority": r.journey.priority, "messages": limit[0], "per": limit[1]})
            why[q.key] = (f"frequency cap: {limit[0]} {channel} message{'s' if limit[0] != 1 else ''} per "
                          f"{_period(limit[1])} reached (all journeys)")
        return {k: why[k] for k, status in self.ledger.admit(rows).items() if status == CAPPED}

    def _release(self, keys: list[str]) -> None:
        """Give back the cap slots of sends that did not go."""
        if self.ledger is not None and keys:
            self.ledger.release(keys)

    @activity.defn(name="send_batch")
    def send_batch(self, plain: list[list[Any]]) -> list[list[str]]:
        """`send_many` of StepRequests as plain lists of their fields (decoding hundreds of dataclasses costs more
        than sending): each message's [outcome, transport id, reason]."""
        return [[r.outcome, r.transport_id, r.reason] for r in self.send_many([StepRequest(*q) for q in plain])]

    def send_many(self, reqs: list[StepRequest]) -> list[SendResult]:
        """`send_message` for the messages of a cohort's activation (cohort.py): claimed together (one commit),
        then each handed to its transport, then marked together. A message that cannot succeed is `failed` with
        its reason, the others go on; when any failed for now, the activity fails after marking the rest, and its
        retry sends only what is not settled. The crash window (state.py) is the batch's: after a crash between
        the transports' acceptance and the mark, the batch's unmarked messages go again with the same ids."""
        if not reqs:
            return []
        runs = {(q.journey, q.digest): lookup(q.journey, q.digest) for q in reqs}
        channels = [runs[(q.journey, q.digest)].plan.steps[runs[(q.journey, q.digest)].step(q.step_id)].channel or ""
                    for q in reqs]
        claims = self.state.claim_many([
            {"key": q.key, "journey": q.journey, "contact": q.contact, "iteration": q.iteration, "step_id": q.step_id,
             "channel": ch, "transport_id": transport_id(q.key, ch)} for q, ch in zip(reqs, channels)])
        todo = [i for i, q in enumerate(reqs) if claims[q.key][0] not in SETTLED]
        rows = self.contacts.contacts([reqs[i].contact for i in todo])
        inside: dict[tuple[str, str, int], set[int]] = {}  # (journey, digest, at) -> contacts in the suppression
        for i in todo:
            q = reqs[i]
            r = runs[(q.journey, q.digest)]
            if r.plan.audience.suppress is not None and (q.journey, q.digest, q.at) not in inside:
                group = [reqs[j].contact for j in todo if (reqs[j].journey, reqs[j].digest, reqs[j].at) ==
                         (q.journey, q.digest, q.at)]
                inside[(q.journey, q.digest, q.at)] = self.contacts.members(r, group, r.plan.audience.suppress, q.at)

        # the cap counts messages that would go: one stopped by consent, suppression or its address takes no slot
        capped = self._capped([(reqs[i], runs[(reqs[i].journey, reqs[i].digest)], channels[i]) for i in todo
                               if self._stopped(runs[(reqs[i].journey, reqs[i].digest)], reqs[i],
                                                rows.get(reqs[i].contact),
                                                reqs[i].contact in inside.get((reqs[i].journey, reqs[i].digest,
                                                                               reqs[i].at), ())) is None])
        for i in todo:
            if reqs[i].key in capped:
                self.state.mark(reqs[i].key, CAPPED, None, capped[reqs[i].key])

        def deliver(q: StepRequest) -> SendResult | ChannelError:
            try:
                return self._deliver(runs[(q.journey, q.digest)], q, claims[q.key][1], rows.get(q.contact),
                                     q.contact in inside.get((q.journey, q.digest, q.at), ()))
            except ChannelError as e:
                return e

        results: list[SendResult | None] = [None] * len(reqs)
        later: str | None = None
        for i, q in enumerate(reqs):
            prior, tid = claims[q.key]
            if prior in SETTLED:
                results[i] = SendResult(prior, tid, self.state.reason(q.key) if prior in (FAILED, CAPPED) else "")
            elif q.key in capped:
                results[i] = SendResult(CAPPED, tid, capped[q.key])
        todo = [i for i in todo if results[i] is None]
        # the transports are called from a few threads at once (each keeps its own SMTP connection), and what
        # they accepted is marked every MARK_EVERY messages
        pool = self._senders()
        for start in range(0, len(todo), MARK_EVERY):
            part = todo[start:start + MARK_EVERY]
            marks: list[tuple[str, str, int | None]] = []
            unused: list[str] = []  # cap slots to give back: the message did not go
            for i, res in zip(part, pool.map(deliver, [reqs[i] for i in part])):
                q = reqs[i]
                if isinstance(res, ChannelError):
                    if res.permanent:
                        self.state.fail(q.key, str(res))
                        results[i] = SendResult(FAILED, claims[q.key][1], str(res))
                        unused.append(q.key)
                    else:
                        later = later or str(res)
                    continue
                marks.append((q.key, res.outcome, q.at if res.outcome == SENT else None))
                if res.outcome != SENT:
                    unused.append(q.key)
                results[i] = res
            self.state.mark_many(marks)
            self._release(unused)
            if activity.in_activity():
                activity.heartbeat()
        if later is not None:
            raise RuntimeError(f"{sum(r is None for r in results)} of {len(reqs)} messages not sent yet: {later}")
        return [r for r in results if r is not None]

    def _senders(self) -> ThreadPoolExecutor:
        """The threads a batch of sends calls its transports from (kept: each keeps its SMTP connection)."""
        with _POOL_LOCK:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="send")
            return self._pool

    def _deliver(self, r: Runnable, req: StepRequest, tid: str, row: dict[str, Any] | None,
                 suppressed: bool) -> SendResult:
        """Hand a claimed message to its transport, unless consent, the suppression list or the address stop it
        (raises ChannelError when the transport refuses)."""
        stopped = self._stopped(r, req, row, suppressed)
        if stopped is not None:
            return SendResult(stopped, tid)
        assert row is not None
        step = r.plan.steps[r.step(req.step_id)]
        channel = step.channel or ""
        jstep = r.journey.step(req.step_id)
        address = self._address(r, req, row)
        content = r.content[jstep.props["content"]]
        if channel == "email":
            self._email(r, req, content, row, str(address), tid)
        elif channel == "push":
            self._push(r, req, personalise(content.title, row), personalise(content.text, row), str(address), tid)
        else:
            self._sms(r, req, personalise(content.text, row), str(address), tid)
        return SendResult(SENT, tid)

    def _address(self, r: Runnable, req: StepRequest, row: dict[str, Any]) -> str:
        """Where the message goes ('' when the contact has no address for it)."""
        channel = r.plan.steps[r.step(req.step_id)].channel or ""
        send_to = str(r.journey.step(req.step_id).props.get("send_to") or DEFAULT_SEND_TO.get(channel, "email"))
        address = row.get(send_to)
        if channel == "push" and send_to not in row:
            # the contacts have no column of app installations: the push provider knows the app's users by
            # their id (an 'external user id'), so the contact's id is the address
            address = str(req.contact)
        return str(address) if address else ""

    def _stopped(self, r: Runnable, req: StepRequest, row: dict[str, Any] | None, suppressed: bool) -> str | None:
        """Why a message would not go before its transport (SUPPRESSED: consent or the suppression list;
        NO_ADDRESS), or None when it would."""
        if row is None or not self.contacts.consent_ok(r, row.get("consent_level")) or suppressed:
            return SUPPRESSED
        return None if self._address(r, req, row) else NO_ADDRESS

    @activity.defn(name="sends_failed")
    def sends_failed(self, failed: list[list[str]]) -> None:
        """`send_failed` for a batch: [[key, reason], ...]."""
        for key, reason in failed:
            self.state.fail(key, reason)

    @activity.defn(name="send_failed")
    def send_failed(self, key: str, reason: str) -> None:
        """Record that a send failed for good (its retries ran out, or it was refused for good)."""
        self.state.fail(key, reason)

    def _email(self, r: Runnable, req: StepRequest, content: Any, row: dict[str, Any], to: str, tid: str) -> None:
        if self.smtp is None:
            raise RunnerError(f"step '{req.step_id}' sends email but the runner has no SMTP server (--smtp)")
        links = {link: self._url("c", req, link) for link in content.links}
        try:
            msg = build_email(content, row, to, tid, links, self._url("o", req), self.smtp.sender)
        except (ValueError, TypeError, LookupError, email.errors.MessageError) as e:  # e.g. a line break in a header
            raise ChannelError(f"the email cannot be built: {e}", permanent=True) from None
        self.smtp.send(msg)

    def _sms(self, r: Runnable, req: StepRequest, text: str, to: str, tid: str) -> None:
        if self.sms is None:
            raise RunnerError(f"step '{req.step_id}' sends text messages but the runner has no gateway (--sms-url)")
        self.sms.send(tid, to, text, {"contact": req.contact, "journey": r.key, "step": req.step_id,
                                      "iteration": req.iteration})

    def _push(self, r: Runnable, req: StepRequest, title: str, text: str, to: str, tid: str) -> None:
        if self.push is None:
            raise RunnerError(f"step '{req.step_id}' sends push notifications but the runner has no gateway "
                              "(--push-url)")
        self.push.send(tid, to, text, {"title": title, "contact": req.contact, "journey": r.key,
                                       "step": req.step_id, "iteration": req.iteration,
                                       "open_url": self._url("o", req)})

    def _url(self, kind: str, req: StepRequest, link: str = "") -> str:
        token = self.tokens.make(Tracked(req.workflow_id, req.step_id, kind, link, req.contact if req.account >= 0
                                         else -1))
        return f"{self.tracking_url}/{kind}/{token}"

    # --- actions -------------------------------------------------------------------------------------------

    @activity.defn(name="run_action")
    def run_action(self, req: StepRequest) -> str:
        """Create the task or lead, launch the workflow (recorded in the contacts database) or call the webhook."""
        r = lookup(req.journey, req.digest)
        st = r.journey.step(req.step_id)
        p = st.props
        key = req.key
        at = datetime.fromtimestamp(req.at, timezone.utc)
        how = REGISTRY[st.type].live  # the registry says how the runner carries an action out
        if how is None:
            raise RuntimeError(f"step '{st.id}' ({st.type}) is no action the runner can carry out")
        if how.call:
            self._webhook(r, req, key)
            return "called"
        kind = str((p.get(how.kind_prop) if how.kind_prop else None) or how.kind or st.type)
        subject = str(p.get(how.subject_prop) or "") if how.subject_prop else ""
        due = p.get(how.due_prop) if how.due_prop else None
        due_at = (at + due).isoformat() if due is not None else None
        row = self.contacts.contact(req.contact) or {}
        self.contacts.add_task({"key": key, "journey_id": r.plan.journey_id, "journey_version": r.plan.version,
                                "step_id": req.step_id, "contact_id": req.contact, "iteration": req.iteration,
                                "kind": kind, "subject": personalise(subject, row), "owner": p.get("owner"),
                                "due_at": due_at, "created_at": at.isoformat(),
                                "data": {"step": st.display_name}})
        return "done"

    def _webhook(self, r: Runnable, req: StepRequest, key: str) -> None:
        p = r.journey.step(req.step_id).props
        row = self.contacts.contact(req.contact) or {}
        method = str(p.get("method") or "POST")
        template = p.get("payload")
        body = personalise(str(template), row) if template else json.dumps(
            {"contact": row, "journey": r.key, "step": req.step_id}, default=str)
        try:
            request = urllib.request.Request(str(p["url"]), data=None if method == "GET" else body.encode("utf-8"),
                                             method=method, headers={"Content-Type": "application/json",
                                                                     "Idempotency-Key": transport_id(key, "webhook")})
        except ValueError as e:  # not a URL
            raise permanent(f"webhook {p['url']}: {e}") from None
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except urllib.error.HTTPError as e:
            if http_permanent(e.code):
                raise permanent(f"webhook {p['url']}: HTTP {e.code}") from None
            raise RuntimeError(f"webhook {p['url']}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise RuntimeError(f"webhook {p['url']}: {e}") from None

    # --- enrolment -----------------------------------------------------------------------------------------

    @activity.defn(name="iteration_open")
    async def iteration_open(self, journey: str, iteration: int) -> int:
        """How many contact workflows of an iteration are still running (a rehearsal begins the next iteration
        when the previous one is over, so that its frequency cap and opt-outs see all of it)."""
        assert self.client is not None
        wids = await asyncio.to_thread(self.state.iteration_workflows, journey, iteration)
        running = 0
        for wid in sorted(set(wids)):  # an account's workflow is every one of its contacts' enrolment
            desc = await self.client.get_workflow_handle(wid).describe()
            running += desc.status == WorkflowExecutionStatus.RUNNING
        return running

    @activity.defn(name="enrol_page")
    async def enrol_page(self, req: EnrolPage) -> EnrolResult:
        """Start the workflows of one page of the audience that have not entered this iteration yet.

        A journey that targets accounts starts one workflow per account (seed 003): the account's contacts in
        the audience at that moment enter together; a contact who qualifies after its account entered does not
        join it (the account enters once per iteration); contacts without an account are units of their own."""
        assert self.client is not None
        r = lookup(req.journey, req.digest)
        page = await asyncio.to_thread(self.contacts.audience_page, r, req.at, req.after, req.limit)
        done = await asyncio.to_thread(self.state.enrolled, r.key, req.iteration, [c for c, _, _ in page])
        done |= await asyncio.to_thread(taken, self.state.path, r.key, req.iteration, [c for c, _, _ in page])
        # the next version took this run over: it enrols nobody new; a page admitted before is waited for
        mark = f"{r.key}:{req.iteration}:{req.at}:{req.after}"  # (migrate_flight.admit_page, hand_over)
        admitted = await asyncio.to_thread(admit_page, self.state.path, mark)
        if not admitted:
            done |= {c for c, _, _ in page}
        units: list[tuple[str, list[int], str | None, int]] = []  # (workflow id, contacts, zone, account)
        accounts: set[int] = set()
        for c, tz, acc in page:
            if c in done:
                continue
            if not r.plan.accounts or acc < 0:
                units.append((contact_workflow_id(r.key, c, req.iteration), [c], _zone(tz), -1))
            elif acc not in accounts:
                accounts.add(acc)
        if accounts:
            wids = {a: unit_workflow_id(r.key, a, req.iteration) for a in sorted(accounts)}
            entered = await asyncio.to_thread(self.state.started, r.key, req.iteration, list(wids.values()))
            found: dict[int, list[tuple[int, str | None]]] = {}
            for a, wid in wids.items():
                if wid in entered:
                    continue  # the account entered this iteration already (at an earlier page or look)
                found[a] = await asyncio.to_thread(self.contacts.account_audience, r, req.at, a)
            had = await asyncio.to_thread(taken, self.state.path, r.key, req.iteration,
                                          [c for members in found.values() for c, _ in members])
            for a, members in found.items():  # an account the previous version's run had entered this iteration
                if members and not had & {c for c, _ in members}:  # does not enter again (migrate_flight.taken)
                    units.append((wids[a], [c for c, _ in members], _zone(members[0][1]), a))
        gate = asyncio.Semaphore(START_CONCURRENCY)
        attributes = TypedSearchAttributes([SearchAttributePair(KEY, r.key)])

        def contact_input(contacts: list[int], zone: str | None, account: int) -> ContactInput:
            script = [dict(item, contact=c) if account >= 0 else item for c in contacts
                      for item in self.script.get(c, ())]
            return ContactInput(r.key, r.digest, contacts[0], req.iteration, req.entered_at, zone, req.clock,
                                req.seed, req.send_timeout, req.poll, req.exact, script, contacts[1:], account)

        async def start(wid: str, contacts: list[int], zone: str | None, account: int) -> tuple[list[int], str, bool]:
            new = True
            async with gate:
                try:
                    assert self.client is not None
                    await self.client.start_workflow(CONTACT_WORKFLOW, contact_input(contacts, zone, account), id=wid,
                                                     task_queue=r.task_queue,
                                                     id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                                     search_attributes=attributes)
                except WorkflowAlreadyStartedError:
                    new = False  # started before (a crash after the start, before its record): not again
            if activity.in_activity():
                activity.heartbeat()
            return contacts, wid, new

        async def start_cohort(part: list[tuple[str, list[int], str | None, int]]) -> tuple[str, bool]:
            ids = [wid for wid, _, _, _ in part]
            cid = cohort_workflow_id(r.key, req.iteration, ids)
            units = [contact_input(contacts, zone, account) for _, contacts, zone, account in part]
            inp = CohortInput(units[0], [[u.contact, u.members, u.account, u.timezone, u.script] for u in units], ids)
            size = sum(len(contacts) for _, contacts, _, _ in part)
            # counted from its start (enrolled, in the journey), as a unit's own workflow is
            tally = TypedSearchAttributes([SearchAttributePair(KEY, r.key),
                                           SearchAttributePair(TALLY, [f"*{size}", f"~running*{size}"])])
            try:
                assert self.client is not None
                await self.client.start_workflow(COHORT_WORKFLOW, inp, id=cid, task_queue=r.task_queue,
                                                 id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                                 search_attributes=tally)
            except WorkflowAlreadyStartedError:
                return cid, False  # started before (a crash after the start, before its record): not again
            if activity.in_activity():
                activity.heartbeat()
            return cid, True

        if req.cohort > 0:  # a workflow per cohort of units (cohort.py): one start per cohort
            parts = [units[i:i + req.cohort] for i in range(0, len(units), req.cohort)]
            started = await asyncio.gather(*(start_cohort(part) for part in parts))
            hosts = {wid: cid for part, (cid, _) in zip(parts, started) for wid, _, _, _ in part}
            await asyncio.to_thread(self.state.record_enrolments, r.key, req.iteration,
                                    [(c, wid, req.entered_at) for part in parts for wid, contacts, _, _ in part
                                     for c in contacts], hosts)
            if admitted:
                await asyncio.to_thread(page_done, self.state.path, mark)
            return EnrolResult(page[-1][0] if len(page) == req.limit else None,
                               sum(len(contacts) for part, (_, new) in zip(parts, started) if new
                                   for _, contacts, _, _ in part))
        rows = await asyncio.gather(*(start(*u) for u in units))
        await asyncio.to_thread(self.state.record_enrolments, r.key, req.iteration,
                                [(c, wid, req.entered_at) for contacts, wid, _ in rows for c in contacts])
        if admitted:
            await asyncio.to_thread(page_done, self.state.path, mark)
        return EnrolResult(page[-1][0] if len(page) == req.limit else None,
                           sum(len(contacts) for contacts, wid, new in rows if new))
