"""Frequency caps across journeys: the project's caps and journey priorities (model, file, codec, package,
checks), the engine's suppression given other journeys' sends, the portfolio simulation and the runner's cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.codec.plain import PlainError, caps_from_plain, caps_to_plain, settings_from_plain, settings_to_plain
from app.codec.yamlio import read_journey_text
from app.model.journey import Journey
from app.model.project import ChannelCap, Project
from app.model.project_commands import AddJourney, UpdateJourney, UpdateProjectSettings
from app.services import import_journey
from app.store import ProjectFile
from app.validation.checks import check_journey
from tests.runner_helpers import dev_server, needs_temporal
from tests.samples import ANNOUNCEMENT

_fixtures = (dev_server,)

EMAIL_3_7D = ChannelCap("email", 3, timedelta(days=7))


# --- model and persistence -----------------------------------------------------------------------------------

def test_caps_and_priority_are_undoable_edits() -> None:
    p = Project()
    j = Journey(p.new_journey_id(), "A")
    AddJourney(j).do(p)
    assert j.priority == 5 and j.cap_exempt is False and p.settings.frequency_caps == ()
    cmd = UpdateProjectSettings("Change frequency caps", frequency_caps=(EMAIL_3_7D,))
    cmd.do(p)
    assert p.settings.cap_for("email") == EMAIL_3_7D and p.settings.cap_for("sms") is None
    cmd.undo(p)
    assert p.settings.frequency_caps == ()
    up = UpdateJourney(j.id, priority=1, cap_exempt=True)
    assert up.text == "Change priority and cap exemption"
    up.do(p)
    assert (j.priority, j.cap_exempt) == (1, True)
    up.undo(p)
    assert (j.priority, j.cap_exempt) == (5, False)


def test_caps_and_priority_survive_the_project_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    caps = (EMAIL_3_7D, ChannelCap("sms", 1, timedelta(days=1)))
    with ProjectFile.create(path) as pf:
        j = Journey(pf.project.new_journey_id(), "A")
        AddJourney(j).do(pf.project)
        UpdateProjectSettings("caps", frequency_caps=caps).do(pf.project)
        UpdateJourney(j.id, priority=2, cap_exempt=True).do(pf.project)
    with ProjectFile.open(path) as pf:
        assert pf.project.settings.frequency_caps == caps
        got = pf.project.journey("A")
        assert (got.priority, got.cap_exempt) == (2, True)


def test_a_project_without_caps_keeps_the_settings_row_it_had() -> None:
    from app.store.decoding import encode_settings
    assert "frequency_caps" not in encode_settings(Project().settings)
    j = Journey("x", "A")
    assert "priority" not in settings_to_plain(j) and "cap_exempt" not in settings_to_plain(j)


def test_caps_codec_round_trip_and_bounds() -> None:
    caps = (EMAIL_3_7D, ChannelCap("push", 10, timedelta(hours=12)))
    assert caps_from_plain(caps_to_plain(caps)) == caps
    assert caps_to_plain(caps)[0] == {"channel": "email", "messages": 3, "per": "7d"}
    # listed in any order, kept in channel order
    assert caps_from_plain(list(reversed(caps_to_plain(caps)))) == caps
    bad = [([{"channel": "fax", "messages": 1, "per": "1d"}], "channel"),
           ([{"channel": "email", "messages": 0, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": 101, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": True, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": 2, "per": "30m"}], "per"),
           ([{"channel": "email", "messages": 2, "per": "91d"}], "per"),
           ([{"channel": "email", "messages": 2}], None),
           ([{"channel": "email", "messages": 2, "per": "1d"}] * 2, "channel"),
           ({"email": 3}, None)]
    for value, where in bad:
        with pytest.raises(PlainError) as e:
            caps_from_plain(value)
        assert where is None or e.value.path[-1] == where, (value, e.value)


def test_priority_in_journey_files() -> None:
    assert settings_from_plain({"priority": 1, "cap_exempt": True})["priority"] == 1
    for bad in (0, 11, "high", True, 2.5):
        with pytest.raises(PlainError, match="priority"):
            settings_from_plain({"priority": bad})
    with pytest.raises(PlainError, match="cap_exempt"):
        settings_from_plain({"cap_exempt": "yes"})
    text = ANNOUNCEMENT.replace("frequency: one-time", "frequency: one-time\npriority: 2\ncap_exempt: true")
    j = read_journey_text(text)[0]
    assert (j.priority, j.cap_exempt) == (2, True)


def test_a_damaged_cap_in_the_file_is_one_line(tmp_path: Path) -> None:
    from sqlalchemy import update
    from app.errors import ProjectFileError
    from app.store import schema as t
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        with pf.connection(write=True) as conn:
            conn.execute(update(t.project).values(settings={"custom_attributes": {}, "default_timezone": "UTC",
                                                            "frequency_caps": [{"channel": "email", "messages": -1,
                                                                                "per": "7d"}]}))
    with pytest.raises(ProjectFileError, match="project settings: frequency_caps.0.messages"):
        ProjectFile.open(path).close()


# --- checks ----------------------------------------------------------------------------------------------------

def _project_with(text: str, caps: tuple[ChannelCap, ...]) -> tuple[Project, Journey]:
    p = Project()
    j, contents, segments = read_journey_text(text)
    import_journey(p, j, contents, segments)
    p.settings.frequency_caps = caps
    return p, p.journey(j.name)


TWO_EMAILS = ANNOUNCEMENT.replace("launched: {type: sms, content: Product launched text}",
                                  "launched: {type: email, content: Product announcement email}")


def test_a_journey_that_sends_more_than_the_cap_alone_is_warned() -> None:
    p, j = _project_with(TWO_EMAILS, (ChannelCap("email", 1, timedelta(days=30)),))
    found = [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    assert len(found) == 1 and "2 email messages within 30d" in found[0].message and found[0].step == "launched"
    # the wait until a date is not a fixed duration: the two emails may be close; a 1 day window still holds both
    p.settings.frequency_caps = (ChannelCap("email", 2, timedelta(days=30)),)
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    p.settings.frequency_caps = (ChannelCap("email", 1, timedelta(days=30)),)
    j.cap_exempt = True
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]


def test_a_fixed_wait_longer_than_the_period_is_no_warning() -> None:
    text = TWO_EMAILS.replace("launch: {type: wait, until: 2026-12-10T09:00, next: launched}",
                              "launch: {type: wait, duration: 8d, next: launched}")
    p, j = _project_with(text, (ChannelCap("email", 1, timedelta(days=7)),))
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    p.settings.frequency_caps = (ChannelCap("email", 1, timedelta(days=9)),)
    assert [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]


def test_out_of_bounds_caps_and_priority_are_errors() -> None:
    p, j = _project_with(ANNOUNCEMENT, (ChannelCap("email", 0, timedelta(days=7)),))
    j.priority = 12
    codes = {f.code for f in check_journey(j, p) if f.is_error}
    assert {"project-cap-range", "priority-range"} <= codes


# --- package -----------------------------------------------------------------------------------------------------

def test_the_manifest_carries_the_caps() -> None:
    from app.package import manifest as m
    from app.package.errors import PackageError
    doc = m.make_manifest(journey_id="j", journey_name="J", version=1, created_at="2026-01-01T00:00:00Z",
                          members={n: b"x" for n in m.REQUIRED_MEMBERS}, project="P",
                          validation={"errors": 0, "warnings": 0}, approved_run=None,
                          frequency_caps=caps_to_plain((EMAIL_3_7D,)))
    parsed = m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")
    assert m.manifest_caps(parsed) == (EMAIL_3_7D,)
    doc["frequency_caps"] = [{"channel": "email", "messages": 0, "per": "7d"}]
    with pytest.raises(PackageError, match="frequency_caps.0.messages"):
        m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")
    del doc["frequency_caps"]
    assert m.manifest_caps(m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")) == ()


# --- the engine and the portfolio --------------------------------------------------------------------------------

SEGMENTS = ANNOUNCEMENT[ANNOUNCEMENT.index("\nsegments:") + 1:]
CONTENT = """content:
  Product announcement email: {kind: email, subject: "Meet the new X", status: ready, links: [product-details]}
  Product launched text: {kind: sms, text: "X is here", status: ready}
"""


def _drip(name: str, start: str, waits: tuple[str, ...], extra: str = "") -> str:
    """A journey of emails with waits between them (and a last if/then on the first email's open)."""
    steps = []
    for i, w in enumerate(waits):
        steps.append(f"  m{i}: {{type: email, content: Product announcement email, next: w{i}}}")
        steps.append(f"  w{i}: {{type: wait, duration: {w}, next: {'m' + str(i + 1)}}}")
    steps.append(f"  m{len(waits)}: {{type: email, content: Product announcement email, next: opened}}")
    steps.append("  opened: {type: if-then, wait_for: {event: opened, step: m0}, within: 1d, yes: sms, no: end}")
    steps.append("  sms: {type: sms, content: Product launched text}")
    return (f"format: journey/1\nname: {name}\ntarget: contacts\n{extra}"
            "audience: {segments: [Most valuable customers], exclude: [Do not contact], suppress: Unsubscribed}\n"
            f"frequency: one-time\nschedule: {{start: {start}, end: 2027-01-31T00:00, timezone: Europe/Paris}}\n"
            "steps:\n" + "\n".join(steps) + "\n" + CONTENT + SEGMENTS)


def _portfolio_project(texts: list[str], caps: tuple[ChannelCap, ...]) -> Project:
    p = Project()
    for text in texts:
        import_journey(p, *read_journey_text(text))
    p.settings.frequency_caps = caps
    return p


def _causal_check(members: list, traces: list, cap: ChannelCap) -> tuple[int, int]:
    """Replay every email due (sent or capped) of every journey in the order the rule defines (time, priority,
    journey order, step order) and check each outcome against the rule; returns (sent, capped) checked."""
    import numpy as np
    from app.semantics.outcomes import CAPPED, SENT
    due = []
    for i, (m, t) in enumerate(zip(members, traces)):
        email_steps = [s.index for s in m.plan.steps if s.channel == cap.channel]
        v = t.visits
        sel = np.isin(v["step"], email_steps) & np.isin(v["outcome"], [SENT, CAPPED])
        for c, st, tl, o in zip(v["contact"][sel], v["step"][sel], v["t_leave"][sel], v["outcome"][sel]):
            due.append((int(tl) + t.t0, m.priority, i, int(st), int(c), int(o), m.exempt))
    due.sort()
    per = int(cap.per.total_seconds())
    history: dict[int, list[int]] = {}
    counts = [0, 0]
    for at, _, _, _, contact, outcome, exempt in due:
        past = history.setdefault(contact, [])
        full = sum(1 for x in past if x > at - per) >= cap.messages
        if exempt:
            assert outcome == SENT
            continue
        assert (outcome == CAPPED) == full, (contact, at, outcome)
        if outcome == SENT:
            past.append(at)
        counts[outcome == CAPPED] += 1
    return counts[0], counts[1]


def test_the_engine_holds_the_cap_across_journeys_exactly() -> None:
    from simulator import portfolio as pm
    cap = ChannelCap("email", 2, timedelta(days=3))
    a = _drip("Drip A", "2026-12-01T09:00", ("1d", "1d"))
    b = _drip("Drip B", "2026-12-01T21:00", ("12h", "2d"), "priority: 2\n")
    p = _portfolio_project([a, b], (cap,))
    members = pm.members_of([p.journey("Drip A"), p.journey("Drip B")], p.content)
    last: dict[int, object] = {}
    real_run = pm.run

    def spy(plan, *args, **kw):
        trace = real_run(plan, *args, **kw)
        if kw.get("caps") is not None:
            last[id(plan)] = trace
        return trace
    pm.run = spy
    try:
        doc = pm.run_portfolio(members, (cap,), 3000, 11, definitions=p.segments)
    finally:
        pm.run = real_run
    assert doc["settled"] and doc["passes"][0] >= 2
    sent, capped = _causal_check(members, [last[id(m.plan)] for m in members], cap)
    assert sent > 100 and capped > 100
    for j in doc["journeys"]:
        for s in j["steps"]:
            assert s["wanted"] == s["sent"] + s["capped"]
    # B goes first at equal times, and its first two emails come before A's third: A loses its third email
    by = {j["journey"]: {s["step"]: s for s in j["steps"]} for j in doc["journeys"]}
    assert by["Drip B"]["m0"]["capped"] == 0 and by["Drip A"]["m2"]["capped"] > 0


def test_priority_decides_at_equal_times_and_exempt_journeys_go() -> None:
    from simulator import portfolio as pm
    cap = ChannelCap("email", 1, timedelta(days=7))
    texts = [_drip("Low", "2026-12-01T09:00", ()), _drip("High", "2026-12-01T09:00", (), "priority: 1\n"),
             _drip("Receipts", "2026-12-01T09:00", (), "cap_exempt: true\n")]
    p = _portfolio_project(texts, (cap,))
    members = pm.members_of([p.journey(n) for n in ("Low", "High", "Receipts")], p.content)
    doc = pm.run_portfolio(members, (cap,), 2000, 5, definitions=p.segments)
    by = {j["journey"]: j for j in doc["journeys"]}
    high, low, receipts = (by[n]["steps"][0] for n in ("High", "Low", "Receipts"))
    assert high["sent"] == high["wanted"] > 0 and high["capped"] == 0
    assert low["sent"] == 0 and low["capped"] == low["wanted"] == high["wanted"]
    assert receipts["capped"] == 0 and receipts["sent"] == receipts["sent_without_cap"]
    # a capped email is not opened: the if/then after it sees no open, so the text goes to nobody in Low
    assert by["Low"]["steps"][1]["sent"] == 0 < by["Low"]["steps"][1]["sent_without_cap"]
    assert by["Low"]["effect"]["change"]["mean"] <= 0 and by["High"]["effect"]["change"]["mean"] == 0


def test_without_caps_the_engine_is_unchanged_bit_for_bit() -> None:
    from simulator import portfolio as pm
    from simulator.engine import CapInput, OtherSends, run
    from simulator.population import population_for
    import numpy as np
    p = _portfolio_project([_drip("Drip A", "2026-12-01T09:00", ("1d", "1d"))], ())
    m = pm.members_of([p.journey("Drip A")], p.content)[0]
    pop = population_for(m.plan, 3000, 4, definitions=p.segments)
    from simulator.behaviour import BehaviourModel
    plain = run(m.plan, pop, BehaviourModel(), 4)
    none = run(m.plan, pop, BehaviourModel(), 4, caps=None)
    empty = OtherSends(np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
    loose = run(m.plan, pop, BehaviourModel(), 4, caps=CapInput({0: (100, 86_400)}, {0: empty}, {0: 3}))
    assert plain.digest() == none.digest() == loose.digest()
    tight = run(m.plan, pop, BehaviourModel(), 4, caps=CapInput({0: (1, 30 * 86_400)}, {0: empty}, {0: 1}))
    assert tight.digest() != plain.digest()
    # a portfolio with no caps is each journey on its own
    doc = pm.run_portfolio([m], (), 3000, 4, definitions=p.segments)
    assert doc["settled"] and doc["passes"] == [1]
    assert all(s["capped"] == 0 and s["sent"] == s["sent_without_cap"] for s in doc["journeys"][0]["steps"])


def test_the_portfolio_command_and_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from app.model.project_commands import UpdateProjectSettings
    from tests.cli_helpers import run
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        for text in (_drip("Low", "2026-12-01T09:00", ("2d",)), _drip("High", "2026-12-01T09:00", (),
                                                                        "priority: 1\n")):
            import_journey(pf.project, *read_journey_text(text))
        UpdateProjectSettings("caps", frequency_caps=(ChannelCap("email", 1, timedelta(days=7)),)).do(pf.project)
    out = tmp_path / "out.json"
    code, stdout, stderr = run(capsys, "portfolio", path, "--journey", "Low", "--journey", "High", "--contacts",
                               "2000", "--seed", "3", "--replicas", "2", "--json", out)
    assert code == 0, stderr
    assert "Caps: 1 email per 7d" in stdout and "Low" in stdout and "change" in stdout
    doc = json.loads(out.read_text())
    assert doc["format"] == "portfolio/1" and doc["replicas"] == 2 and doc["settled"]
    assert doc["caps"] == [{"channel": "email", "messages": 1, "per_seconds": 7 * 86_400}]
    low = {s["step"]: s for s in doc["journeys"][0]["steps"]}
    assert low["m0"]["capped"] > 0 and low["m1"]["capped"] > 0
    change = doc["journeys"][0]["effect"]["change"]
    assert change["low"] <= change["mean"] <= change["high"]
    # the same seed gives the same JSON
    again = tmp_path / "again.json"
    assert run(capsys, "portfolio", path, "--journey", "Low", "--journey", "High", "--contacts", "2000", "--seed",
               "3", "--replicas", "2", "--json", again)[0] == 0
    assert again.read_text() == out.read_text()
    # bad input: one line, no traceback
    code, _, stderr = run(capsys, "portfolio", path, "--journey", "Nope", "--contacts", "10", "--seed", "1")
    assert code != 0 and "Nope" in stderr and "Traceback" not in stderr


# --- the runner ------------------------------------------------------------------------------------------------

RUNNER_JOURNEY = """\
format: journey/1
name: NAME
target: contacts
audience: {segments: [Chosen]}
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2026-12-20T09:00, timezone: Europe/Paris}
EXTRA
steps:
  hello: {type: email, content: Hello email, next: pause}
  pause: {type: wait, duration: 1d, next: text}
  text: {type: sms, content: Hello text}
content:
  Hello email: {kind: email, status: ready, subject: "Hello {{first_name}}", sender: a@example.com, body: Hi}
  Hello text: {kind: sms, status: ready, text: Hi}
segments:
  Chosen: {entity: contacts, kind: static}
"""


def _runner_project(tmp: Path, chosen: list[int], cap: ChannelCap) -> Path:
    """A contacts project with journeys First (priority 5), Second (priority 1) and Receipts (exempt)."""
    from app.audience import members as am
    from tests.runner_helpers import contacts_project
    db = tmp / "contacts.jstudio"
    contacts_project(db, 12, RUNNER_JOURNEY.replace("NAME", "First").replace("EXTRA\n", ""), no_email=False)
    with ProjectFile.open(db) as pf:
        for name, extra in (("Second", "priority: 1"), ("Receipts", "cap_exempt: true")):
            j, contents, segments = read_journey_text(RUNNER_JOURNEY.replace("NAME", name).replace("EXTRA", extra))
            import_journey(pf.project, j, contents, segments, replace=True)
        UpdateProjectSettings("caps", frequency_caps=(cap,)).do(pf.project)
        am.add_members(pf, "Chosen", chosen)
    return db


def _runnables(tmp: Path, db: Path) -> dict[str, Any]:
    from app.runner.runnable import from_package, register
    from tests.runner_helpers import package_of
    out = {}
    for name in ("First", "Second", "Receipts"):
        r = from_package(package_of(db, tmp / f"{name}.jpkg", name))
        register(r)
        out[name] = r
    return out


class _Smtp:
    sender = "journeys@localhost"

    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, msg: object) -> None:
        self.sent.append(msg)


def test_the_runner_caps_across_journeys_with_priority_at_one_moment(tmp_path: Path) -> None:
    from app.runner.activities import Activities
    from app.runner.calls import StepRequest, contact_workflow_id
    from app.runner.channels import Tokens
    from app.runner.contacts import ContactsDb
    from app.runner.state import CapLedger, StateDb
    db = _runner_project(tmp_path, [1, 3, 4, 11], ChannelCap("email", 1, timedelta(days=7)))
    rs = _runnables(tmp_path, db)
    assert rs["First"].caps == (ChannelCap("email", 1, timedelta(days=7)),)  # the package carries the cap
    ledger = CapLedger(tmp_path / "ledger.db")
    smtp = _Smtp()
    acts = {n: Activities(ContactsDb(str(db)), StateDb(tmp_path / n / "runner.db"), Tokens("s"), "http://x",
                          smtp=smtp, ledger=ledger) for n in rs}  # type: ignore[arg-type]

    def req(name: str, contact: int, at: int) -> StepRequest:
        r = rs[name]
        return StepRequest(r.key, r.digest, contact_workflow_id(r.key, contact, 0), contact, 0, "hello", at)
    t0 = rs["First"].plan.start
    from sqlalchemy import update
    from app.store import schema as t
    with ProjectFile.open(db) as pf, pf.connection(write=True) as conn:  # contact 11 has no email address now
        conn.execute(update(t.contacts).where(t.contacts.c.id == 11).values(email=None))
    # one batch at one moment: Second (priority 1) goes first, First is capped
    batch = [req("First", c, t0) for c in (1, 3)] + [req("Second", c, t0) for c in (1, 3)]
    assert [x.outcome for x in acts["First"].send_many(batch)] == ["capped", "capped", "sent", "sent"]
    # a message that would not go (no address) takes no slot
    assert acts["Second"].send_message(req("Second", 11, t0)).outcome == "no_address"
    assert acts["First"].send_message(req("First", 11, t0)).outcome == "no_address"
    assert not [row for row in ledger.rows() if row[2] == 11]
    # a later send of another journey within the week is capped; after the week it goes
    assert acts["Second"].send_message(req("First", 4, t0)).outcome == "sent"
    late = acts["Second"].send_message(req("Second", 4, t0 + 3 * 86_400))
    assert late.outcome == "capped" and "1 email message per 7d" in late.reason
    # an exempt journey is never held back, and does not count
    assert acts["Receipts"].send_message(req("Receipts", 4, t0 + 3 * 86_400)).outcome == "sent"
    week = acts["Second"].send_message(StepRequest(rs["Second"].key, rs["Second"].digest,
                                                   contact_workflow_id(rs["Second"].key, 4, 1), 4, 1, "hello",
                                                   t0 + 7 * 86_400 + 1))
    assert week.outcome == "sent"
    # a retry finds its decision; the state counts capped sends
    assert acts["First"].send_many([req("First", 1, t0)])[0].outcome == "capped"
    assert acts["First"].state.message_counts(rs["First"].key)["capped"] == 2
    assert acts["First"].state.snapshot(rs["First"].key)["messages"]["capped"] == 2
    held = [row for row in ledger.rows() if row[6] == "held"]
    assert sorted((row[2], row[4] - t0) for row in held) == [(1, 0), (3, 0), (4, 0), (4, 7 * 86_400 + 1)]


def test_two_workers_cannot_both_take_the_last_slot(tmp_path: Path) -> None:
    import threading
    from app.runner.state import CapLedger
    ledgers = [CapLedger(tmp_path / "ledger.db") for _ in range(4)]
    out: list[dict[str, str]] = []
    lock = threading.Lock()

    def worker(k: int, contact: int, step: int) -> None:
        for i in range(10):  # every worker claims the same moments (step 0), or moments in its own order
            got = ledgers[k].admit([{"key": f"w{k}:{contact}:{i}", "journey": f"j{k}", "contact": contact,
                                     "channel": "email", "at": 1000 + step * (i if k % 2 else 9 - i),
                                     "priority": 5, "messages": 3, "per": 86_400}])
            with lock:
                out.append(got)
    for contact, step in ((7, 0), (8, 1)):
        out.clear()
        threads = [threading.Thread(target=worker, args=(k, contact, step)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        decisions = [s for d in out for s in d.values()]
        assert len(decisions) == 40 and decisions.count("held") == 3


@needs_temporal
@pytest.mark.temporal
def test_a_live_run_of_a_second_journey_is_capped_by_the_first(tmp_path: Path, dev_server: object) -> None:
    """Two runs of the project's journeys, one after the other on a local Temporal dev server, with one caps
    ledger: the second journey's emails are capped (the first took the week's one email), its texts go; status
    counts the capped step."""
    import asyncio
    from app.runner.worker import run_journey
    from tests.runner_helpers import SmsSink, SmtpSink, contact_of
    db = _runner_project(tmp_path, [1, 3, 4], ChannelCap("email", 1, timedelta(days=7)))
    rs = _runnables(tmp_path, db)
    smtp, sms = SmtpSink().start(), SmsSink().start()
    summaries = {}
    try:
        for name in ("First", "Second"):
            from app.runner.worker import RunSettings
            settings = RunSettings(contacts_db=str(db), state_dir=tmp_path / f"state-{name}",
                                   temporal=dev_server.address, smtp=("127.0.0.1", smtp.port),  # type: ignore
                                   sms_url=sms.url, time_scale=43_200.0, send_timeout=10,
                                   caps_ledger=str(tmp_path / "ledger.db"))
            summaries[name] = asyncio.run(run_journey(rs[name], settings))
    finally:
        smtp.stop()
        sms.stop()
    emailed = sorted(contact_of(x) for x in smtp.snapshot())
    texted = sorted(contact_of(x) for x in sms.snapshot())
    counts = {name: ([(r["step"], r.get("entered"), r.get("sent"), r.get("capped"), r.get("waiting"))
                      for r in s.counts.get("steps") or []], s.counts.get("outcomes")) for name, s in summaries.items()}
    assert emailed == [1, 3, 4] and texted == [1, 1, 3, 3, 4, 4], counts
    steps = {row["step"]: row for row in summaries["Second"].counts["steps"]}
    assert steps["hello"]["capped"] == 3 and steps["hello"].get("sent", 0) == 0
    assert summaries["Second"].counts["messages"]["capped"] == 3
    first = {row["step"]: row for row in summaries["First"].counts["steps"]}
    assert first["hello"]["sent"] == 3


# --- the designer ------------------------------------------------------------------------------------------------

@pytest.fixture
def gui_doc(tmp_path: Path, qtbot: Any) -> Any:
    from app.codec.yamlio import read_journey_file
    from app.resources import resource_path
    from designer.document import Document
    pf = ProjectFile.create(tmp_path / "p.jstudio")
    import_journey(pf.project, *read_journey_file(resource_path("templates", "announcement.yaml")))
    document = Document(pf)
    yield document
    if not document.file.closed:
        document.close()


def _item(tree: Any, i: int) -> Any:
    item = tree.topLevelItem(i)
    assert item is not None
    return item


@pytest.mark.gui
def test_the_caps_dialog_and_the_journey_priority_are_undoable_edits(gui_doc, qtbot, tmp_path: Path) -> None:
    from designer.panels import JourneySettingsPanel
    from designer.panels.frequency_caps import FrequencyCapsDialog
    doc = gui_doc
    assert doc.run(AddJourney(Journey(doc.project.new_journey_id(), "Receipts", cap_exempt=True)))
    dialog = FrequencyCapsDialog(doc)
    qtbot.addWidget(dialog)
    row = dialog.rows["email"]
    assert not row.check.isChecked() and not row.messages.isEnabled()
    count = doc.undo_stack.count()
    row.check.setChecked(True)  # 3 per 7 days at first
    assert doc.project.settings.frequency_caps == (ChannelCap("email", 3, timedelta(days=7)),)
    assert doc.undo_stack.undoText() == "Cap email at 3 per 7d"
    row.messages.setValue(2)
    dialog.rows["sms"].check.setChecked(True)
    assert doc.project.settings.frequency_caps == (ChannelCap("email", 2, timedelta(days=7)),
                                                   ChannelCap("sms", 1, timedelta(days=1)))
    assert doc.undo_stack.count() == count + 3
    doc.undo_stack.undo()
    assert doc.project.settings.cap_for("sms") is None and not dialog.rows["sms"].check.isChecked()
    # the journeys under the caps, by priority
    names = [_item(dialog.tree, i).text(0) for i in range(dialog.tree.topLevelItemCount())]
    assert names == ["Product announcement", "Receipts"]
    assert _item(dialog.tree, 1).text(2).startswith("exempt")
    panel = JourneySettingsPanel(doc)
    qtbot.addWidget(panel)
    j = doc.current_journey
    assert j is not None and panel.priority.value() == 5 and panel.priority.text() == "priority 5"
    panel.priority.setValue(1)
    assert j.priority == 1 and not j.cap_exempt and doc.undo_stack.undoText() == "Change priority"
    panel.priority.setValue(0)
    assert j.cap_exempt and j.priority == 1 and panel.priority.text() == "exempt"
    assert doc.undo_stack.undoText() == "Change cap exemption"
    doc.undo_stack.undo()
    assert not j.cap_exempt and panel.priority.value() == 1
    assert _item(dialog.tree, 0).text(1) == "1"  # the dialog follows the journey's edits
    Path("/tmp/shots").mkdir(exist_ok=True)
    dialog.show()
    dialog.grab().save("/tmp/shots/frequency_caps.png")
    panel.resize(340, 900)
    panel.show()
    panel.grab().save("/tmp/shots/journey_settings_priority.png")
