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
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from app.model.registry import REGISTRY
from app.runner.calls import (CONTACT_WORKFLOW, ContactInput, EnrolPage, EnrolResult, FactsAnswer, FactsRequest,
                              SendResult, StepRequest, contact_workflow_id, unit_workflow_id)
from app.runner.channels import (ChannelError, SmsChannel, SmtpChannel, Tokens, Tracked, build_email, http_permanent,
                                 personalise)
from app.runner.contacts import ContactsDb
from app.runner.runnable import Runnable, RunnerError, lookup
from app.runner.state import FAILED, NO_ADDRESS, SENT, SETTLED, SUPPRESSED, StateDb
from app.runner.workflows import KEY, PERMANENT

START_CONCURRENCY = 32  # workflow starts in flight at once during enrolment


def permanent(reason: str) -> ApplicationError:
    """The error of a send that another attempt would not change: Temporal does not retry it."""
    return ApplicationError(reason, type=PERMANENT, non_retryable=True)


def transport_id(key: str, channel: str) -> str:
    """The id a message keeps on every attempt: an email Message-ID, or an SMS idempotency key."""
    h = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{h}@journey-studio>" if channel == "email" else h


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

    def all(self) -> list[Any]:
        """The activity callables to register on a worker."""
        return [self.contact_facts, self.contact_sends, self.contact_blocks, self.record_blocks, self.send_message,
                self.send_failed, self.run_action, self.enrol_page, self.iteration_open, self.undelivered_events]

    # --- facts ---------------------------------------------------------------------------------------------

    @activity.defn(name="contact_facts")
    def contact_facts(self, req: FactsRequest) -> FactsAnswer:
        """Segment memberships and attribute values of a unit's contacts at a simulated moment."""
        r = lookup(req.journey, req.digest)
        members = {s: [self.contacts.member(r, c, s, req.at) for c in req.contacts] for s in req.segments}
        values = {a: [self.contacts.attribute(c, a) for c in req.contacts] for a in req.attributes}
        return FactsAnswer(members, values)

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
        step = r.plan.steps[r.step(req.step_id)]
        channel = step.channel or ""
        key = req.key
        prior, tid = self.state.claim(key, journey=r.key, contact=req.contact, iteration=req.iteration,
                                      step_id=req.step_id, channel=channel, transport_id=transport_id(key, channel))
        if prior in SETTLED:  # a retry after the send was recorded: nothing to do
            return SendResult(prior, tid, self.state.reason(key) if prior == FAILED else "")
        supp = r.plan.audience.suppress
        row = self.contacts.contact(req.contact)
        if row is None or not self.contacts.consent_ok(r, row.get("consent_level")) or \
                (supp is not None and self.contacts.member(r, req.contact, supp, req.at)):
            self.state.mark(key, SUPPRESSED)
            return SendResult(SUPPRESSED, tid)
        jstep = r.journey.step(req.step_id)
        send_to = str(jstep.props.get("send_to") or DEFAULT_SEND_TO.get(channel, "email"))
        address = row.get(send_to)
        if channel == "push" and send_to not in row:
            # the contacts have no column of app installations: the push provider knows the app's users by
            # their id (an 'external user id'), so the contact's id is the address
            address = str(req.contact)
        if not address:
            self.state.mark(key, NO_ADDRESS)
            return SendResult(NO_ADDRESS, tid)
        content = r.content[jstep.props["content"]]
        try:
            if channel == "email":
                self._email(r, req, content, row, str(address), tid)
            elif channel == "push":
                self._push(r, req, personalise(content.title, row), personalise(content.text, row), str(address),
                           tid)
            else:
                self._sms(r, req, personalise(content.text, row), str(address), tid)
        except ChannelError as e:
            if e.permanent:
                self.state.fail(key, str(e))
                raise permanent(str(e)) from None
            raise RuntimeError(str(e)) from None  # retried by Temporal; the claim stays 'sending'
        self.state.mark(key, SENT, req.at)
        return SendResult(SENT, tid)

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
            for a, wid in wids.items():
                if wid in entered:
                    continue  # the account entered this iteration already (at an earlier page or look)
                members = await asyncio.to_thread(self.contacts.account_audience, r, req.at, a)
                if members:
                    units.append((wid, [c for c, _ in members], _zone(members[0][1]), a))
        gate = asyncio.Semaphore(START_CONCURRENCY)
        attributes = TypedSearchAttributes([SearchAttributePair(KEY, r.key)])

        async def start(wid: str, contacts: list[int], zone: str | None, account: int) -> tuple[list[int], str, bool]:
            script = [dict(item, contact=c) if account >= 0 else item for c in contacts
                      for item in self.script.get(c, ())]
            inp = ContactInput(r.key, r.digest, contacts[0], req.iteration, req.entered_at, zone, req.clock, req.seed,
                               req.send_timeout, req.poll, req.exact, script, contacts[1:], account)
            new = True
            async with gate:
                try:
                    assert self.client is not None
                    await self.client.start_workflow(CONTACT_WORKFLOW, inp, id=wid, task_queue=r.task_queue,
                                                     id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                                     search_attributes=attributes)
                except WorkflowAlreadyStartedError:
                    new = False  # started before (a crash after the start, before its record): not again
            if activity.in_activity():
                activity.heartbeat()
            return contacts, wid, new

        rows = await asyncio.gather(*(start(*u) for u in units))
        await asyncio.to_thread(self.state.record_enrolments, r.key, req.iteration,
                                [(c, wid, req.entered_at) for contacts, wid, _ in rows for c in contacts])
        return EnrolResult(page[-1][0] if len(page) == req.limit else None,
                           sum(len(contacts) for contacts, _, new in rows if new))
