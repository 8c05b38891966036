"""How the runner enrols: ongoing journeys take new members as they join, repeating journeys run each iteration
on schedule, the schedule's end stops everybody, and a contact is enrolled once however often enrolment runs.

Small rehearsals on loopback (a local Temporal dev server, SMTP and SMS sinks, SQLite contacts).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.audience import members as m
from app.runner.activities import Activities
from app.runner.calls import EnrolPage, contact_workflow_id
from app.runner.channels import Tokens
from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, connect, free_port
from app.runner.runnable import from_package, register
from app.runner.state import StateDb
from app.runner.worker import RunSettings, run_journey
from app.store import ProjectFile
from tests.runner_helpers import (SmsSink, SmtpSink, contact_of, contacts_project, dev_server, needs_temporal,
                                  package_of)

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)

SIMPLE = """\
format: journey/1
name: Simple
target: contacts
audience: {segments: [Chosen]}
frequency: FREQUENCY
schedule: {start: 2026-12-01T09:00, end: END, timezone: Europe/Paris}
steps:
  hello: {type: email, content: Hello email, next: pause}
  pause: {type: wait, duration: WAIT, next: text}
  text: {type: sms, content: Hello text}
content:
  Hello email: {kind: email, status: ready, subject: "Hello {{first_name}}", sender: a@example.com, body: Hi}
  Hello text: {kind: sms, status: ready, text: Hi}
segments:
  Chosen: {entity: contacts, kind: static}
"""


def _journey(frequency: str, end: str, wait: str) -> str:
    return SIMPLE.replace("FREQUENCY", frequency).replace("END", end).replace("WAIT", wait)


def _wait_for(what: str, ok: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.02)


class Sinks:
    def __init__(self) -> None:
        self.smtp, self.sms = SmtpSink().start(), SmsSink().start()

    def settings(self, tmp: Path, db: Path, server: DevServer, scale: float, **kw: Any) -> RunSettings:
        return RunSettings(contacts_db=str(db), state_dir=tmp / "state", temporal=server.address,
                           smtp=("127.0.0.1", self.smtp.port), sms_url=self.sms.url, time_scale=scale,
                           send_timeout=10, **kw)

    def emailed(self) -> Counter[int]:
        return Counter(contact_of(x) for x in self.smtp.snapshot())

    def texted(self) -> Counter[int]:
        return Counter(contact_of(x) for x in self.sms.snapshot())

    def close(self) -> None:
        self.smtp.stop()
        self.sms.stop()


def _project(tmp: Path, text: str, chosen: list[int], n: int = 12) -> tuple[Path, Path]:
    db = tmp / "contacts.jstudio"
    contacts_project(db, n, text, no_email=False)
    with ProjectFile.open(db) as pf:
        m.add_members(pf, "Chosen", chosen)
    return db, package_of(db, tmp / "simple.jpkg", "Simple")


def test_ongoing_journey_enrols_members_as_they_join(tmp_path: Path, dev_server: DevServer) -> None:
    db, pkg = _project(tmp_path, _journey("ongoing", "2026-12-05T09:00", "1d"), [1, 2, 3, 4, 5])
    r = from_package(pkg)
    sinks = Sinks()
    port = free_port()
    # a day lasts a second; the audience is looked at every 3 simulated hours
    settings = sinks.settings(tmp_path, db, dev_server, 86_400.0, poll=3 * 3600, listen=("127.0.0.1", port))
    settings.public_status = True  # the designer's live view reads /status without the secret
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(summary=asyncio.run(run_journey(r, settings))))
    runner.start()
    try:
        _wait_for("the first members' email", lambda: set(sinks.emailed()) == {1, 2, 3, 4, 5})
        with ProjectFile.open(db) as pf:  # two contacts join the segment while the journey runs
            m.add_members(pf, "Chosen", [6, 7])
        _wait_for("the new members' email", lambda: set(sinks.emailed()) == {1, 2, 3, 4, 5, 6, 7})
        # the designer's view of a running journey: live counts from the runner's endpoint
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as resp:
            live = json.loads(resp.read())
        assert live["enrolled"] == 7 and live["steps"][0]["step"] == "hello"
        runner.join(60)
        assert not runner.is_alive()
    finally:
        sinks.close()
    counts = result["summary"].counts
    assert sinks.emailed() == Counter(range(1, 8)) and sinks.texted() == Counter(range(1, 8))
    assert counts["enrolled"] == 7 and counts["outcomes"]["completed"] == 7


def test_repeating_journey_runs_each_iteration_and_the_end_stops_it(tmp_path: Path, dev_server: DevServer) -> None:
    # three daily iterations; the text is due two days after the email, so each iteration's end (the next
    # iteration's start) stops the contacts before it: one email per iteration each, never a text
    frequency = "{type: repeating, interval: 1d, count: 3}"
    db, pkg = _project(tmp_path, _journey(frequency, "2026-12-10T09:00", "2d"), [2, 4, 6])
    r = from_package(pkg)
    sinks = Sinks()
    try:
        summary = asyncio.run(run_journey(r, sinks.settings(tmp_path, db, dev_server, 43_200.0)))
    finally:
        sinks.close()
    assert sinks.emailed() == Counter({2: 3, 4: 3, 6: 3}) and sinks.texted() == Counter()
    assert len({x.message_id for x in sinks.smtp.snapshot()}) == 9
    counts = summary.counts
    assert counts["enrolled"] == 9 and counts["outcomes"]["stopped"] == 9
    pause = next(row for row in counts["steps"] if row["step"] == "pause")
    assert pause["entered"] == 9 and pause["waiting"] == 0


def test_schedule_end_stops_everyone_before_the_next_message(tmp_path: Path, dev_server: DevServer) -> None:
    db, pkg = _project(tmp_path, _journey("one-time", "2026-12-02T09:00", "3d"), [1, 3])
    r = from_package(pkg)
    sinks = Sinks()
    try:
        summary = asyncio.run(run_journey(r, sinks.settings(tmp_path, db, dev_server, 86_400.0)))
    finally:
        sinks.close()
    assert sinks.emailed() == Counter({1: 1, 3: 1}) and sinks.texted() == Counter()
    assert summary.counts["outcomes"]["stopped"] == 2


async def _enrolment(tmp_path: Path, db: Path, r: Any, address: str, cohort: int | None = None
                     ) -> tuple[Any, ContactsDb, StateDb, Activities, EnrolPage]:
    """The enrolment activity on its own, and the first page of iteration 0 (in cohorts of `cohort` units)."""
    client = await connect(address)
    contacts, state = ContactsDb(str(db)), StateDb(tmp_path / "state" / "runner.db")
    acts = Activities(contacts, state, Tokens("s"), "http://127.0.0.1:9", client=client)
    page = EnrolPage(r.key, r.digest, 0, r.plan.start, r.plan.start, 0, 100, [time.time(), r.plan.start, 1.0],
                     0, 10.0, **({} if cohort is None else {"cohort": cohort}))
    return client, contacts, state, acts, page


def _forget_enrolments(state: StateDb) -> None:
    """Delete the run's records of whom it enrolled."""
    with state.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM enrolments")


def test_enrolment_run_twice_enrols_each_contact_once(tmp_path: Path, dev_server: DevServer) -> None:
    """The enrolment activity on its own, run again: with its records, and without them (Temporal refuses
    the duplicate workflow ids)."""
    db, pkg = _project(tmp_path, _journey("one-time", "2026-12-10T09:00", "1d"), [1, 2, 3, 5, 8])
    r = from_package(pkg)
    register(r)

    async def go() -> list[int]:
        client, contacts, state, acts, page = await _enrolment(tmp_path, db, r, dev_server.address)
        started = [(await acts.enrol_page(page)).started, (await acts.enrol_page(page)).started]
        _forget_enrolments(state)  # Temporal still knows the workflow ids
        started.append((await acts.enrol_page(page)).started)
        assert state.enrolment_count(r.key) == 5  # recorded again
        for c in (1, 2, 3, 5, 8):  # one workflow each (a second start of an id is refused by Temporal)
            desc = await client.get_workflow_handle(contact_workflow_id(r.key, c, 0)).describe()
            assert desc.id == contact_workflow_id(r.key, c, 0)
        contacts.close()
        state.close()
        return started

    assert asyncio.run(go()) == [5, 0, 0]


def test_enrolment_in_cohorts_run_twice_starts_each_cohort_once(tmp_path: Path, dev_server: DevServer) -> None:
    """The enrolment activity with cohorts (two units each), run again, with and without its records: the same
    cohorts (their ids follow their units), each started once; the enrolments name each contact's cohort."""
    db, pkg = _project(tmp_path, _journey("one-time", "2026-12-10T09:00", "1d"), [1, 2, 3, 5, 8])
    r = from_package(pkg)
    register(r)

    async def go() -> list[int]:
        client, contacts, state, acts, page = await _enrolment(tmp_path, db, r, dev_server.address, cohort=2)
        started = [(await acts.enrol_page(page)).started, (await acts.enrol_page(page)).started]
        units = [contact_workflow_id(r.key, c, 0) for c in (1, 2, 3, 5, 8)]
        hosts = state.hosts(units)
        _forget_enrolments(state)  # Temporal still knows the cohorts' ids
        started.append((await acts.enrol_page(page)).started)
        assert state.hosts(units) == hosts and len(set(hosts.values())) == 3 and set(hosts) == set(units)
        assert state.workflow_count(r.key) == 3 and sorted(set(state.iteration_workflows(r.key, 0))) == \
            sorted(set(hosts.values()))
        for cohort in set(hosts.values()):
            assert (await client.get_workflow_handle(cohort).describe()).id == cohort
        contacts.close()
        state.close()
        return started

    assert asyncio.run(go()) == [5, 0, 0]


def test_an_exit_on_joining_a_segment_stops_contacts_who_join_it_mid_journey(tmp_path: Path,
                                                                             dev_server: DevServer) -> None:
    """The runner looks at the segments of exit conditions every `poll` simulated seconds: contacts put on the
    Stop list during the 2-day wait leave (exited) and get no text; the others complete."""
    text = _journey("one-time", "2026-12-10T09:00", "2d").replace(
        "steps:", "exit_when: [{segment: Stop, when: joins}]\nsteps:").replace(
        "  Chosen: {entity: contacts, kind: static}", "  Chosen: {entity: contacts, kind: static}\n"
        "  Stop: {entity: contacts, kind: static}")
    db, pkg = _project(tmp_path, text, [1, 2, 3, 4, 5])
    r = from_package(pkg)
    sinks = Sinks()
    settings = sinks.settings(tmp_path, db, dev_server, 86_400.0, poll=3 * 3600)  # a day a second
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(summary=asyncio.run(run_journey(r, settings))))
    runner.start()
    try:
        _wait_for("the emails", lambda: set(sinks.emailed()) == {1, 2, 3, 4, 5})
        with ProjectFile.open(db) as pf:  # two contacts are put on the Stop list during the wait
            m.add_members(pf, "Stop", [2, 3])
        runner.join(90)
        assert not runner.is_alive()
    finally:
        sinks.close()
    counts = result["summary"].counts
    assert sinks.texted() == Counter([1, 4, 5])
    assert counts["outcomes"]["exited"] == 2 and counts["outcomes"]["completed"] == 3
