"""Versions in flight for a journey that targets accounts (issue 18, item 3): the run of version N+1, started with
`--replaces` the run of version N, takes over N's accounts as it takes over contacts (app/runner/migrate_flight.py):
an account is one unit, moved whole (one workflow of N+1 for all the contacts it had on N, its members and time
zone, whose events each name their contact) or made to leave, its ledger row listing its contacts, every contact N
enrolled taken; an account N entered is not entered again by N+1, even with a contact that joined it since."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from app.package.in_flight import MOVE, InFlight
from app.store import ProjectFile
from app.store import schema as t
from tests.runner_helpers import dev_server, needs_temporal
from tests.test_versions_in_flight import Runs, _sent, ran_again_after_a_crash

_fixtures = (dev_server,)

# version 1: after a welcome email an account (or a contact without one) is split three ways, to waits
LIVE = """\
format: journey/1
name: Accounts
target: accounts
audience: {segments: [Chosen accounts]}
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-31T00:00, timezone: Europe/Paris}
steps:
  hello: {type: email, content: Hello email, next: split}
  split: {type: random-split, split: [34, 33, 33], A: pause, B: hold, C: stay}
  pause: {type: wait, duration: 20d, next: text}
  hold: {type: wait, duration: 20d, next: text}
  stay: {type: wait, duration: 3d, next: text}
  text: {type: sms, content: Hello text}
content:
  Hello email: {kind: email, status: ready, subject: "Hello {{first_name}}", sender: a@example.com, body: Hi}
  Again email: {kind: email, status: ready, subject: "Again {{first_name}}", sender: a@example.com, body: Hi again}
  Hello text: {kind: sms, status: ready, text: Hi}
segments:
  Chosen accounts:
    entity: accounts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 0}]}}]}
"""
# who works for which account (the audience is a segment of accounts: contacts without one are not in it). The
# split's draws (seed 0, per account) send accounts 1 and 5 to 'pause', account 2 to 'hold', account 12 to 'stay'
ACCOUNTS = {1: [1, 2, 3], 2: [4, 5], 5: [6, 7], 12: [8, 9, 10]}
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Europe/London")  # contact i's is ZONES[i % 4]
MOVED, LEFT, FINISHING = {1: [1, 2, 3], 5: [6, 7]}, {2: [4, 5]}, {12: [8, 9, 10]}
OPENER = 2  # of account 1, not its first contact: opens version 2's email, and the account answers 'yes'


def _project(db: Path) -> None:
    from tests.runner_helpers import contacts_project
    contacts_project(db, 10, LIVE, no_email=False)
    with ProjectFile.open(db) as pf:
        with pf.connection(write=True) as conn:
            conn.execute(insert(t.accounts), [{"id": a, "name": f"Account {a}", "size": 10} for a in ACCOUNTS])
            for i in range(1, 11):
                account = next((a for a, people in ACCOUNTS.items() if i in people), None)
                conn.execute(update(t.contacts).where(t.contacts.c.id == i)
                             .values(account_id=account, time_zone=ZONES[i % len(ZONES)]))


def _version_2(db: Path, out: Path) -> None:
    """Version 2: the 20-day waits are gone; path A sends a new email and waits two days for its open (yes: the
    text), path B goes to 'stay'. Those at 'pause' move to the new email, those at 'hold' leave, 'stay' finishes
    on version 1."""
    from app.model.journey import Step
    from app.package.build import package_journey
    with ProjectFile.open(db) as pf:
        j = pf.project.journey("Accounts")
        j.remove_step("pause")
        j.remove_step("hold")
        j.add_step(Step("again", "email", props={"content": "Again email"}))
        j.add_step(Step("opened", "if-then", props={"wait_for": {"event": "opened", "step": "again"},
                                                    "within": timedelta(days=2)}))
        j.connect("split", "A", "again")
        j.connect("split", "B", "stay")
        j.connect("again", "next", "opened")
        j.connect("opened", "yes", "text")
        j.connect("opened", "no", "end")
        package_journey(pf, "Accounts", out,
                        in_flight=InFlight(0, MOVE, {"pause": "again"}, frozenset({"hold"}), frozenset({"stay"})))


def _people(groups: dict[int, list[int]]) -> list[int]:
    return sorted(c for people in groups.values() for c in people)


@needs_temporal
@pytest.mark.temporal
def test_live_accounts_waiting_on_n_finish_move_or_leave_whole_none_lost_or_sent_twice(
        tmp_path: Path, dev_server: Any) -> None:
    import asyncio
    import threading
    import time
    from collections import Counter

    from app.runner.devserver import connect
    from app.runner.migrate_flight import ledger_counts, replaced_by
    from app.runner.runnable import from_package
    from app.runner.status import format_counts, read_counts
    from tests.runner_helpers import People, SmsSink, SmtpSink, contact_of, package_of
    db = tmp_path / "contacts.jstudio"
    _project(db)
    everyone = list(range(1, 11))
    pkg_n = package_of(db, tmp_path / "n.jpkg", "Accounts")
    _version_2(db, tmp_path / "n1.jpkg")
    people = People().start()

    def on_mail(mail: Any) -> None:  # the opener opens version 2's email before it is accepted: in time, surely
        if mail.subject.startswith("Again") and contact_of(mail) == OPENER and mail.pixel():
            people.visit_now("open", str(mail.pixel()))
    smtp, sms = SmtpSink(on_mail).start(), SmsSink().start()
    try:
        runs = Runs(db, tmp_path, dev_server.address, smtp.port, sms.url)
        settings, go, done, errors = runs.settings, runs.go, runs.done, runs.errors
        n = threading.Thread(target=go, args=("n", pkg_n, settings("n.run")))
        n.start()
        waits = {"pause", "hold", "stay"}
        deadline = time.monotonic() + 90
        waiting, seen = 0, None
        while waiting < len(everyone) and time.monotonic() < deadline and not errors:  # every unit at its wait
            time.sleep(0.2)
            try:
                counts = asyncio.run(read_counts(from_package(pkg_n), tmp_path / "n.run", dev_server.address))
            except Exception as e:  # noqa: BLE001 - the run is starting: ask again
                seen = e
                continue
            seen = counts
            waiting = sum(row["waiting"] for row in counts.get("steps", []) if row["step"] in waits)
        assert not errors and waiting == len(everyone), seen
        with ProjectFile.open(db) as pf:  # joins account 12 after it entered version 1: on neither version
            with pf.connection(write=True) as conn:
                conn.execute(insert(t.contacts), [{"id": 14, "first_name": "Late", "email": "c14@example.com",
                                                   "mobile_phone": "+33600000014", "time_zone": "Europe/Paris",
                                                   "consent_level": "marketing", "lifetime_value": 2000.0,
                                                   "account_id": 12}])
        n1 = threading.Thread(target=go, args=("n1", tmp_path / "n1.jpkg",
                                               settings("n1.run", replaces=str(tmp_path / "n.run"))))
        n1.start()
        n1.join(180)
        n.join(180)
        assert not errors, errors
        assert not n.is_alive() and not n1.is_alive()
    finally:
        smtp.stop()
        sms.stop()
        people.stop()
    assert people.done == ["open"]
    hello = Counter(contact_of(x) for x in smtp.snapshot() if x.subject.startswith("Hello"))
    again = Counter(contact_of(x) for x in smtp.snapshot() if x.subject.startswith("Again"))
    texted = Counter(contact_of(x) for x in sms.snapshot())
    assert hello == Counter(everyone)  # every contact of every account emailed once, by version 1; 14 by neither
    assert again == Counter(_people(MOVED))  # the moved accounts' contacts, once each, by version 2
    # those finishing on version 1 got its text; of those moved, the account one of whose contacts opened
    assert texted == Counter(_people(FINISHING) + ACCOUNTS[1])
    assert not set(_people(LEFT)) & (set(again) | set(texted))  # those who left got nothing more
    old_sent, new_sent = _sent(tmp_path / "n.run" / "runner.db"), _sent(tmp_path / "n1.run" / "runner.db")
    assert sorted(c for c, s in old_sent if s == "text") == _people(FINISHING)
    assert new_sent == sorted([(c, "again") for c in _people(MOVED)] + [(c, "text") for c in ACCOUNTS[1]])

    # the ledger: a row per unit of N the plan moves or makes leave, an account's listing its contacts, first first
    con = sqlite3.connect(tmp_path / "n1.run" / "runner.db")
    try:
        rows = {int(a): (json.loads(cs), step, status, zone) for a, cs, step, status, zone in con.execute(
            "SELECT account, contacts, from_step, status, timezone FROM in_flight_moves WHERE account >= 0")}
        alone = con.execute("SELECT count(*) FROM in_flight_moves WHERE account < 0").fetchone()[0]
        taken = sorted(c for (c,) in con.execute("SELECT contact_id FROM in_flight_taken"))
    finally:
        con.close()
    assert rows == {1: ([1, 2, 3], "pause", "moved", ZONES[1]), 5: ([6, 7], "pause", "moved", ZONES[6 % 4]),
                    2: ([4, 5], "hold", "left", ZONES[4 % 4])}
    assert alone == 0
    assert taken == everyone  # every contact version 1 enrolled
    ledger = ledger_counts(tmp_path / "n1.run" / "runner.db")
    assert ledger["contacts"] == {"moved": 5, "left": 2} and ledger["accounts"] == {"moved": 2, "left": 1}
    assert ledger["steps"] == {"pause": {"move again: moved": 5}, "hold": {"leave: left": 2}}

    # version 2 runs each moved account as one workflow: all its contacts, its account, the time zone it had
    async def started_with(workflow_id: str) -> dict[str, Any]:
        client = await connect(dev_server.address)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        return dict(json.loads(payload.data))
    key = from_package(tmp_path / "n1.jpkg").key
    moved_1 = asyncio.run(started_with(f"journey:{key}:account:1:it:0"))
    assert (moved_1["contact"], moved_1["members"], moved_1["account"], moved_1["timezone"],
            moved_1["start_step"]) == (1, [2, 3], 1, ZONES[1], "again")
    moved_5 = asyncio.run(started_with(f"journey:{key}:account:5:it:0"))
    assert (moved_5["contact"], moved_5["members"], moved_5["timezone"]) == (6, [7], ZONES[2])

    # the milestone counts contacts and accounts; status of both runs says what happened to whom
    with ProjectFile.open(db) as pf:
        flights = [d for k, _, d in pf.milestones("Accounts") if k == "in-flight"]
    assert flights[-1] == ("the run of version 2 took over the run of version 1: 2 left (1 account), 5 moved "
                           f"(2 accounts) ({tmp_path / 'n.run'})")
    outcomes_n = done["n"].counts["outcomes"]
    assert outcomes_n["stopped"] == 7 and outcomes_n["completed"] == 3  # in contacts
    new = done["n1"].counts
    assert new["enrolled"] == 5 and new["outcomes"]["completed"] == 5
    rows_n1 = {row["step"]: row for row in new["steps"]}
    assert (rows_n1["again"]["sent"], rows_n1["opened"]["yes"], rows_n1["opened"]["no"], rows_n1["text"]["sent"]) \
        == (5, 3, 2, 3)
    mark = replaced_by(tmp_path / "n.run" / "runner.db")
    assert mark is not None and mark["version"] == 2
    old_counts = asyncio.run(read_counts(from_package(pkg_n), tmp_path / "n.run", dev_server.address))
    assert old_counts["replaced_by"] == mark and old_counts["outcomes"]["stopped"] == 7

    # a crash before the rows were settled: version 2 run again redoes them; nothing is sent twice
    ran_again_after_a_crash(tmp_path, go, settings, errors, db, "Accounts", ledger, new_sent, flights)
    counts = asyncio.run(read_counts(from_package(tmp_path / "n1.jpkg"), tmp_path / "n1.run", dev_server.address))
    assert counts["in_flight"] == ledger
    assert "Contacts in flight on the previous version: 2 left (1 account), 5 moved (2 accounts)" \
        in format_counts(counts)


# --- the window at the hand-over ------------------------------------------------------------------------------

def test_the_hand_over_waits_for_a_page_the_old_run_began_before_its_mark(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """N's enrolment admits each page in one transaction with the take-over's mark (migrate_flight.admit_page): a page
    begun before the mark is waited for until it has recorded whom it started, so the contacts N+1 finds taken at
    the hand-over are all of them (no page of N starts someone N+1 then enrols too); a page begun after starts
    nobody; a page that cannot finish holds the hand-over a bounded time, then the run says why in one line."""
    from app.runner.migrate_flight import admit_page, hand_over, replaced_by
    from app.runner.runnable import RunnerError, from_package, register
    from app.runner.state import StateDb
    from tests.test_runner_journeys import _journey, _project
    from tests.test_versions_in_flight_more import _enrol_once
    db, pkg = _project(tmp_path, _journey("one-time", "2026-12-10T09:00", "1d"), [1, 2, 3, 5, 8])
    r = from_package(pkg)
    register(r)
    old_db, new_db = tmp_path / "n.jpkg.run" / "runner.db", tmp_path / "n1.jpkg.run" / "runner.db"
    StateDb(old_db).close()
    new_db.parent.mkdir()
    page = f"{r.key}:0:{r.plan.start}:0"  # N's first page of iteration 0, as its enrolment names it
    assert admit_page(old_db, page)  # it begins before the mark...
    waits: list[float] = []

    def meanwhile(seconds: float) -> None:  # ... and N's worker goes on with it while the hand-over waits
        waits.append(seconds)
        if len(waits) == 1:
            assert replaced_by(old_db) is not None  # the mark is down: a page begun now starts nobody
            assert not admit_page(old_db, f"{r.key}:0:{r.plan.start}:8")
            assert len(_enrol_once(db, old_db, r)) == 5  # the page admitted before (again, after a failure) goes on
    hand_over(old_db, new_db, r.key, "j:v2", 2, pause=meanwhile)
    assert len(waits) == 1
    con = sqlite3.connect(new_db)
    try:  # recorded at the hand-over itself: N+1's enrolment never looks while N has them started, unrecorded
        assert sorted(c for (c,) in con.execute("SELECT contact_id FROM in_flight_taken")) == [1, 2, 3, 5, 8]
    finally:
        con.close()
    assert _enrol_once(db, old_db, r) == []  # that page again, now done: nobody

    stuck_old, stuck_new = tmp_path / "stuck" / "runner.db", tmp_path / "stuck1" / "runner.db"
    StateDb(stuck_old).close()
    stuck_new.parent.mkdir()
    assert admit_page(stuck_old, page)  # N's worker went away in the middle of a page
    pauses: list[float] = []
    monkeypatch.setattr("app.runner.migrate_flight.PAGE_SECONDS", 2.0)  # 300 s: ten looks here
    with pytest.raises(RunnerError) as e:
        hand_over(stuck_old, stuck_new, r.key, "j:v2", 2, pause=pauses.append)
    assert str(e.value) == (f"the run of the previous version has been enrolling a page for 2 s ({page}): its "
                            "runner must be running to finish it; start this run again then")
    assert pauses == [0.2] * 10
    assert replaced_by(stuck_old) is not None and not stuck_new.exists()  # nothing taken yet: all again next time
