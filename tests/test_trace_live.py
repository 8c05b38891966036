"""One contact's story in a live run, re-derived (app/runner/live_story_derive.py): every step with when it was
entered and left and why, checked against the runner's state; the state-only story when the contacts database
cannot be read. The states are built directly (StateDb), as a run of the journey leaves them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from app.runner.live_story import live_story
from app.runner.runnable import from_package
from app.runner.state import StateDb
from app.runner.unit import split_draw
from tests.runner_helpers import dev_server, temporal_missing
from tests.test_trace import run

_fixtures = (dev_server,)  # used by name below

DAY = 86_400
BRANCHES = Path(__file__).parent / "fixtures" / "story" / "branches.yaml"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project of 12 contacts (every 11th unsubscribed; lifetime values 1000 + id, 100 for every 5th) with the
    'Story branches' journey (quiet hours 21:00-08:00 Paris, a cap of 2 messages in 3 days), and its package."""
    from tests.runner_helpers import contacts_project, package_of
    folder = tmp_path_factory.mktemp("shop")
    project = folder / "shop.jstudio"
    contacts_project(project, 12, BRANCHES.read_text(encoding="utf-8"))
    pkg = package_of(project, folder / "b.jpkg", "Story branches")
    return {"project": project, "pkg": pkg, "r": from_package(pkg)}


def _state(folder: Path, r: Any, now: int, contacts_db: str | None, entries: dict[int, int],
           sends: list[tuple[int, str, str, int]], events: list[tuple[int, dict[str, Any]]],
           seed: int | None = None) -> Path:
    """A runner's state folder: enrolments (contact -> entry), sends (contact, step, status, moment), outbox events
    (contact, event), the worker settings naming `contacts_db`, and a clock whose run ended at `now`."""
    folder.mkdir(parents=True, exist_ok=True)
    state = StateDb(folder / "runner.db")
    start = r.plan.start
    try:
        state.put("journey", {"key": r.key, "digest": r.digest})
        state.put("clock", [0.0, float(start), 1.0])  # the simulated start at real time 0
        state.put("final_counts", {"final": True, "ended_at": datetime.fromtimestamp(now - start, timezone.utc)
                                   .isoformat()})
        if contacts_db is not None:
            state.put("worker", {"temporal": "localhost:1", "contacts_db": contacts_db,
                                 **({"seed": seed} if seed is not None else {})})
        state.record_enrolments(r.key, 0, [(c, f"{r.key}:c{c}:0", at) for c, at in entries.items()])
        channel = {s.id: s.channel for s in r.plan.steps}
        state.claim_many([{"key": f"{r.key}:c{c}:0:{step}", "journey": r.key, "contact": c, "iteration": 0,
                           "step_id": step, "channel": channel[step], "transport_id": f"t{c}{step}"}
                          for c, step, _, _ in sends])
        state.mark_many([(f"{r.key}:c{c}:0:{step}", status, at) for c, step, status, at in sends])
        state.queue_events([(f"{r.key}:c{c}:0", e) for c, e in events])
    finally:
        state.close()
    return folder


def _text(story: Any) -> str:
    return "\n".join(story.lines())


def test_each_step_is_told_with_when_and_why_and_the_path_agrees_with_the_sends(shop: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    r = shop["r"]
    s0 = r.plan.start  # 09:00 in Paris: outside the quiet hours
    split = next(s for s in r.plan.steps if s.id == "split")
    path_a = split_draw(0, split, 1) < split.thresholds[0]
    sends = [(1, "hello", "sent", s0), (3, "hello", "sent", s0), (3, "reminder", "sent", s0 + 2 * DAY),
             (6, "hello", "sent", s0 + 23 * 3600), (6, "reminder", "sent", s0 + 23 * 3600 + 2 * DAY)]
    if not path_a:
        sends.append((1, "offer_sms", "sent", s0 + 3600))
    events = [(1, {"name": "clicked", "at": s0 + 3600, "step_id": "hello", "contact": 1}),
              (1, {"name": "clicked:shop", "at": s0 + 3600, "step_id": "hello", "contact": 1})]
    now = s0 + 40 * DAY
    if path_a:
        sends.append((1, "offer_mail", "sent", next(s.until for s in r.plan.steps if s.id == "until")))
    folder = _state(tmp_path / "b.jpkg.run", r, now, str(shop["project"]), {1: s0, 3: s0, 6: s0 + 13 * 3600, 11: s0},
                    sends, events)

    one = live_story(folder, r.key, r.plan, 1, runnable=r)
    text = _text(one)
    assert one.agrees is True, text
    assert "The derived path agrees with the runner's state" in text and "at the same simulated second" in text
    assert "'Clicked shop within 2 days?': left" in text and "yes: 'clicked:shop' of 'Hello email'" \
        in text and "within the limit" in text
    assert "'Gold or platinum?':" in text and "no: loyalty_tier has no value (read now); 'in'" in text
    assert "'Big spender?':" in text and "in the segment 'Big spenders'" in text
    assert f"its draw {split_draw(0, split, 1):.4f}" in text
    assert ("'Wait for the sale':" in text) == path_a
    assert "Not shown:" not in text and "inferred" not in text

    three = _text(live_story(folder, r.key, r.plan, 3, runnable=r))
    assert "no: no 'clicked:shop' of 'Hello email' by the limit" in three and "2 days after its delivery" in three
    assert "'Nudge text':" in three and "not sent: the journey's frequency cap (2 in 3 days)" \
        in three
    assert "The derived path agrees" in three

    six = _text(live_story(folder, r.key, r.plan, 6, runnable=r))  # entered at 22:00 in Paris
    assert "'Hello email': left Wed 2 Dec 2026 08:00: held by the quiet hours (21:00-08:00 in " \
           "Europe/Paris)" in six, six
    assert "The derived path agrees" in six, six

    eleven = _text(live_story(folder, r.key, r.plan, 11, runnable=r))  # on the Unsubscribed list
    assert "not sent: it was in the suppression segment 'Unsubscribed' then" in eleven
    assert "neither sends the contact anything" in eleven


def test_a_run_still_going_stops_at_its_now_with_the_contact_waiting(shop: dict[str, Any], tmp_path: Path) -> None:
    r = shop["r"]
    s0 = r.plan.start
    folder = _state(tmp_path / "b.jpkg.run", r, s0 + DAY, str(shop["project"]), {3: s0},
                    [(3, "hello", "sent", s0)], [])
    story = live_story(folder, r.key, r.plan, 3, runnable=r)
    text = _text(story)
    assert story.agrees is True
    assert "'Clicked shop within 2 days?': still there: at the run's now (Wed 2 Dec 2026 09:00) " \
           "it waits until Thu 3 Dec 2026 09:00 (for 'clicked:shop' of 'Hello email', or its limit)" \
        in text, text
    assert "Reminder" not in text


def test_a_state_the_path_does_not_explain_is_said_to_disagree(shop: dict[str, Any], tmp_path: Path) -> None:
    r = shop["r"]
    s0 = r.plan.start  # contact 4 never clicked, yet the state holds the offer text sent to it
    folder = _state(tmp_path / "b.jpkg.run", r, s0 + 40 * DAY, str(shop["project"]), {4: s0},
                    [(4, "hello", "sent", s0), (4, "offer_sms", "sent", s0 + 3600),
                     (4, "reminder", "sent", s0 + 2 * DAY)], [])
    story = live_story(folder, r.key, r.plan, 4, runnable=r)
    text = _text(story)
    assert story.agrees is False
    assert "The derived path DISAGREES with the runner's state: the state holds a send of 'Offer text'" in text
    assert "'Offer text': the sms was sent" in text  # the state's send is told as the state holds it
    assert "'Offer text': entered" not in text and "'Offer text': left" not in text  # the path does not go there
    assert "Not shown:" in text  # what the workflow really did where they part is in its Temporal history


def test_an_unreadable_contacts_database_falls_back_to_the_states_story(
        shop: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = shop["r"]
    s0 = r.plan.start
    sends = [(1, "hello", "sent", s0), (1, "offer_sms", "sent", s0 + 3600)]
    folder = _state(tmp_path / "b.jpkg.run", r, s0 + 40 * DAY, str(tmp_path / "gone.jstudio"), {1: s0}, sends, [])
    story = live_story(folder, r.key, r.plan, 1, runnable=r)
    text = _text(story)
    assert story.derived is None
    assert "its path is not re-derived: the contacts database cannot be read" in text and "no such contacts " \
        "database" in text
    assert "took yes (inferred" in text and "Not shown: the waits and if/then branches" in text

    code, out, err = run(capsys, "trace", shop["project"], shop["pkg"], "--contact", "1", "--state-dir", folder,
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["derived"] is False and any("not re-derived" in n for n in doc["notes"])


def test_trace_prints_the_derived_story_and_its_json(shop: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    r = shop["r"]
    s0 = r.plan.start
    folder = _state(tmp_path / "b.jpkg.run", r, s0 + 40 * DAY, str(shop["project"]), {3: s0},
                    [(3, "hello", "sent", s0), (3, "reminder", "sent", s0 + 2 * DAY)], [])
    code, out, err = run(capsys, "trace", shop["project"], shop["pkg"], "--contact", "3", "--state-dir", folder)
    assert code == 0, err
    assert "The derived path agrees with the runner's state: each of its 2 sends" in out
    assert "'Reminder email':" in out and "Note: the path is re-derived by the reference interpreter" in out
    assert "split seed 0" in out
    code, out, err = run(capsys, "trace", shop["project"], "1", "--contact", "3", "--seed", "5")
    assert code == 2 and err.count("\n") == 1 and "--seed is for a live run" in err
    code, out, err = run(capsys, "trace", shop["project"], shop["pkg"], "--contact", "3", "--state-dir", folder,
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["derived"] is True and doc["agrees"] is True and doc["cannot_show"] == ""
    steps = [i["step"] for i in doc["items"] if i["what"] == "step"]
    assert steps == ["hello", "clicked", "reminder", "nudge"]



# --- a rehearsal on a local Temporal dev server -----------------------------------------------------------

@pytest.mark.temporal
def test_a_rehearsals_stories_are_the_paths_its_workflows_took(tmp_path: Path, dev_server: Any,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A rehearsal of a journey with a split, an if/then on an open, a condition, a task, a wait and an exit on a
    purchase: each contact's re-derived story agrees with the state, and its steps and the moments it entered
    them are those of its workflow's result."""
    if temporal_missing() is not None:
        pytest.skip(str(temporal_missing()))
    from app.runner.calls import contact_workflow_id
    from app.runner.devserver import connect, free_port
    from app.runner.worker import RunSettings, run_journey
    from tests.runner_helpers import SmsSink, SmtpSink, contacts_project, package_of, unit_result
    from tests.test_runner_e2e import MIX
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 36, MIX, no_email=False)
    pkg = package_of(db, tmp_path / "mix.jpkg", "Rehearsal mix")
    r = from_package(pkg)
    script = {c: [{"after": "hello", "delay": 60, "event": "opened"}] if c % 4 == 1 else
              [{"after": "text", "delay": 60, "event": "purchase"}] if c % 3 == 0 else [] for c in pop.ids}
    smtp, sms = SmtpSink().start(), SmsSink().start()
    settings = RunSettings(contacts_db=str(db), state_dir=tmp_path / "state", temporal=dev_server.address,
                           smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=43_200.0, send_timeout=10,
                           listen=("127.0.0.1", free_port()), script=script)

    async def go() -> dict[int, list[list[Any]]]:
        await run_journey(r, settings)
        client = await connect(dev_server.address)
        state = StateDb(tmp_path / "state" / "runner.db")
        try:  # each contact's visits as its workflow took them
            return {c: (await unit_result(client, state, contact_workflow_id(r.key, c, 0)))["visits"]
                    for c in pop.audience}
        finally:
            state.close()
    try:
        import asyncio
        visits = asyncio.run(go())
    finally:
        smtp.stop()
        sms.stop()
    kinds = set()
    for c, took in visits.items():
        story = live_story(tmp_path / "state", r.key, r.plan, c, runnable=r)
        assert story.agrees is True, "\n".join(story.lines())
        doc = story.to_plain()
        told = [(i["step"], i["at"]) for i in doc["items"] if i["what"] == "step"]
        from app.semantics.timezones import utc_iso
        assert told == [(step, utc_iso(at)) for step, at, _, _ in took if step != "end"], (c, took, told)
        kinds.add(tuple(step for step, _ in told))
    assert len(kinds) >= 4, kinds  # the split's paths, the open, the condition, the purchase
    assert any("call" in k for k in kinds) and any("later" in k for k in kinds), kinds
    assert any(i.what == "step" and "its event 'purchase'" in i.text and "the goal" in i.text
               for c in visits for i in live_story(tmp_path / "state", r.key, r.plan, c, runnable=r).items)
    code, out, err = run(capsys, "trace", db, pkg, "--contact", str(pop.audience[0]), "--state-dir",
                         tmp_path / "state")
    assert code == 0 and "The derived path agrees with the runner's state" in out, err


def test_an_ab_decision_kept_in_the_state_sends_a_later_repetition_down_the_winner(tmp_path: Path) -> None:
    from tests.runner_helpers import contacts_project, package_of
    project = tmp_path / "ab.jstudio"
    contacts_project(project, 6, (BRANCHES.parent / "ab-test.yaml").read_text(encoding="utf-8"))
    r = from_package(package_of(project, tmp_path / "ab.jpkg", "Subject test"))
    ab = next(s for s in r.plan.steps if s.id == "ab")
    c = next(c for c in range(1, 7) if ab.thresholds[0] <= split_draw(0, ab, c) < ab.thresholds[1])  # draws B
    s0, s1 = r.plan.iterations[0][0], r.plan.iterations[1][0]
    assert ab.ab is not None and s0 < ab.ab.decide_at <= s1
    folder = tmp_path / "ab.jpkg.run"
    folder.mkdir()
    state = StateDb(folder / "runner.db")
    try:
        state.put("journey", {"key": r.key, "digest": r.digest})
        state.put("clock", [0.0, float(s0), 1.0])
        state.put("final_counts", {"final": True, "ended_at": datetime.fromtimestamp(9 * DAY, timezone.utc)
                                   .isoformat()})
        state.put("worker", {"temporal": "localhost:1", "contacts_db": str(project)})
        state.put(f"ab_decision:{r.key}:ab", {"route": "A", "decided_at": "2027-01-14T08:00:00Z",
                                              "reason": "A was opened more"})
        for k, at, step in ((0, s0, "mail_B"), (1, s1, "mail_A")):
            wid = f"{r.key}:c{c}:{k}"
            state.record_enrolments(r.key, k, [(c, wid, at)])
            state.claim_many([{"key": f"{wid}:{step}", "journey": r.key, "contact": c, "iteration": k,
                               "step_id": step, "channel": "email", "transport_id": f"t{k}"}])
            state.mark_many([(f"{wid}:{step}", "sent", at)])
    finally:
        state.close()
    story = live_story(folder, r.key, r.plan, c, runnable=r)
    text = _text(story)
    assert story.agrees is True, text
    assert f"'Subject test' (repetition 1): entered and left at once: path B: its draw {split_draw(0, ab, c):.4f}" \
           " (A below 0.4500, B below 0.9000) (in the A/B test's test period)" in text, text
    assert "'Subject test' (repetition 2): entered and left at once: path A: the A/B test's decision (path A, kept " \
           "in the runner's state) sends every contact arriving from" in text
    assert "each of its 2 sends is a message step the path sent, at the same simulated second" in text


def test_an_exit_on_a_segment_is_said_not_rederived(tmp_path: Path) -> None:
    from tests.runner_helpers import contacts_project, package_of
    project = tmp_path / "seg.jstudio"
    text = BRANCHES.read_text(encoding="utf-8").replace("exit_when: [{event: purchase}, {event: form_submitted}]",
                                                        "exit_when: [{event: purchase}, {segment: Staff, when: joins}]")
    contacts_project(project, 4, text)
    r = from_package(package_of(project, tmp_path / "seg.jpkg", "Story branches"))
    s0 = r.plan.start
    folder = _state(tmp_path / "seg.jpkg.run", r, s0 + DAY, str(project), {1: s0}, [(1, "hello", "sent", s0)], [])
    text = _text(live_story(folder, r.key, r.plan, 1, runnable=r))
    assert "Note: an exit on joining or leaving a segment ('Staff') is not re-derived" in text, text


def test_a_contact_moved_here_from_the_previous_version_is_derived_from_the_step_it_was_moved_to(
        shop: dict[str, Any], tmp_path: Path) -> None:
    import sqlite3

    from app.runner.migrate_flight import LEDGER
    r = shop["r"]
    s0 = r.plan.start
    moved = s0 + DAY
    folder = _state(tmp_path / "b.jpkg.run", r, s0 + 40 * DAY, str(shop["project"]), {3: moved},
                    [(3, "reminder", "sent", moved), (3, "nudge", "sent", moved)], [])
    con = sqlite3.connect(folder / "runner.db")
    try:
        con.execute(LEDGER)
        con.execute("INSERT INTO in_flight_moves (unit, workflow, iteration, contacts, from_step, action, target, "
                    "status, sim_at) VALUES ('u3', 'w3', 0, '[3]', 'old_wait', 'move', 'reminder', 'moved', ?)",
                    (moved,))
        con.commit()
    finally:
        con.close()
    story = live_story(folder, r.key, r.plan, 3, runnable=r)
    text = _text(story)
    assert story.agrees is True, text
    assert "moved here from the previous version's step 'old_wait' (versions in flight)" in text
    steps = [i.step for i in story.items if i.what == "step"]
    assert steps == ["reminder", "nudge"], text


def test_the_split_seed_the_run_recorded_is_used_unless_one_is_given(shop: dict[str, Any], tmp_path: Path) -> None:
    """The runner keeps its split seed in its worker settings: the story re-derives the splits with it."""
    r = shop["r"]
    split = next(s for s in r.plan.steps if s.id == "split")
    folder = _state(tmp_path / "b.jpkg.run", r, r.plan.start + 40 * DAY, str(shop["project"]), {1: r.plan.start},
                    [(1, "hello", "sent", r.plan.start)],
                    [(1, {"name": "clicked", "at": r.plan.start + 3600, "step_id": "hello", "contact": 1}),
                     (1, {"name": "clicked:shop", "at": r.plan.start + 3600, "step_id": "hello", "contact": 1})],
                    seed=7)
    text = _text(live_story(folder, r.key, r.plan, 1, runnable=r))
    assert "split seed 7" in text
    assert f"its draw {split_draw(7, split, 1):.4f}" in text
    given = _text(live_story(folder, r.key, r.plan, 1, runnable=r, seed=3))
    assert "split seed 3" in given and f"its draw {split_draw(3, split, 1):.4f}" in given
