"""The live runner decides an A/B split's winner once, from its own counts, keeps it, and sends later arrivals
down it; `status` says so; the reference interpreter with the same decision takes every contact down the same
path at the same seconds (parity).

A rehearsal on loopback (a local Temporal dev server, SMTP and SMS sinks, SQLite contacts): a journey repeating
every two days, an A/B test of two emails by opens over its first day; in the script everyone opens email B an
hour after it is sent and nobody opens A, so B wins and the second repetition's contacts all take it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.runner.ab_activities import ABActivities
from app.runner.ab_live import arrivals, decisions, setting
from app.runner.calls import contact_workflow_id
from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, connect
from app.runner.rehearsal import parse_script
from app.runner.runnable import Runnable, from_package
from app.runner.state import StateDb
from app.runner.status import format_counts, read_counts
from app.runner.worker import RunSettings, run_journey
from app.semantics.plan import with_route
from app.semantics.reference import ContactState
from tests.runner_helpers import (DbFacts, SmsSink, SmtpSink, contacts_project, dev_server, needs_temporal,
                                  package_of, reference_unit, unit_result)

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)
SCALE = 40_000.0  # two simulated days in about four seconds: the first repetition's sends are in before the second
HOUR, DAY = 3600, 86_400

JOURNEY = """\
format: journey/1
name: Subject test
target: contacts
audience: {segments: [Valuable]}
frequency: {type: repeating, interval: 2d, count: 2}
schedule: {start: 2027-02-01T09:00, end: 2027-02-05T09:00, timezone: Europe/Paris}
steps:
  ab: {type: ab-split, split: [50, 50], winner_metric: opened, test_period: 1d, min_sample: 5, A: mail_a, B: mail_b}
  mail_a: {type: email, content: Hello email}
  mail_b: {type: email, content: Bye email}
content:
  Hello email: {kind: email, status: ready, subject: Hello, sender: a@example.com, body: Hi}
  Bye email: {kind: email, status: ready, subject: Bye, sender: a@example.com, body: Bye}
segments:
  Valuable:
    entity: contacts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 275}]}}]}
"""


async def _run(r: Runnable, settings: RunSettings, audience: list[int]) -> dict[tuple[int, int], Any]:
    await run_journey(r, settings)
    client = await connect(settings.temporal or "")
    state = StateDb(Path(settings.state_dir) / "runner.db")
    out = {}
    try:
        for k in range(len(r.plan.iterations)):
            for c in audience:
                result = await unit_result(client, state, contact_workflow_id(r.key, c, k))
                out[(c, k)] = result["paths"][str(c)]
    finally:
        state.close()
    return out


class _Routed:
    """The runnable with the decision in its plan, for the reference side."""

    def __init__(self, r: Runnable, route: int) -> None:
        self.plan = with_route(r.plan, r.plan.entry, route)


def test_the_runner_decides_once_keeps_it_and_sends_later_arrivals_down_the_winner(tmp_path: Path,
                                                                                     dev_server: DevServer) -> None:
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 40, JOURNEY, no_email=False)
    r = from_package(package_of(db, tmp_path / "j.jpkg", "Subject test"))
    audience = pop.audience
    script = parse_script({"format": "rehearsal-script/1", "contacts": {
        str(c): [{"after": "mail_b", "delay": HOUR, "event": "opened"}] for c in audience}}, r)
    smtp, sms = SmtpSink().start(), SmsSink().start()
    state_dir = tmp_path / "state"
    try:
        settings = RunSettings(contacts_db=str(db), state_dir=state_dir, temporal=dev_server.address,
                               smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=SCALE, send_timeout=10,
                               script=script)
        live = asyncio.run(_run(r, settings, audience))
        counts = asyncio.run(read_counts(r, state_dir, dev_server.address))
    finally:
        smtp.stop()
        sms.stop()
    first = {c: v[0][3] for (c, k), v in live.items() if k == 0}
    on_b = sum(p == "path B" for p in first.values())
    assert 5 <= on_b <= len(audience) - 5  # both paths had their minimum sample in the test period
    # the decision, kept in the runner's state: the test period's counts (B's contacts all opened), the winner
    state = StateDb(state_dir / "runner.db")
    try:
        kept = state.get(setting(r.key, "ab"))
        assert kept["winner"] == "B" and kept["route"] == "B" and kept["decided_at"] == "2027-02-02T08:00:00Z"
        assert [(p["contacts"], p["did"]) for p in kept["paths"]] == [(len(audience) - on_b, 0), (on_b, on_b)]
        assert kept["p_value"] < 0.05 and "path B won" in kept["reason"]
        assert len(arrivals(state_dir / "runner.db", r.key, "ab", r.plan.start + 2 * DAY)) == len(audience)
        # asked again (a restarted runner, another unit), the kept decision stands, whatever the counts say now
        with state.engine.begin() as conn:
            from sqlalchemy import text
            conn.execute(text("DELETE FROM ab_arrivals"))
        assert ABActivities(state).ab_decide(r.key, r.digest, "ab") == kept
    finally:
        state.close()
    # later arrivals (the second repetition, after the test period) all took the winner
    assert all(v[0][3] == "path B" for (c, k), v in live.items() if k == 1)
    # status says when and why
    [test] = counts["ab_tests"]
    assert test["decision"]["winner"] == "B"
    line = next(x for x in format_counts(counts) if x.startswith("A/B test"))
    print(line)
    assert "decided for 2027-02-02T08:00:00Z by 'opened'" in line and "path B won" in line
    assert decisions(state_dir / "runner.db", r.plan, r.key)[0]["line"] == test["line"]
    # parity: the reference interpreter with the same decision, contact by contact, to the second
    contacts = ContactsDb(str(db))
    try:
        facts = DbFacts(contacts, r)
        routed = _Routed(r, 1)
        people = {c: ContactState(c) for c in audience}
        for k, (begin, _) in enumerate(r.plan.iterations):
            for c in audience:
                found = reference_unit(routed, facts, [people[c]], {c: script.get(c, [])}, k, max(begin, r.plan.start))
                assert live[(c, k)] == found[c]["visits"], (c, k)
    finally:
        contacts.close()
