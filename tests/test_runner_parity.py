"""Parity, proven: the live runner and the simulator's reference interpreter, driven by the same contacts and the
same scripted events, take every contact down the same path, with the same outcomes, at the same seconds.

The runner runs on the local Temporal dev server as a rehearsal (app/runner/rehearsal.py): logical time (each
move at the moment the journey gives it) and a script of what each contact does, generated at random here (opens,
clicks on named links, hard bounces, unsubscribes, purchases). The reference side drives
app/semantics/reference.py one contact at a time with the same script and the same facts (the contacts database,
read as the runner's activities read it).

The journeys cover:

- MIX: a random split with a holdout; an email and an if/then on its open within a day (from delivery); a task;
  an if/then on an attribute; a text message; a wait for a duration; exit on purchase, goal purchase.
- CAPPED: messages under quiet hours (contacts in several time zones, a start in the evening) and the frequency
  cap (three emails, at most two a week), an SMS after an email (consent per channel), a hard bounce.
- LINKS: an if/then on a named link (two links in the email), a wait until a date, a goal on joining a segment.
- ENDING: an end date that stops contacts mid-wait.
- REPEATING: a repeating journey (3 iterations a week apart) with a wait and the frequency cap across iterations.
- ONGOING: an ongoing journey (its members at the start).
- ACCOUNTS: a journey that targets accounts (seed 003): the contacts of an account enter together and take one
  path (a split drawn per account, an if/then on a named link clicked by any of them, an if/then on an attribute
  any of them has), messages to each contact under quiet hours (the account's first contact's time zone) and
  the frequency cap, a task created once per account; the audience a segment of accounts (the accounts of
  valuable contacts) less one of small accounts (by the account's own field), entered with all their contacts.

Not covered: ongoing members who join later (live, enrolment looks every `poll`; the simulator enters them at
the moment they join).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from app.runner.calls import contact_workflow_id
from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, connect
from app.runner.rehearsal import parse_script
from app.runner.runnable import Runnable, from_package
from app.runner.state import StateDb
from app.runner.status import step_counts
from app.runner.worker import RunSettings, run_journey
from app.semantics.plan import Kind
from app.semantics.reference import ContactState
from app.store import ProjectFile
from app.store import schema as t
from tests.runner_helpers import (DbFacts, SmsSink, SmtpSink, contacts_project, dev_server, needs_temporal,
                                  package_of, reference_unit, unit_result)

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)
SCALE = 5_000_000.0  # logical time: the scale only says how soon real time passes the moments waited for
HOUR, DAY = 3600, 86_400

CONTENT = """\
content:
  Hello email: {kind: email, status: ready, subject: "Hello {{first_name}}", sender: a@example.com,
                body: "Hi, see [more] or [shop]", links: [more, shop]}
  Bye email: {kind: email, status: ready, subject: Bye, sender: a@example.com, body: "Bye [shop]", links: [shop]}
  Offer text: {kind: sms, status: ready, text: "Offer for {{first_name}}"}
segments:
  Valuable:
    entity: contacts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 275}]}}]}
  Unsubscribed: {entity: contacts, kind: subscription}
  Fans: {entity: contacts, kind: static}
  Valuable accounts:
    entity: accounts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 1016}]}}]}
  Small accounts:
    entity: accounts
    kind: dynamic
    query: {blocks: [{root: account, where: {all: [{attribute: size, op: less_than, value: 20}]}}]}
"""
HEAD = """\
format: journey/1
name: NAME
target: contacts
audience: {segments: [Valuable], suppress: Unsubscribed}
"""
JOURNEYS = {
    "MIX": HEAD + """\
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-31T00:00, timezone: Europe/Paris}
goal: {event: purchase}
exit_when: [{event: purchase}]
steps:
  split: {type: random-split, split: [50, 40], holdout: 10, A: hello, B: gold}
  hello: {type: email, content: Hello email, next: opened}
  opened: {type: if-then, wait_for: {event: opened, step: hello}, within: 1d, yes: call, no: end}
  call: {type: task, subject: "Call {{first_name}}", owner: sales, next: end}
  gold: {type: if-then, condition: {attribute: lifetime_value, op: greater_than, value: 1015}, yes: text, no: end}
  text: {type: sms, content: Offer text, next: later}
  later: {type: wait, duration: 1d, next: bye}
  bye: {type: email, content: Bye email}
""",
    "CAPPED": HEAD + """\
frequency: one-time
frequency_cap: {messages: 2, per: 7d}
schedule: {start: 2026-12-01T20:30, end: 2027-01-31T00:00, timezone: Europe/Paris,
           quiet_hours: {start: '21:00', end: '08:00'}}
goal: {event: purchase, within: 10d}
steps:
  hello: {type: email, content: Hello email, next: text}
  text: {type: sms, content: Offer text, next: w1}
  w1: {type: wait, duration: 13h, next: bye}
  bye: {type: email, content: Bye email, next: w2}
  w2: {type: wait, duration: 2d, next: again}
  again: {type: email, content: Bye email, next: text2}
  text2: {type: sms, content: Offer text}
""",
    "LINKS": HEAD + """\
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-31T00:00, timezone: Europe/Paris}
goal: {segment: Fans, when: joins, within: 2d}
steps:
  hello: {type: email, content: Hello email, next: shop}
  shop: {type: if-then, wait_for: {event: link_clicked, step: hello, link: shop}, within: 2d, yes: launch, no: any}
  any: {type: if-then, wait_for: {event: link_clicked, step: hello}, within: 1d, yes: text, no: end}
  launch: {type: wait, until: 2026-12-04T12:00, next: text}
  text: {type: sms, content: Offer text}
""",
    "ENDING": HEAD + """\
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2026-12-03T09:00, timezone: Europe/Paris}
exit_when: [{event: purchase}]
steps:
  hello: {type: email, content: Hello email, next: w}
  w: {type: wait, duration: 3d, next: bye}
  bye: {type: email, content: Bye email}
""",
    "REPEATING": HEAD + """\
frequency: {type: repeating, interval: 7d, count: 3}
frequency_cap: {messages: 2, per: 10d}
schedule: {start: 2026-12-01T09:00, end: 2026-12-22T09:00, timezone: Europe/Paris}
steps:
  hello: {type: email, content: Hello email, next: w}
  w: {type: wait, duration: 2d, next: text}
  text: {type: sms, content: Offer text}
""",
    "ONGOING": HEAD + """\
frequency: ongoing
schedule: {start: 2026-12-01T09:00, end: 2026-12-06T09:00, timezone: Europe/Paris}
exit_when: [{event: purchase}]
steps:
  hello: {type: email, content: Hello email, next: opened}
  opened: {type: if-then, wait_for: {event: opened, step: hello}, within: 12h, yes: text, no: end}
  text: {type: sms, content: Offer text}
""",
}
JOURNEYS["ACCOUNTS"] = """\
format: journey/1
name: NAME
target: accounts
audience: {segments: [Valuable accounts], exclude: [Small accounts]}
frequency: one-time
frequency_cap: {messages: 2, per: 7d}
schedule: {start: 2026-12-01T20:30, end: 2027-01-31T00:00, timezone: Europe/Paris,
           quiet_hours: {start: '21:00', end: '08:00'}}
goal: {event: purchase, within: 10d}
exit_when: [{event: purchase}]
steps:
  split: {type: random-split, split: [60, 30], holdout: 10, A: hello, B: gold}
  hello: {type: email, content: Hello email, next: shop}
  shop: {type: if-then, wait_for: {event: link_clicked, step: hello, link: shop}, within: 1d, yes: call, no: text}
  call: {type: task, subject: "Call {{first_name}}", owner: sales, next: end}
  gold: {type: if-then, condition: {attribute: lifetime_value, op: greater_than, value: 1021}, yes: text, no: end}
  text: {type: sms, content: Offer text, next: later}
  later: {type: wait, duration: 1d, next: bye}
  bye: {type: email, content: Bye email}
"""
ACCOUNTS = 12  # contacts i with i % 4 != 3 work for account 1 + i % ACCOUNTS; the others for none
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Europe/London")


def _script(r: Runnable, contacts: list[int], seed: int) -> dict[str, Any]:
    """What each contact does, at random: after each message it may open, click a link, hard-bounce or
    unsubscribe; at random moments it may buy."""
    rnd = random.Random(seed)
    messages = [s for s in r.plan.steps if s.kind == Kind.MESSAGE]
    out: dict[str, Any] = {}
    for c in contacts:
        items: list[dict[str, Any]] = []
        for s in messages:
            roll = rnd.random()
            if roll < 0.08:
                items.append({"after": s.id, "delay": 0, "event": "hard_bounced"})
                continue
            if roll < 0.13:
                items.append({"after": s.id, "delay": rnd.randrange(60, 6 * HOUR), "event": "unsubscribed"})
            if rnd.random() < 0.6:
                opened = rnd.randrange(60, 30 * HOUR)
                items.append({"after": s.id, "delay": opened, "event": "opened"})
                if rnd.random() < 0.5:
                    link = rnd.choice(s.links or ("more",))
                    items.append({"after": s.id, "delay": opened + rnd.randrange(1, 3 * HOUR), "event": "clicked",
                                  "link": link})
            if rnd.random() < 0.15:
                items.append({"after": s.id, "delay": rnd.randrange(60, 2 * DAY), "event": "purchase"})
        if rnd.random() < 0.2:
            items.append({"at": rnd.randrange(0, 5 * DAY), "event": "purchase"})
        out[str(c)] = items
    return {"format": "rehearsal-script/1", "contacts": out}


def _project(tmp: Path, name: str, n: int) -> tuple[Path, Runnable, list[int]]:
    text = JOURNEYS[name].replace("NAME", name.title()) + CONTENT
    db = tmp / "contacts.jstudio"
    pop = contacts_project(db, n, text, no_email=False)
    with ProjectFile.open(db) as pf:
        with pf.connection(write=True) as conn:
            for i in pop.ids:
                conn.execute(update(t.contacts).where(t.contacts.c.id == i).values(time_zone=ZONES[i % len(ZONES)]))
        if name == "ACCOUNTS":
            accounts = [{"id": a, "name": f"Account {a}", "size": 10 * a} for a in range(1, ACCOUNTS + 1)]
            with pf.connection(write=True) as conn:
                conn.execute(insert(t.accounts), accounts)
                for i in pop.ids:
                    if i % 4 != 3:
                        conn.execute(update(t.contacts).where(t.contacts.c.id == i).values(account_id=1 + i % ACCOUNTS))
        if name == "LINKS":
            from app.audience import members as m
            m.add_members(pf, "Fans", [i for i in pop.ids if i % 3 == 0])
    r = from_package(package_of(db, tmp / "j.jpkg", name.title()))
    if not r.plan.accounts:
        return db, r, pop.audience
    contacts = ContactsDb(str(db))  # the contacts of the accounts in the audience
    try:
        return db, r, [c for c, _, _ in contacts.audience_page(r, r.plan.start, 0, 10 * n)]
    finally:
        contacts.close()


def units(db: Path, r: Runnable, audience: list[int]) -> list[tuple[list[int], int]]:
    """The journey's units: each contact, or (targeting accounts) the audience's contacts of each account."""
    if not r.plan.accounts:
        return [([c], -1) for c in audience]
    contacts = ContactsDb(str(db))
    try:
        account = {c: contacts.contact(c).get("account_id") for c in audience}  # type: ignore[union-attr]
    finally:
        contacts.close()
    groups: dict[int, list[int]] = {}
    out = []
    for c in sorted(audience):
        if account[c] is None:
            out.append(([c], -1))
        else:
            groups.setdefault(int(account[c]), []).append(c)
    return out + [(members, a) for a, members in sorted(groups.items())]


async def _runner_results(r: Runnable, settings: RunSettings,
                          audience: list[int]) -> tuple[dict[tuple[int, int], Any], dict[str, Any]]:
    await run_journey(r, settings)
    client = await connect(settings.temporal or "")
    counts = await step_counts(client, r)
    state = StateDb(Path(settings.state_dir) / "runner.db")
    out = {}
    try:
        for k in range(len(r.plan.iterations)):
            for c in audience:
                wid = state.workflow_of(r.key, k, c) if r.plan.accounts else contact_workflow_id(r.key, c, k)
                assert wid is not None, f"contact {c} did not enter iteration {k}"
                result = await unit_result(client, state, wid)
                out[(c, k)] = {"visits": result["paths"][str(c)], "goal_at": result.get("goal_at")}
    finally:
        state.close()
    return out, counts


@pytest.mark.parametrize("name", sorted(JOURNEYS))
def test_runner_and_reference_agree_contact_by_contact_to_the_second(name: str, tmp_path: Path,
                                                                      dev_server: DevServer) -> None:
    db, r, audience = _project(tmp_path, name, 30)
    doc = _script(r, audience, seed=sorted(JOURNEYS).index(name))
    script = parse_script(doc, r)
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        settings = RunSettings(contacts_db=str(db), state_dir=tmp_path / "state", temporal=dev_server.address,
                               smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=SCALE, send_timeout=10,
                               script=script)
        live, counts = asyncio.run(_runner_results(r, settings, audience))
    finally:
        smtp.stop()
        sms.stop()
    contacts = ContactsDb(str(db))
    try:
        facts = DbFacts(contacts, r)
        expected: dict[tuple[int, int], Any] = {}
        people = {c: ContactState(c) for c in audience}
        for k, (begin, _) in enumerate(r.plan.iterations):
            for members, account in units(db, r, audience):
                found = reference_unit(r, facts, [people[c] for c in members], {c: script.get(c, []) for c in members},
                                       k, max(begin, r.plan.start), account=account)
                expected.update({(c, k): v for c, v in found.items()})
        tasks = contacts.tasks(r.plan.journey_id)
    finally:
        contacts.close()
    for key in sorted(expected):
        assert live[key] == expected[key], f"{name}: contact {key[0]}, iteration {key[1]}"
    # the status counts contacts (an account's workflow counts each of its contacts)
    assert counts["enrolled"] == len(expected) and counts["running"] == 0
    for row in counts["steps"]:
        took = [{(v[0], v[3]) for v in e["visits"]} for e in expected.values()]
        assert row["entered"] == sum(any(s == row["step"] for s, _ in t) for t in took), row
        for outcome in ("sent", "suppressed", "capped", "yes", "no", "done", "shared"):
            if outcome in row:
                assert row[outcome] == sum((row["step"], outcome) in t for t in took), (row, outcome)
    # an action is carried out once for each contact it was done for ('done'; 'shared' in an account: once per account)
    done = sum(v[3] == "done" for e in expected.values() for v in e["visits"])
    assert len(tasks) == done
    if r.plan.accounts:
        assert any(v[3] == "shared" for e in expected.values() for v in e["visits"])
        assert any(len(m) > 1 for m, _ in units(db, r, audience))
    # the journeys were exercised: several different paths, and outcomes beyond 'sent'
    paths = {tuple((v[0], v[3]) for v in e["visits"]) for e in expected.values()}
    assert len(paths) >= 3, paths
