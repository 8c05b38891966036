"""The runner facing a hostile or broken world (issue 14): its endpoint takes events only from who holds the run's
secret (or a message's signed token) and refuses abuse with a 4xx and one line of JSON; every send ends, a message
that cannot be built or is refused for good as `failed`; a message counts once however often it went out.

All but the last test run without Temporal; the last runs one short journey on a dev server.
"""

from __future__ import annotations

import asyncio
import json
import stat
import urllib.error
import urllib.request
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError

from app.codec.yamlio import read_journey_text
from app.runner.access import endpoint, events_secret
from app.runner.activities import Activities
from app.runner.calls import Event, StepRequest, contact_workflow_id
from app.runner.channels import ChannelError, SmsChannel, SmtpChannel, Tokens, Tracked
from app.runner.clock import Clock
from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, free_port
from app.runner.runnable import Runnable, from_package, register, runnable
from app.runner.state import FAILED, SENT, StateDb
from app.runner.status import format_counts, state_figures
from app.runner.tracking import BURST, MAX_BODY, RateLimit, TrackingServer
from app.runner.worker import RunSettings, run_journey
from app.runner.workflows import PERMANENT
from app.store import ProjectFile
from app.store import schema as t
from tests.cli_helpers import run
from tests.runner_helpers import (Mail, SmsSink, SmtpSink, announcement_text, contact_of, contacts_project,
                                  dev_server, needs_temporal, package_of)

_fixtures = (dev_server,)
SECRET = "s3cret-of-this-run"


def _announcement() -> Runnable:
    j, contents, segments = read_journey_text(announcement_text())
    r = runnable(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    register(r)
    return r


class Signals:
    """Takes signals like a Temporal client."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, Event]] = []

    def get_workflow_handle(self, wid: str) -> Any:
        taken = self.signals

        class Handle:
            async def signal(self, name: str, ev: Event) -> None:
                taken.append((wid, ev))
        return Handle()


def _server(tmp: Path, r: Runnable, **kw: Any) -> tuple[TrackingServer, StateDb]:
    state = StateDb(tmp / "state" / "runner.db")
    state.record_enrolments(r.key, 0, [(1, contact_workflow_id(r.key, 1, 0), r.plan.start)])  # contact 1 entered

    async def counts() -> dict[str, Any]:
        return {"journey": "Product announcement", "key": r.key}
    server = TrackingServer(Signals(), r, Clock(0.0, r.plan.start, 1.0), Tokens("t"), state,  # type: ignore[arg-type]
                            status=counts, secret=SECRET, **kw)
    return server, state


async def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the endpoint: (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def _post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _one_line_of_json(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json" and b"\n" not in body.strip(), body
    doc = json.loads(body)
    assert isinstance(doc, dict) and doc["error"]
    return doc


# --- 1. the endpoint is authenticated ------------------------------------------------------------------------

def test_forged_events_without_the_secret_are_refused_and_nothing_is_recorded(tmp_path: Path) -> None:
    r = _announcement()
    server, state = _server(tmp_path, r)
    purchase = json.dumps({"contact": 1, "event": "purchase"}).encode()

    async def go() -> list[tuple[int, dict[str, Any]]]:
        port = await server.start("127.0.0.1", 0)
        try:
            seen = []
            for auth in ((), ("Authorization: Bearer guess",), ("Authorization: Basic " + SECRET,),
                         (f"Authorization: Bearer {SECRET}x",)):
                status, headers, body = await _raw(port, _post("/events", purchase, *auth))
                seen.append((status, _one_line_of_json(headers, body)))
                assert headers["www-authenticate"].startswith("Bearer")
            status, headers, body = await _raw(port, b"GET /status HTTP/1.1\r\n\r\n")
            seen.append((status, _one_line_of_json(headers, body)))
            return seen
        finally:
            await server.close()

    answers = asyncio.run(asyncio.wait_for(go(), 60))
    assert [status for status, _ in answers] == [401] * 5
    assert "Bearer" in answers[0][1]["error"] and "--public-status" in answers[-1][1]["error"]
    assert state.event_counts() == {} and state.dead_letter_count() == 0  # nothing recorded, nothing signalled
    assert server.client.signals == []  # type: ignore[attr-defined]


def test_the_secret_opens_events_and_status_and_a_public_status_needs_none(tmp_path: Path) -> None:
    r = _announcement()
    server, state = _server(tmp_path, r)
    public, _ = _server(tmp_path / "public", r, public_status=True)
    auth = {"authorization": f"Bearer {SECRET}"}

    async def go() -> None:
        bought = await server.handle("POST", "/events", b'{"contact": 1, "event": "purchase"}', auth)
        assert (bought.status, json.loads(bought.body)) == (202, {"queued": 1})
        status = await server.handle("GET", "/status", b"", auth)
        assert status.status == 200 and json.loads(status.body)["key"] == r.key
        assert (await public.handle("GET", "/status", b"")).status == 200
        assert (await public.handle("POST", "/events", b'{"contact": 1, "event": "purchase"}')).status == 401
        # a message's signed token still reports its open without the secret: the mail client has only the link
        pixel = await server.handle("GET", "/o/" + server.tokens.make(Tracked(contact_workflow_id(r.key, 1, 0),
                                                                               "announce", "o")), b"")
        assert pixel.status == 200

    asyncio.run(go())
    assert state.event_counts() == {"pending": 2}


@pytest.mark.parametrize("request_bytes, status, problem", [
    (_post("/events", b"[" * 50_000 + b"]" * 50_000), 413, "larger than"),  # 100 kB
    (_post("/events", b"[" * 30_000 + b"]" * 30_000), 400, "nested deeper"),  # RecursionError in json, before
    (_post("/events", b'[[[[[{"contact": 1, "event": "purchase"}]]]]]'), 400, "nested deeper"),
    (_post("/events", json.dumps([{"contact": 1, "event": "purchase"}] * 501).encode()), 400, "at most 500"),
    (b"POST /events HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413, "larger than"),  # refused unread
    (b"POST /events HTTP/1.1\r\nContent-Length: -3\r\n\r\n", 400, "Content-Length"),
    (b"POST /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "chunked"),
    (b"POST /events HTTP/1.1\r\n" + b"X-A: b\r\n" * 65 + b"\r\n", 431, "headers"),
    (b"POST /events HTTP/1.1\r\nX-A: " + b"b" * 20_000 + b"\r\n\r\n", 431, "longer than"),
    (b"GET /nothing HTTP/1.1\r\n\r\n", 404, "not found"),
    (b"GET /events HTTP/1.1\r\n\r\n", 405, "POST /events only"),
    (b"nonsense\r\n\r\n", 400, "bad request line"),
])
def test_hostile_requests_get_a_4xx_and_one_line_of_json(tmp_path: Path, request_bytes: bytes, status: int,
                                                         problem: str) -> None:
    r = _announcement()
    server, state = _server(tmp_path, r)
    request_bytes = request_bytes.replace(b"Host: x", f"Authorization: Bearer {SECRET}".encode())  # the run's own

    async def go() -> tuple[int, dict[str, str], bytes]:
        port = await server.start("127.0.0.1", 0)
        try:
            return await _raw(port, request_bytes)
        finally:
            await server.close()

    got, headers, body = asyncio.run(asyncio.wait_for(go(), 60))
    assert got == status and problem in _one_line_of_json(headers, body)["error"]
    assert state.event_counts() == {}
    assert MAX_BODY < 100_000  # the first case is above the limit


def test_more_requests_than_the_rate_limit_allows_get_429(tmp_path: Path) -> None:
    r = _announcement()
    now = [0.0]
    server, _ = _server(tmp_path, r, limit=RateLimit(clock=lambda: now[0]))  # time stands still: no refill
    auth = {"authorization": f"Bearer {SECRET}"}

    async def go() -> list[int]:
        return [(await server.handle("GET", "/status", b"", auth, peer="10.0.0.1")).status
                for _ in range(int(BURST) + 1)]

    answers = asyncio.run(go())
    assert answers[:-1] == [200] * int(BURST) and answers[-1] == 429
    refused = asyncio.run(server.handle("POST", "/events", b"{}", {}, peer="10.0.0.1"))  # guessing counts too
    assert refused.status == 429 and ("Retry-After", "1") in refused.headers
    assert asyncio.run(server.handle("GET", "/status", b"", auth, peer="10.0.0.2")).status == 200  # another client
    now[0] += 1.0  # a second later the bucket holds RATE more
    assert asyncio.run(server.handle("GET", "/status", b"", auth, peer="10.0.0.1")).status == 200


def test_events_for_unknown_contacts_are_404_and_kept_as_dead_letters(tmp_path: Path) -> None:
    r = _announcement()
    server, state = _server(tmp_path, r)
    auth = {"authorization": f"Bearer {SECRET}"}
    body = json.dumps([{"contact": 1, "event": "purchase"}, {"contact": 999, "event": "purchase"}]).encode()
    res = asyncio.run(server.handle("POST", "/events", body, auth))
    assert res.status == 404 and json.loads(res.body)["unknown"] == [999]
    assert state.event_counts() == {}  # nothing queued: the sender posts the known ones again
    assert [d["event"]["contact"] for d in state.dead_letters()] == [999]
    figures = state_figures(state, r.key)
    assert figures["dead_letters"] == 1
    lines = format_counts({"journey": "J", "key": r.key, "enrolled": 1, "running": 0, "failed": 0, "outcomes": {},
                           "steps": [], **figures})
    assert any("1 refused for unknown contacts" in line for line in lines)


def test_the_state_file_is_its_owners_only_and_the_secret_is_made_once(tmp_path: Path) -> None:
    state = StateDb(tmp_path / "run" / "runner.db")
    secret, made = events_secret(state)
    again, made_again = events_secret(state)
    assert made and not made_again and secret == again and len(secret) >= 40
    state.put("events_url", "http://127.0.0.1:9")
    state.close()
    for name in ("runner.db", "runner.db-wal"):
        path = tmp_path / "run" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o700
    assert endpoint(tmp_path / "run").secret == secret  # what the commands read


def test_the_event_command_posts_with_the_runs_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = _announcement()
    server, state = _server(tmp_path, r)
    state_dir = str(tmp_path / "state")

    async def go() -> list[tuple[int, str, str]]:
        port = await server.start("127.0.0.1", 0)
        state.put("events_url", f"http://127.0.0.1:{port}")
        state.put("events_secret", SECRET)
        try:
            return [await asyncio.to_thread(run, capsys, "event", "x.jpkg", "--contact", str(c), "--event",
                                            "purchase", "--state-dir", state_dir) for c in (1, 999)]
        finally:
            await server.close()

    (ok, out, _), (refused, _, err) = asyncio.run(asyncio.wait_for(go(), 60))
    assert ok == 0 and "queued 1" in out
    assert refused == 2 and "(404)" in err and "999" in err and err.count("\n") == 1
    assert sum(state.event_counts().values()) == 1 and state.dead_letter_count() == 1


# --- 2. every send ends ----------------------------------------------------------------------------------------

class RefusingSink(SmtpSink):
    """The SMTP sink, refusing some recipients for good (554) and some messages once (451, try again later)."""

    def __init__(self, refuse: set[int], later: set[int], on_mail: Any = None) -> None:
        super().__init__(on_mail)
        self.refuse, self.later = refuse, set(later)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if int(address.split("@")[0].lstrip("c")) in self.refuse:
            return "554 5.7.1 Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        who = int(envelope.rcpt_tos[0].split("@")[0].lstrip("c"))
        if who in self.later:
            self.later.discard(who)
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def test_smtp_and_http_refusals_are_permanent_or_not_by_their_code() -> None:
    sink = RefusingSink(refuse={5}, later={6}).start()
    channel = SmtpChannel("127.0.0.1", sink.port)
    try:
        def message(to: str) -> EmailMessage:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "a@example.com", to, "hi"
            msg.set_content("hi")
            return msg
        with pytest.raises(ChannelError, match="554") as refused:
            channel.send(message("c5@example.com"))
        assert refused.value.permanent
        with pytest.raises(ChannelError, match="451") as later:
            channel.send(message("c6@example.com"))
        assert not later.value.permanent
        channel.send(message("c6@example.com"))  # the next attempt goes through
        assert [contact_of(m) for m in sink.snapshot()] == [6]
    finally:
        channel.close()
        sink.stop()
    from app.runner.channels import http_permanent, smtp_permanent
    assert [http_permanent(s) for s in (400, 403, 404, 408, 422, 429, 500, 503)] == \
        [True, True, True, False, True, False, False, False]
    assert [smtp_permanent(c) for c in (421, 451, 550, 554)] == [False, False, True, True]
    gateway = SmsChannel("http://127.0.0.1:9/nowhere")  # nothing listens: tried again
    with pytest.raises(ChannelError) as down:
        gateway.send("k", "+33", "hi", {})
    assert not down.value.permanent


def _acts(db: Path, tmp: Path, smtp: Any) -> Activities:
    return Activities(ContactsDb(str(db)), StateDb(tmp / "state" / "runner.db"), Tokens("s"), "http://127.0.0.1:9",
                      smtp=smtp)


def _req(r: Runnable, contact: int) -> StepRequest:
    return StepRequest(r.key, r.digest, contact_workflow_id(r.key, contact, 0), contact, 0, "announce", r.plan.start)


class Transport:
    """An SMTP transport that accepts every message and keeps it."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.sender = "journeys@localhost"

    def send(self, msg: EmailMessage) -> None:
        self.sent.append(msg)


def _rename(db: Path, contact: int, first_name: str) -> None:
    with ProjectFile.open(db) as pf, pf.connection(write=True) as conn:
        conn.execute(update(t.contacts).where(t.contacts.c.id == contact).values(first_name=first_name))


def test_a_message_that_cannot_be_built_is_a_permanent_failure_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 6)
    _rename(db, 3, "Eve\nBcc: everyone@example.com")  # a line break in the subject's header
    r = from_package(package_of(db, tmp_path / "a.jpkg"))
    register(r)
    transport = Transport()
    acts = _acts(db, tmp_path, transport)
    with pytest.raises(ApplicationError) as e:
        acts.send_message(_req(r, 3))
    assert e.value.non_retryable and e.value.type == PERMANENT and "cannot be built" in e.value.message
    again = acts.send_message(_req(r, 3))  # a retry all the same (a replay, a second worker): nothing goes out
    assert again.outcome == FAILED and "linefeed" in again.reason and transport.sent == []
    row = acts.state.sends()[0]
    assert (row["status"], row["contact_id"]) == (FAILED, 3) and "cannot be built" in row["reason"]
    assert acts.state.failures(r.key)[0]["contact"] == 3


def test_a_message_resent_in_the_crash_window_counts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 6)
    r = from_package(package_of(db, tmp_path / "a.jpkg"))
    register(r)
    transport = Transport()
    acts = _acts(db, tmp_path, transport)
    mark = acts.state.mark

    def killed(*a: Any, **k: Any) -> None:  # the worker dies between the transport's acceptance and the record
        raise SystemExit("killed")
    for _ in range(2):  # killed twice in the same window
        monkeypatch.setattr(acts.state, "mark", killed)
        with pytest.raises(SystemExit):
            acts.send_message(_req(r, 4))
    monkeypatch.setattr(acts.state, "mark", mark)
    assert acts.send_message(_req(r, 4)).outcome == SENT
    assert acts.send_message(_req(r, 1)).outcome == SENT
    assert len(transport.sent) == 4  # contact 4's message went out three times, under one Message-ID
    counts = acts.state.message_counts(r.key)
    assert (counts["sent"], counts["retried"], counts["sending"]) == (2, 1, 0)


# --- the whole runner: a message that cannot be built, a 554, a 451, a forger ----------------------------------

@needs_temporal
@pytest.mark.temporal
def test_a_run_with_unbuildable_and_refused_messages_finishes_and_counts_them_failed(tmp_path: Path,
                                                                                     dev_server: DevServer) -> None:
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 9)  # audience 1-4, 6, 8, 9 (5: below the threshold, 7: do not contact); 2: no email
    _rename(db, 3, "Eve\r\nBcc: everyone@example.com")
    r = from_package(package_of(db, tmp_path / "announcement.jpkg"))
    port = free_port()
    forged: dict[str, Any] = {}

    def forge(mail: Mail) -> None:  # while the run sends: a process on the machine posts without the secret
        if forged:
            return
        forged["status"] = _http(f"http://127.0.0.1:{port}/status")
        forged["events"] = _http(f"http://127.0.0.1:{port}/events", {"contact": 1, "event": "purchase"})

    smtp = RefusingSink(refuse={4}, later={6}, on_mail=forge).start()
    sms = SmsSink().start()
    said: list[str] = []
    try:
        settings = RunSettings(contacts_db=str(db), state_dir=tmp_path / "state", temporal=dev_server.address,
                               smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=43_200.0, send_timeout=10,
                               listen=("127.0.0.1", port))
        # it ends: no send runs on (a hang fails the test instead of the run)
        summary = asyncio.run(asyncio.wait_for(run_journey(r, settings, say=said.append), 600))
    finally:
        smtp.stop()
        sms.stop()
    assert forged == {"status": 401, "events": 401}
    counts = summary.counts
    steps = {row["step"]: row for row in counts["steps"]}
    announce = steps["announce"]
    delivered = [c for c in pop.emailed() if c not in (3, 4)]
    assert Counter(contact_of(m) for m in smtp.snapshot()) == Counter(delivered)  # 6 once, after its 451
    assert (announce["sent"], announce["failed"], announce["no_address"], announce["suppressed"]) == \
        (len(delivered), 2, 1, 0)
    assert counts["outcomes"]["completed"] == len(pop.audience) and counts["running"] == counts["failed"] == 0
    assert counts["messages"]["failed"] == 2 and counts["messages"]["sent"] == len(delivered)
    reasons = {f["contact"]: f["reason"] for f in counts["failures"]}
    assert "cannot be built" in reasons[3] and "554" in reasons[4]
    assert counts["events"] == {} and counts["dead_letters"] == 0  # the forger left no trace
    secret_lines = [line for line in said if "Events secret (shown once)" in line]
    state = StateDb(tmp_path / "state" / "runner.db")
    try:
        assert len(secret_lines) == 1 and str(state.get("events_secret")) in secret_lines[0]
    finally:
        state.close()
    assert stat.S_IMODE((tmp_path / "state" / "runner.db").stat().st_mode) == 0o600


def _http(url: str, doc: Any = None) -> int:
    req = urllib.request.Request(url, data=None if doc is None else json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
