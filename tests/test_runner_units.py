"""The runner's parts without Temporal: clock, tokens, email, the send protocol, the endpoint, the contacts."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
import re
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

from app.audience import members as m
from app.codec.yamlio import read_journey_text
from app.model.content import Content
from app.runner.activities import Activities, transport_id
from app.runner.calls import Event, StepRequest, contact_workflow_id, unit_workflow_id
from app.runner.channels import ChannelError, SmsChannel, Tokens, Tracked, build_email, parse_host_port
from app.runner.clock import Clock
from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, DevServerError, temporal_binary
from app.runner.runnable import Runnable, RunnerError, register, runnable
from app.runner.state import SENDING, SENT, StateDb
from app.runner.tracking import PIXEL, TrackingServer
from app.store import ProjectFile
from app.store import schema as t
from tests.cli_helpers import run
from tests.runner_helpers import SmsSink, announcement_text, contacts_project, needs_temporal


# --- clock -------------------------------------------------------------------------------------------------

def test_clock_scales_waits_and_keeps_real_time_at_scale_one() -> None:
    rehearsal = Clock.starting(journey_start=1_700_000_000, scale=86_400, real_now=1000.5)
    assert rehearsal.sim(1000.5) == 1_700_000_000
    assert rehearsal.sim(1001.5) == 1_700_000_000 + 86_400  # a day lasts a second
    assert rehearsal.real(1_700_000_000 + 3 * 86_400) == pytest.approx(1003.5)
    live = Clock.starting(journey_start=1_700_000_000, scale=1, real_now=1_800_000_000.7)
    assert live.sim(1_800_000_000.7) == 1_800_000_000 and live.sim(1_800_000_060.2) == 1_800_000_060
    assert Clock.from_plain(rehearsal.to_plain()) == rehearsal
    with pytest.raises(ValueError, match="above zero"):
        Clock.starting(0, 0, 0)


# --- tracking tokens and email -------------------------------------------------------------------------------

def test_tokens_round_trip_and_refuse_forgeries() -> None:
    tokens = Tokens("secret")
    t = Tracked("journey:j:v1:contact:7:it:0", "announce", "c", "product-details")
    token = tokens.make(t)
    assert tokens.read(token) == t
    assert Tokens("another secret").read(token) is None
    body, mac = token.split(".")
    assert tokens.read(body[:-2] + "AA." + mac) is None
    assert tokens.read("garbage") is None and tokens.read("") is None


def test_email_has_tracked_links_a_pixel_and_a_stable_message_id() -> None:
    content = Content("Hello", "email", "ready", subject="{{first_name}}, hi", sender="a@example.com",
                      body="See [details] now", links=("details", "https://shop.example/x"))
    links = {"details": "http://t/c/1", "https://shop.example/x": "http://t/c/2"}
    msg = build_email(content, {"first_name": "Ann"}, "ann@example.com", "<k@journey-studio>", links,
                      "http://t/o/9", "fallback@example.com")
    assert isinstance(msg, EmailMessage)
    assert (msg["Subject"], msg["From"], msg["To"], msg["Message-ID"]) == \
        ("Ann, hi", "a@example.com", "ann@example.com", "<k@journey-studio>")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "See http://t/c/1 now" in text and "https://shop.example/x: http://t/c/2" in text
    assert '<a href="http://t/c/1">details</a>' in html and '<img src="http://t/o/9"' in html
    assert transport_id("w:announce", "email") == transport_id("w:announce", "email") != \
        transport_id("w:launched", "email")


def test_host_port_parsing() -> None:
    assert parse_host_port("127.0.0.1:2525", "--smtp") == ("127.0.0.1", 2525)
    assert parse_host_port("mail.local", "--smtp", 25) == ("mail.local", 25)
    assert parse_host_port("[::1]:25", "--smtp") == ("::1", 25)
    for bad in ("host:", ":25", "host:x", "host:70000"):
        with pytest.raises(ValueError, match="--smtp must be HOST:PORT"):
            parse_host_port(bad, "--smtp")


@needs_temporal
def test_temporal_binary_comes_from_the_installed_package() -> None:
    path = temporal_binary()
    assert path.is_file() and os.access(path, os.X_OK) and path.name.startswith("temporal")


@needs_temporal
def test_a_dev_server_that_finds_a_port_taken_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's CLI picks its other ports (HTTP, metrics, internal) at random just before binding them; one
    taken in between stops it at once. The start is tried again, on a fresh port while it has never run, and the
    error says what the server said when every try fails."""
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    tries: list[int] = []
    command = DevServer.command

    def first_collides(self: DevServer) -> list[str]:
        tries.append(self.port)
        return command(self) + (["--http-port", str(busy)] if len(tries) == 1 else [])

    monkeypatch.setattr(DevServer, "command", first_collides)
    server = DevServer(tmp_path / "t" / "temporal.db")
    try:
        server.start()
        assert len(tries) == 2 and tries[0] != tries[1] and server.port == tries[1]
        server.stop()
        server.start()  # a restart keeps the port clients know
        assert tries[-1] == tries[1]
    finally:
        server.stop()

    monkeypatch.setattr(DevServer, "command", lambda self: command(self) + ["--http-port", str(busy)])
    never = DevServer(tmp_path / "n" / "temporal.db")
    with pytest.raises(DevServerError, match="address already in use"):
        never.start()
    assert never.process is None
    taken.close()


# --- journeys the runner refuses -------------------------------------------------------------------------------

def test_runner_refuses_what_it_cannot_do_in_one_line() -> None:
    j, contents, segments = read_journey_text(announcement_text())
    with pytest.raises(RunnerError, match="uses segment .*not in the package") as e:
        runnable(j, {c.name: c for c in contents}, {})
    assert "\n" not in str(e.value)


def test_runner_takes_journeys_that_target_accounts() -> None:
    j, contents, segments = read_journey_text(announcement_text().replace("target: contacts", "target: accounts"))
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    assert r.plan.accounts


def test_runner_takes_segment_exits_and_goals() -> None:
    text = announcement_text().replace("exit_when: [{event: purchase}]",
                                       "exit_when: [{segment: Unsubscribed, when: joins}]")
    j, contents, segments = read_journey_text(text)
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    assert [t.name for t in r.plan.exits] == ["segment:Unsubscribed:joins"]


# --- the contacts database -------------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, Runnable]]:
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 30)
    with ProjectFile.open(db, readonly=True) as pf:
        j = pf.project.journey("Product announcement")
        r = runnable(j, pf.project.content, pf.project.segments)
    register(r)
    yield db, r


def test_audience_pages_are_the_designers_audience(project: tuple[Path, Runnable]) -> None:
    db, r = project
    at = datetime.fromtimestamp(r.plan.start, timezone.utc)
    with ProjectFile.open(db, readonly=True) as pf:
        expected = m.audience_ids(pf, r.journey, at)
    contacts = ContactsDb(str(db))
    try:
        got, after = [], 0
        while True:
            page = contacts.audience_page(r, r.plan.start, after, 7)
            got += [c for c, _, _ in page]
            if len(page) < 7:
                break
            after = page[-1][0]
        assert got == expected == [i for i in range(1, 31) if i % 5 and i % 7]
        assert {tz for _, tz, _ in contacts.audience_page(r, r.plan.start, 0, 100)} == {"Europe/Paris"}
        assert contacts.member(r, 11, "Unsubscribed", r.plan.start) and not contacts.member(r, 12, "Unsubscribed", 0)
        assert contacts.attribute(3, "lifetime_value") == 1003.0 and contacts.attribute(3, "consent_level") == \
            "marketing"
        with pytest.raises(RunnerError, match="no attribute 'shoe_size'"):
            contacts.attribute(3, "shoe_size")
    finally:
        contacts.close()


def test_contacts_database_must_exist_and_have_contacts(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="no such contacts database"):
        ContactsDb(str(tmp_path / "missing.db"))
    empty = tmp_path / "empty.db"
    import sqlite3
    sqlite3.connect(empty).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(RunnerError, match="no contacts table"):
        ContactsDb(str(empty))


# --- sending once --------------------------------------------------------------------------------------------

@dataclass
class FakeSmtp:
    """Records messages; fails the next `fail` sends as a transport error would."""

    sent: list[EmailMessage] = field(default_factory=list)
    sender: str = "journeys@localhost"
    fail: int = 0

    def send(self, msg: EmailMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise ChannelError("SMTP down")
        self.sent.append(msg)


def _acts(db: Path, tmp: Path, smtp: FakeSmtp) -> Activities:
    return Activities(ContactsDb(str(db)), StateDb(tmp / "state" / "runner.db"), Tokens("s"), "http://127.0.0.1:9",
                      smtp=smtp)  # type: ignore[arg-type]


def _req(r: Runnable, contact: int, step: str = "announce") -> StepRequest:
    return StepRequest(r.key, r.digest, contact_workflow_id(r.key, contact, 0), contact, 0, step, r.plan.start)


def test_a_send_retried_after_it_was_recorded_sends_nothing(project: tuple[Path, Runnable], tmp_path: Path) -> None:
    db, r = project
    smtp = FakeSmtp(fail=1)
    acts = _acts(db, tmp_path, smtp)
    with pytest.raises(RuntimeError, match="SMTP down"):  # a transport error: Temporal tries again
        acts.send_message(_req(r, 1))
    assert acts.state.sends()[0]["status"] == SENDING
    first = acts.send_message(_req(r, 1))
    again = acts.send_message(_req(r, 1))
    assert (first.outcome, again.outcome) == ("sent", "sent") and len(smtp.sent) == 1
    row = acts.state.sends()[0]
    assert (row["status"], row["attempts"], row["sim_at"]) == (SENT, 2, r.plan.start)
    assert smtp.sent[0]["Message-ID"] == first.transport_id == row["transport_id"]


def test_the_crash_window_resends_with_the_same_message_id(project: tuple[Path, Runnable], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport took the message, then the worker died before recording it: the retry cannot know, so it
    sends again under the same Message-ID (a mail store keeps one)."""
    db, r = project
    smtp = FakeSmtp()
    acts = _acts(db, tmp_path, smtp)
    mark = acts.state.mark

    def crash(*a: Any, **k: Any) -> None:
        raise SystemExit("killed")
    monkeypatch.setattr(acts.state, "mark", crash)
    with pytest.raises(SystemExit):
        acts.send_message(_req(r, 4))
    monkeypatch.setattr(acts.state, "mark", mark)
    acts.send_message(_req(r, 4))
    acts.send_message(_req(r, 4))
    assert len(smtp.sent) == 2 and smtp.sent[0]["Message-ID"] == smtp.sent[1]["Message-ID"]
    assert acts.state.sends()[0]["status"] == SENT


def test_suppression_consent_and_address_are_checked_at_send_time(project: tuple[Path, Runnable],
                                                                  tmp_path: Path) -> None:
    db, r = project
    smtp = FakeSmtp()
    acts = _acts(db, tmp_path, smtp)
    assert acts.send_message(_req(r, 11)).outcome == "suppressed"  # on the Unsubscribed list
    assert acts.send_message(_req(r, 2)).outcome == "no_address"
    with ProjectFile.open(db) as pf:  # contact 3 joins the suppression list after entering: checked at send time
        m.subscribe(pf, "Unsubscribed", [3])
    assert acts.send_message(_req(r, 3)).outcome == "suppressed"
    assert smtp.sent == [] and {s["status"] for s in acts.state.sends()} == {"suppressed", "no_address"}
    # a journey asking for more consent than contact 1 has now (it had enough when it entered, say)
    j, contents, segments = read_journey_text(announcement_text().replace(
        "suppress: Unsubscribed}", "suppress: Unsubscribed, min_consent: profiling}"))
    strict = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    register(strict)
    assert acts.send_message(_req(strict, 1)).outcome == "suppressed" and smtp.sent == []
    assert acts.send_message(_req(r, 1)).outcome == "sent" and len(smtp.sent) == 1


# --- the tracking endpoint -----------------------------------------------------------------------------------

class FakeClient:
    """Takes signals like a Temporal client; `down` makes it fail like an unreachable server."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, Event]] = []
        self.down = False
        self.finished: set[str] = set()

    def get_workflow_handle(self, wid: str) -> Any:
        client = self

        class Handle:
            async def signal(self, name: str, ev: Event) -> None:
                if client.down:
                    raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
                if wid in client.finished:
                    raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
                client.signals.append((wid, ev))
        return Handle()


def test_endpoint_queues_events_and_delivers_them_once_temporal_is_back(project: tuple[Path, Runnable],
                                                                        tmp_path: Path) -> None:
    db, r = project
    state = StateDb(tmp_path / "state" / "runner.db")
    client = FakeClient()
    tokens = Tokens("s")
    clock = Clock(time.time(), r.plan.start, 1.0)  # simulated time starts at the journey's start, now

    async def go() -> None:
        async def counts() -> dict[str, Any]:
            return {"enrolled": 3}
        server = TrackingServer(client, r, clock, tokens, state, status=counts)  # type: ignore[arg-type]
        client.down = True
        await server.start("127.0.0.1", 0)
        wid = contact_workflow_id(r.key, 1, 0)
        pixel = await server.handle("GET", "/o/" + tokens.make(Tracked(wid, "announce", "o")), b"")
        assert (pixel.status, pixel.body, pixel.content_type) == (200, PIXEL, "image/gif")
        click = await server.handle("GET", "/c/" + tokens.make(Tracked(wid, "announce", "c", "https://x.example/p")),
                                    b"")
        assert click.status == 302 and ("Location", "https://x.example/p") in click.headers
        forged = await server.handle("GET", "/c/" + tokens.make(Tracked(wid, "announce", "o")), b"")
        assert forged.status == 404  # an open token used as a click
        state.record_enrolments(r.key, 0, [(c, contact_workflow_id(r.key, c, 0), r.plan.start) for c in (1, 4)])
        bought = await server.handle("POST", "/events", json.dumps([{"contact": 1, "event": "purchase"},
                                                                   {"contact": 4, "event": "purchase"}]).encode())
        assert (bought.status, json.loads(bought.body)) == (202, {"queued": 2})
        client.finished.add(contact_workflow_id(r.key, 4, 0))
        assert state.event_counts() == {"pending": 5} and client.signals == []  # Temporal away: kept
        client.down = False
        server.wake.set()
        for _ in range(200):
            if state.event_counts().get("pending", 0) == 0:
                break
            await asyncio.sleep(0.01)
        status = await server.handle("GET", "/status", b"")
        assert json.loads(status.body) == {"enrolled": 3}
        await server.close()

    asyncio.run(asyncio.wait_for(go(), 60))  # a hang fails the test instead of the run
    assert state.event_counts() == {"delivered": 4, "not_running": 1}
    assert [(w.split(":")[-3], e.name, e.step_id) for w, e in client.signals] == \
        [("1", "opened", "announce"), ("1", "clicked", "announce"),
         ("1", "clicked:https://x.example/p", "announce"), ("1", "purchase", "")]  # the click names its link
    assert all(r.plan.start <= e.at <= r.plan.start + 60 for _, e in client.signals)  # stamped when received


def test_events_of_an_accounts_contacts_go_to_the_accounts_workflow_naming_the_contact(tmp_path: Path) -> None:
    j, contents, segments = read_journey_text(announcement_text().replace("target: contacts", "target: accounts"))
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    state = StateDb(tmp_path / "state" / "runner.db")
    unit = unit_workflow_id(r.key, 7, 0)
    state.record_enrolments(r.key, 0, [(1, unit, r.plan.start), (4, unit, r.plan.start),
                                       (9, contact_workflow_id(r.key, 9, 0), r.plan.start)])  # 9: no account
    client = FakeClient()
    tokens = Tokens("s")

    async def go() -> None:
        server = TrackingServer(client, r, Clock(time.time(), r.plan.start, 1.0), tokens, state)  # type: ignore[arg-type]
        await server.start("127.0.0.1", 0)
        await server.handle("POST", "/events", json.dumps([{"contact": 4, "event": "purchase"},
                                                           {"contact": 9, "event": "purchase"}]).encode())
        await server.handle("GET", "/u/" + tokens.make(Tracked(unit, "announce", "u", "", 4)), b"")
        for _ in range(200):
            if state.event_counts().get("pending", 0) == 0:
                break
            await asyncio.sleep(0.01)
        await server.close()

    asyncio.run(asyncio.wait_for(go(), 60))  # a hang fails the test instead of the run
    assert [(w, e.name, e.contact) for w, e in client.signals] == [
        (unit, "purchase", 4), (contact_workflow_id(r.key, 9, 0), "purchase", 9), (unit, "unsubscribed", 4)]
    assert state.started(r.key, 0, [unit, unit_workflow_id(r.key, 8, 0)]) == {unit}
    assert state.workflow_count(r.key) == 2 and state.enrolment_count(r.key) == 3


@pytest.mark.parametrize("body, problem", [
    (b"not json", "the body is not JSON"),
    (b'{"event": "purchase"}', "contact must be a contact id"),
    (b'{"contact": 1}', "event must be a name"),
    (b'{"contact": 1, "event": "teleported"}', "unknown contact event 'teleported'"),
    (b'{"contact": 1, "event": "clicked"}', "needs the step of the message"),
    (b'{"contact": 1, "event": "clicked", "step": "nope"}', "the journey has no step 'nope'"),
    (b'{"contact": 1, "event": "purchase", "step": "announce"}', "'purchase' is no message event"),
    (b'{"contact": 1, "event": "opened", "step": "announce", "link": "shop"}', "'opened' is no click"),
    (b'{"contact": 1, "event": "link_clicked", "step": "announce", "link": ""}', "link must be a link's name"),
])
def test_endpoint_refuses_bad_events_with_a_reason(project: tuple[Path, Runnable], tmp_path: Path, body: bytes,
                                                   problem: str) -> None:
    db, r = project
    state = StateDb(tmp_path / "state" / "runner.db")
    client: Any = FakeClient()
    server = TrackingServer(client, r, Clock(0.0, r.plan.start, 1.0), Tokens("s"), state)
    res = asyncio.run(server.handle("POST", "/events", body))
    assert res.status == 400 and problem in json.loads(res.body)["error"]
    assert state.event_counts() == {}


# --- the command line ----------------------------------------------------------------------------------------

def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", tmp_path / "none.jpkg", "--contacts-db", tmp_path / "c.db")
    assert code == 2 and "none.jpkg: no such package file" in err and err.count("\n") == 1
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 3)
    from tests.runner_helpers import package_of
    pkg = package_of(db, tmp_path / "a.jpkg")
    code, _, err = run(capsys, "status", pkg)
    assert code == 2 and "no run of this package here" in err and err.count("\n") == 1
    code, _, err = run(capsys, "run", pkg, "--contacts-db", db, "--sms-url", "http://127.0.0.1:9/")
    assert code == 2 and "the journey sends email; give an SMTP server with --smtp" in err
    code, _, err = run(capsys, "run", pkg, "--contacts-db", tmp_path / "nope.db", "--smtp", "127.0.0.1:9",
                       "--sms-url", "http://127.0.0.1:9/")
    assert code == 2 and "no such contacts database" in err


def test_run_refuses_a_bad_package_before_starting_anything(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tests.runner_helpers import package_of
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 3)
    pkg = package_of(db, tmp_path / "a.jpkg")
    common = ("--contacts-db", db, "--smtp", "127.0.0.1:9", "--sms-url", "http://127.0.0.1:9/")
    # unsigned where the team requires a signature
    code, _, err = run(capsys, "run", pkg, *common, "--require-signature")  # and no trusted key: says so
    assert code == 2 and "no trusted key is configured" in err and err.count("\n") == 1
    # one byte changed in the journey member (stored uncompressed here so the change reaches the text)
    import zipfile
    tampered = tmp_path / "t.jpkg"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "journey.yaml":
                data = data.replace(b"announce", b"announcX", 1)
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
    code, _, err = run(capsys, "run", tampered, *common)
    assert code == 2 and "journey.yaml" in err and err.count("\n") == 1
    assert not (tmp_path / "t.jpkg.run").exists()  # refused before any state was made


def test_push_notifications_go_to_their_gateway_once(project: tuple[Path, Runnable], tmp_path: Path) -> None:
    """A push step posts title, text and the contact's id (its external user id at the push provider) to the
    push gateway, with the idempotency key; a retry after it was recorded posts nothing."""
    db, _ = project
    text = announcement_text().replace("content: Product launched text", "content: Push text")
    text = text.replace("launched: {type: sms,", "launched: {type: push,")
    text = text.replace("content:\n", "content:\n  Push text: {kind: push, status: ready, title: "
                        "'Hi {{first_name}}', text: It is out}\n", 1)
    j, contents, segments = read_journey_text(text)
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    register(r)
    sink = SmsSink().start()
    try:
        acts = _acts(db, tmp_path, FakeSmtp())
        acts.push = SmsChannel(f"http://127.0.0.1:{sink.server.server_address[1]}/push", label="push gateway")
        first = acts.send_message(_req(r, 1, "launched"))
        again = acts.send_message(_req(r, 1, "launched"))
        assert (first.outcome, again.outcome) == ("sent", "sent")
        assert len(sink.messages) == 1
        msg = sink.messages[0]
        with ProjectFile.open(db, readonly=True) as pf, pf.connection() as conn:
            first_name = conn.execute(select(t.contacts.c.first_name).where(t.contacts.c.id == 1)).scalar_one()
        assert (msg["to"], msg["title"], msg["text"], msg["step"]) == ("1", f"Hi {first_name}", "It is out",
                                                                        "launched")
        assert msg["idempotency_key"] == first.transport_id and msg["open_url"].startswith("http://127.0.0.1:9/o/")
        assert acts.send_message(_req(r, 11, "launched")).outcome == "suppressed"  # suppression holds for push
        acts.push = None
        with pytest.raises(RunnerError, match="--push-url"):
            acts.send_message(_req(r, 3, "launched"))
    finally:
        sink.server.shutdown()


# --- rehearsal scripts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc, problem", [
    ({"contacts": {}}, "rehearsal-script/1"),
    ({"format": "rehearsal-script/1", "contacts": []}, "'contacts' must map"),
    ({"format": "rehearsal-script/1", "contacts": {"x": []}}, "contact id 'x'"),
    ({"format": "rehearsal-script/1", "contacts": {"1": [{"event": "opened", "after": "nope"}]}}, "no step 'nope'"),
    ({"format": "rehearsal-script/1", "contacts": {"1": [{"event": "opened", "at": 5}]}}, "happens to a message"),
    ({"format": "rehearsal-script/1", "contacts": {"1": [{"event": "purchase", "at": -1}]}}, "'at' must be"),
    ({"format": "rehearsal-script/1", "contacts": {"1": [{"event": "opened", "after": "announce", "link": "x"}]}},
     "a link goes with a click"),
    ({"format": "rehearsal-script/1", "contacts": {"1": [{"event": "purchase", "when": 3}]}}, "unknown key(s) when"),
])
def test_rehearsal_scripts_are_checked_with_a_reason(doc: Any, problem: str) -> None:
    from app.runner.rehearsal import parse_script
    j, contents, segments = read_journey_text(announcement_text())
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    with pytest.raises(RunnerError, match=re.escape(problem)):
        parse_script(doc, r, where="s.json")


def test_a_rehearsal_script_reads_message_and_contact_events() -> None:
    from app.runner.rehearsal import parse_script
    j, contents, segments = read_journey_text(announcement_text())
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    doc = {"format": "rehearsal-script/1", "contacts": {"3": [
        {"event": "clicked", "after": "announce", "delay": 60.5, "link": "product-details"},
        {"event": "purchase", "at": 86_400}]}}
    assert parse_script(doc, r) == {3: [{"event": "clicked", "after": "announce", "delay": 60,
                                         "link": "product-details"}, {"event": "purchase", "at": 86_400}]}


def test_events_still_in_the_outbox_are_found_for_their_workflows_deadline(tmp_path: Path) -> None:
    """A deadline must not pass over an event the endpoint accepted in time whose signal is late."""
    state = StateDb(tmp_path / "state" / "runner.db")
    state.queue_events([("w1", {"name": "clicked", "at": 100, "step_id": "s", "contact": -1}),
                        ("w1", {"name": "purchase", "at": 200, "step_id": "", "contact": -1}),
                        ("w2", {"name": "clicked", "at": 50, "step_id": "s", "contact": -1})])
    assert [e["name"] for e in state.undelivered_events("w1", 150)] == ["clicked"]
    assert [e["name"] for e in state.undelivered_events("w1", 200)] == ["clicked", "purchase"]
    first, second = (i for i, _, _ in state.pending_events()[:2])
    # signalled, but the signal may come after the workflow task that reads the outbox: still found
    state.settle_events([(first, "delivered")])
    assert [e["name"] for e in state.undelivered_events("w1", 200)] == ["clicked", "purchase"]
    state.settle_events([(second, "not_running")])  # its workflow had finished: nobody to find it
    assert [e["name"] for e in state.undelivered_events("w1", 200)] == ["clicked"]
    assert state.undelivered_events("w3", 10**9) == []
