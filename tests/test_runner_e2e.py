"""The live runner end to end on loopback: a Temporal dev server, an SMTP sink, an SMS sink, SQLite contacts.

The announcement journey runs as a rehearsal (time scale 43,200: a day lasts 2 seconds) while the test's
contacts click the tracked link of the email as soon as it arrives; every contact must get exactly the
messages its path implies, counted at the sinks. A second journey (split, attribute test, task, wait, exit on
a purchase) checks that the runner and the reference interpreter take the same paths, contact for contact,
for the same scripted events.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest

from app.runner.contacts import ContactsDb
from app.runner.devserver import DevServer, free_port
from app.runner.runnable import Runnable, from_package
from app.runner.worker import RunSettings, run_journey
from tests.runner_helpers import (DbFacts, People, SmsSink, SmtpSink, contact_of, contacts_project, dev_server,
                                  needs_temporal, package_of, reference_path)

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)  # used by name below
SCALE = 43_200.0  # one simulated day lasts two seconds


def _settings(tmp: Path, db: Path, server: DevServer, smtp: SmtpSink, sms: SmsSink, port: int) -> RunSettings:
    return RunSettings(contacts_db=str(db), state_dir=tmp / "state", temporal=server.address,
                       smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=SCALE, send_timeout=10,
                       listen=("127.0.0.1", port))


def test_announcement_sends_exactly_the_messages_each_path_implies(tmp_path: Path, dev_server: DevServer) -> None:
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 40)
    r = from_package(package_of(db, tmp_path / "announcement.jpkg"))
    clickers = {c for c in pop.emailed() if c % 3 == 0}
    people = People().start()
    smtp = SmtpSink(on_mail=lambda m: contact_of(m) in clickers and people.visit_now(f"click {contact_of(m)}",
                                                                                   m.links()[0])).start()
    sms = SmsSink().start()
    settings = _settings(tmp_path, db, dev_server, smtp, sms, free_port())
    try:
        summary = asyncio.run(run_journey(r, settings))
    finally:
        people.stop()
        smtp.stop()
        sms.stop()
    mails, texts = smtp.snapshot(), sms.snapshot()
    # exactly one announcement per contact who may get one, one text per contact who clicked
    assert Counter(contact_of(m) for m in mails) == Counter(pop.emailed())
    assert Counter(contact_of(s) for s in texts) == Counter(clickers)
    assert len({m.message_id for m in mails}) == len(mails)
    # what the messages say: personalised, with a tracked link and an open pixel
    first = next(m for m in mails if contact_of(m) == 1)
    assert first.subject == "Name1, meet the new X"
    assert first.links() and "/c/" in first.links()[0] and "[product-details]" not in first.text
    assert first.pixel() is not None and "/o/" in first.pixel()  # type: ignore[operator]
    assert {s["text"] for s in texts} == {f"X is here, Name{c}! Order today." for c in clickers}
    assert all(s["to"] == f"+3360000{s['contact']:04d}" and s["idempotency_key"] == s["key"] for s in texts)
    # the live counts agree with the population built for the test
    steps = {row["step"]: row for row in summary.counts["steps"]}
    not_emailed = len(pop.audience) - len(pop.emailed())
    assert summary.enrolled == len(pop.audience) == summary.counts["enrolled"]
    assert (steps["announce"]["entered"], steps["announce"]["sent"], steps["announce"]["suppressed"],
            steps["announce"]["no_address"]) == (len(pop.audience), len(pop.emailed()), len(pop.suppressed),
                                                 len(pop.no_email))
    assert not_emailed == len(pop.suppressed) + len(pop.no_email) and steps["announce"]["failed"] == 0
    assert (steps["clicked"]["yes"], steps["clicked"]["no"]) == (len(clickers), len(pop.audience) - len(clickers))
    assert (steps["launch"]["entered"], steps["launched"]["sent"]) == (len(clickers), len(clickers))
    assert summary.counts["outcomes"]["completed"] == len(pop.audience)
    assert summary.counts["running"] == 0 and summary.counts["failed"] == 0
    # what `calibrate --live` learns from: each contact's sends and the clicks on them, from the runner's state
    from app.runner.observed import read_observed
    obs = read_observed(Path(settings.state_dir))
    assert obs.journey == r.key and sorted(c for c, _ in obs.entries) == sorted(pop.audience)
    sent = Counter(c for (c, _), sends in obs.sends.items() for s in sends if s.step == "announce")
    assert sent == Counter(pop.emailed())
    assert {c for (c, _), sends in obs.sends.items() for s in sends if "clicked" in s.events} == clickers


MIX = """\
format: journey/1
name: Rehearsal mix
target: contacts
audience: {segments: [Valuable], suppress: Unsubscribed}
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-31T00:00, timezone: Europe/Paris}
goal: {event: purchase, within: 4d}
exit_when: [{event: purchase}]
steps:
  split: {type: random-split, split: [50, 40], holdout: 10, A: hello, B: gold}
  hello: {type: email, content: Hello email, next: opened}
  opened: {type: if-then, wait_for: {event: opened, step: hello}, within: 1d, yes: call, no: end}
  call: {type: task, subject: "Call {{first_name}}", owner: sales, next: end}
  gold:
    type: if-then
    condition: {attribute: lifetime_value, op: greater_than, value: 1015}
    yes: text
    no: end
  text: {type: sms, content: Offer text, next: later}
  later: {type: wait, duration: 1d, next: bye}
  bye: {type: email, content: Bye email}
content:
  Hello email: {kind: email, status: ready, subject: "Hello {{first_name}}", sender: a@example.com,
                body: "Hi, see [more]", links: [more]}
  Bye email: {kind: email, status: ready, subject: Bye, sender: a@example.com, body: "Bye [shop]", links: [shop]}
  Offer text: {kind: sms, status: ready, text: "Offer for {{first_name}}"}
segments:
  Valuable:
    entity: contacts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 275}]}}]}
  Unsubscribed: {entity: contacts, kind: subscription}
"""


def test_runner_takes_the_reference_interpreters_paths(tmp_path: Path, dev_server: DevServer) -> None:
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 36, MIX, no_email=False)  # the simulator knows no addresses: everyone has one
    r = from_package(package_of(db, tmp_path / "mix.jpkg", "Rehearsal mix"))
    port = free_port()
    events = f"http://127.0.0.1:{port}/events"
    openers = {c for c in pop.ids if c % 4 == 1}
    buyers = {c for c in pop.ids if c % 3 == 0}

    def script(contact: int, step: str) -> list[tuple[str, int]]:
        """What the contacts do, a minute after a message reaches them (the runner's are a few ms later)."""
        if step == "hello" and contact in openers:
            return [("opened", 60)]
        if step == "text" and contact in buyers:
            return [("purchase", 60)]
        return []

    people = People(headers={"Authorization": "Bearer e2e-secret"}).start()  # POST /events needs the run's secret
    smtp = SmtpSink(on_mail=lambda m: script(contact_of(m), "hello" if m.subject.startswith("Hello") else "bye")
                    and people.visit_now(f"open {contact_of(m)}", m.pixel())).start()  # type: ignore[arg-type]
    sms = SmsSink(on_sms=lambda s: script(s["contact"], "text")
                  and people.post_now(f"buy {s['contact']}", events, {"contact": s["contact"], "event": "purchase"}))
    sms.start()
    paths: dict[int, object] = {}
    try:
        settings = _settings(tmp_path, db, dev_server, smtp, sms, port)
        settings.secret = "e2e-secret"
        asyncio.run(_run_and_collect(r, settings, pop.audience, paths))
    finally:
        people.stop()
        smtp.stop()
        sms.stop()

    contacts = ContactsDb(str(db))
    try:
        facts = DbFacts(contacts, r)
        expected = {c: reference_path(r, facts, c, script) for c in pop.audience}
        tasks = contacts.tasks(r.plan.journey_id)
    finally:
        contacts.close()
    assert paths == expected
    # the journey's variety was exercised: every kind of path occurs
    seen = Counter(tuple(step for step, _ in p) for p in expected.values())
    assert len(seen) >= 5, expected
    assert any(("text", "sent") in p and ("later", "goal") in p for p in expected.values())  # bought: left
    assert any(("split", "holdout") in p for p in expected.values())
    # tasks written to the contacts database: one per contact who opened the hello email
    called = sorted(c for c, p in expected.items() if ("call", "done") in p)
    assert called and sorted(t["contact_id"] for t in tasks) == called
    assert {(t["kind"], t["owner"], t["subject"]) for t in tasks if t["contact_id"] == called[0]} == \
        {("task", "sales", f"Call Name{called[0]}")}
    # messages at the sinks are the paths' messages, once each
    assert Counter(contact_of(m) for m in smtp.snapshot()) == \
        Counter(c for c, p in expected.items() for step, o in p if step in ("hello", "bye") and o == "sent")
    assert Counter(contact_of(s) for s in sms.snapshot()) == \
        Counter(c for c, p in expected.items() if ("text", "sent") in p)


async def _run_and_collect(r: Runnable, settings: RunSettings, audience: list[int], paths: dict[int, object]) -> None:
    """Run the journey and read each contact workflow's path (step, outcome) from its result."""
    from app.runner.calls import contact_workflow_id
    from app.runner.devserver import connect
    from app.runner.state import StateDb
    from tests.runner_helpers import unit_result
    await run_journey(r, settings)
    client = await connect(settings.temporal or "")
    state = StateDb(Path(settings.state_dir) / "runner.db")
    try:
        for c in audience:
            result = await unit_result(client, state, contact_workflow_id(r.key, c, 0))
            paths[c] = [(step, outcome) for step, _, _, outcome in result["visits"]]
    finally:
        state.close()


def test_run_and_status_from_the_command_line_with_their_own_dev_server(tmp_path: Path) -> None:
    """`journey-studio run` with no --temporal starts a dev server of its own; `status` reads the finished run."""
    import subprocess
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 12)
    pkg = package_of(db, tmp_path / "announcement.jpkg")
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        cmd = [sys.executable, "-m", "app.cli.main", "run", str(pkg), "--contacts-db", str(db), "--smtp",
               smtp.address, "--sms-url", sms.url, "--time-scale", str(SCALE * 4)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=Path(__file__).parent.parent)
    finally:
        smtp.stop()
        sms.stop()
    assert done.returncode == 0, done.stderr
    assert "Starting a local Temporal dev server" in done.stderr
    assert Counter(contact_of(m) for m in smtp.snapshot()) == Counter(pop.emailed())
    assert sms.snapshot() == []  # nobody clicked
    state = Path(str(pkg) + ".run")
    assert (state / "temporal.db").exists() and (state / "runner.db").exists()
    # status after the run: the run's dev server is gone, so status reads its database with one of its own
    st = subprocess.run([sys.executable, "-m", "app.cli.main", "status", str(pkg), "--json"], capture_output=True,
                        text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert st.returncode == 0, st.stderr
    import json
    counts = json.loads(st.stdout)
    steps = {row["step"]: row for row in counts["steps"]}
    assert counts["enrolled"] == len(pop.audience) and counts["outcomes"]["completed"] == len(pop.audience)
    assert (steps["announce"]["sent"], steps["clicked"]["no"], steps["launch"]["entered"]) == \
        (len(pop.emailed()), len(pop.audience), 0)
    table = subprocess.run([sys.executable, "-m", "app.cli.main", "status", str(pkg)], capture_output=True,
                           text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert table.returncode == 0 and f"{len(pop.audience)} enrolled" in table.stdout
    assert any(line.split()[:1] == ["announce"] and str(len(pop.emailed())) in line.split()
               for line in table.stdout.splitlines())


@pytest.mark.parametrize("bad", ["--time-scale=0", "--smtp=nohost:port"])
def test_run_refuses_bad_settings_in_one_line(tmp_path: Path, bad: str) -> None:
    from app.cli.main import main
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 3)
    pkg = package_of(db, tmp_path / "a.jpkg")
    assert main(["run", str(pkg), "--contacts-db", str(db), "--sms-url", "http://127.0.0.1:9/x", bad]) == 2
