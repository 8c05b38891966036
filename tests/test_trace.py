"""One contact's story (`journey-studio trace`, simulator/story.py): every kind of branch explained with its
reason, the JSON form, agreement with the engine's saved trace on many contacts of several journeys, and bad
input as one line."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli.main import main
from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from app.semantics.outcomes import LABELS
from app.semantics.plan import compile_plan
from app.store import ProjectFile
from simulator.behaviour import BehaviourModel
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import RunRecord, load_run
from simulator.story import RunStories, StoryError, tell
from tests.cli_helpers import run

FIXTURES = Path(__file__).parent / "fixtures" / "story"


def _quiet(*args: str | Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main([str(a) for a in args])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with two saved runs: 1, 'Story branches' (every kind of if/then, a random split with a holdout,
    a wait until, quiet hours, a frequency cap, suppression, goal and exits); 2, 'Subject test' (an A/B split with
    a test period, weekly, B opened more, emails that unsubscribe and bounce)."""
    p = tmp_path_factory.mktemp("story") / "p.jstudio"
    assert _quiet("new", p) == 0
    assert _quiet("import", p, FIXTURES / "branches.yaml") == 0
    assert _quiet("import", p, FIXTURES / "ab-test.yaml") == 0
    assert _quiet("simulate", p, "--journey", "Story branches", "--contacts", "3000", "--seed", "5",
                  "--replicas", "2") == 0
    assert _quiet("simulate", p, "--journey", "Subject test", "--contacts", "3000", "--seed", "5",
                  "--behaviour", FIXTURES / "behaviour.yaml") == 0
    return p


def _contacts_by_outcome(p: Path, run_id: int) -> dict[tuple[str, str], list[int]]:
    """(step id, outcome label) -> the ids of contacts with such a row in the run's saved trace."""
    with ProjectFile.open(p, readonly=True) as pf:
        rec = load_run(pf, run_id)
    tr, ids = rec.trace(), rec.population_().contact_id
    v = tr.visits
    out: dict[tuple[str, str], list[int]] = {}
    for step, outcome, row in zip(v["step"].tolist(), v["outcome"].tolist(), v["contact"].tolist()):
        out.setdefault((tr.steps[step], LABELS[outcome]), []).append(int(ids[row]))
    return out


def _story(capsys: pytest.CaptureFixture[str], p: Path, run_id: int, contact: int) -> str:
    code, out, err = run(capsys, "trace", p, str(run_id), "--contact", str(contact))
    assert code == 0, err
    assert "Agrees with the run's saved trace" in out
    return out


def _why(text: str, step_name: str) -> str:
    """The 'why' line under the first step line naming `step_name`."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if f"  {step_name} [" in line)
    return lines[at + 1].strip()


# --- every kind of branch, with its reason -------------------------------------------------------------------

@pytest.mark.parametrize("step, outcome, name, expected", [
    ("clicked", "yes", "Clicked shop within 2 days?",
     ["waited for a click on the link 'shop' of 'Hello email' within 2 days", "it happened at", ": yes"]),
    ("clicked", "no", "Clicked shop within 2 days?",
     ["counted from its delivery at", "it did not happen by then", ": no"]),
    ("tier", "yes", "Gold or platinum?",
     ["its loyalty_tier is '", "tested 'loyalty_tier in ['gold', 'platinum']': yes"]),
    ("tier", "no", "Gold or platinum?", ["tested 'loyalty_tier in ['gold', 'platinum']': no"]),
    ("big", "yes", "Big spender?", ["was in segment 'Big spenders' at", ": yes"]),
    ("big", "no", "Big spender?", ["was not in segment 'Big spenders' at", ": no"]),
    ("split", "path A", "Offer split", ["drew 0.", "(A 0.000-0.450, B 0.450-0.900, held out 0.900-1): path A"]),
    ("split", "path B", "Offer split", ["drew 0.", ": path B"]),
    ("split", "holdout", "Offer split", ["drew 0.9", "held out (the control group)"]),
    ("until", "passed", "Wait for the sale", ["waited until Thu 10 Dec 2026 09:00"]),
    ("nudge", "capped", "Nudge text",
     ["the text message 'Offer text' (\"20% off\") was not sent: the journey's frequency cap (2 per 3 days) was "
      "reached (sent "]),
    ("hello", "suppressed", "Hello email", ["not sent: it was in the suppression segment 'Unsubscribed' at"]),
    ("clicked", "goal", "Clicked shop within 2 days?", ["reached the goal at", "purchase"]),
    ("clicked", "exited", "Clicked shop within 2 days?", ["left on the exit condition at", "form_submitted"]),
    ("bye", "passed", "Leave", ["an exit tile: the journey ends here for it"]),
])
def test_trace_explains_each_kind_of_branch(capsys: pytest.CaptureFixture[str], project: Path, step: str,
                                            outcome: str, name: str, expected: list[str]) -> None:
    who = _contacts_by_outcome(project, 1)[(step, outcome)]
    for contact in who[:3]:
        why = _why(_story(capsys, project, 1, contact), name)
        for part in expected:
            assert part in why, (contact, why)


def test_a_message_held_by_the_quiet_hours_says_from_when_to_when_in_whose_time(
        capsys: pytest.CaptureFixture[str], project: Path) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        rec = load_run(pf, 1)
    tr, ids = rec.trace(), rec.population_().contact_id
    v = tr.visits
    held = np.flatnonzero((v["step"] == tr.steps.index("hello")) & (v["t_leave"] > v["t_enter"]))
    assert len(held)
    out = _story(capsys, project, 1, int(ids[v["contact"][held[0]]]))
    why = _why(out, "Hello email")
    assert "held by the quiet hours (21:00-08:00 in " in why and ", the contact's time) from Tue 1 Dec 2026 09:00" \
        in why


def test_an_ab_split_says_before_or_after_the_decision_and_which_path_won(
        capsys: pytest.CaptureFixture[str], project: Path) -> None:
    paths = _contacts_by_outcome(project, 2)
    contact = paths[("ab", "path A")][0]
    out = _story(capsys, project, 2, contact)
    assert "in the A/B test (before its decision at Thu 14 Jan 2027 09:00)" in out
    assert "; the test then decided: path B won: " in out  # a contact of the test is told what it decided
    assert "Repetition 2:" in out
    assert ("after the A/B test's decision at Thu 14 Jan 2027 09:00: path B had been chosen (path B won: "
            in out)
    assert "so it took path B (its draw, 0." in out and "is below the holdout's 0.900: not held out)" in out
    held = paths[("ab", "holdout")][0]
    assert "held out (the control group; an A/B winner does not change that)" in _story(capsys, project, 2, held)


def test_unsubscribes_and_hard_bounces_that_held_a_later_message_back_are_named(
        capsys: pytest.CaptureFixture[str], project: Path) -> None:
    suppressed = _contacts_by_outcome(project, 2)[("mail_B", "suppressed")]
    reasons = {"unsubscribed": 0, "bounced": 0}
    for contact in suppressed[:40]:
        out = _story(capsys, project, 2, contact)
        if "it had unsubscribed from emails on " in out:
            reasons["unsubscribed"] += 1
            assert "unsubscribed from emails" in out  # what it did with the earlier message is told too
        if "its address had hard-bounced from emails on " in out:
            reasons["bounced"] += 1
            assert "it bounced: the address is dead (a hard bounce)" in out
    assert reasons["unsubscribed"] and reasons["bounced"], reasons


def test_what_the_contact_did_with_a_message_is_listed_with_the_link(
        capsys: pytest.CaptureFixture[str], project: Path) -> None:
    contact = _contacts_by_outcome(project, 1)[("clicked", "yes")][0]
    out = _story(capsys, project, 1, contact)
    assert "the email was delivered" in out and "opened it" in out and "clicked the link 'shop'" in out


def test_a_contact_who_never_entered_is_told_why_and_whether_it_was_in_the_audience(
        capsys: pytest.CaptureFixture[str], project: Path) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        rec = load_run(pf, 1)
    entered = set(rec.trace().units["contact"].tolist())
    ids = rec.population_().contact_id
    outside = next(int(ids[r]) for r in range(len(ids)) if r not in entered)
    code, out, _ = run(capsys, "trace", project, "1", "--contact", str(outside))
    assert code == 0
    assert "It never entered: its consent (" in out and "it was not in the audience" in out


def test_the_json_form_carries_every_step_with_its_reason(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    contact = _contacts_by_outcome(project, 1)[("split", "path A")][0]
    code, out, err = run(capsys, "trace", project, "1", "--contact", str(contact), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "contact-story/1" and doc["contact"] == contact and doc["run"] == 1
    assert doc["agrees_with_trace"] is True and doc["entered"] is True
    kinds = [s["reason"].get("kind") for s in doc["steps"]]
    assert kinds[:2] == ["message", "event"] and "split" in kinds and "wait_until" in kinds
    split = next(s for s in doc["steps"] if s["step"] == "split")
    assert split["outcome"] == "path A" and 0 <= split["reason"]["draw"] < 0.45
    assert [b["path"] for b in split["reason"]["paths"]] == ["A", "B"]
    assert split["reason"]["holdout_from"] == pytest.approx(0.9)
    hello = doc["steps"][0]
    assert hello["reason"]["channel"] == "email" and hello["reason"]["content"] == "Hello email"
    assert hello["reason"]["says"] == "Hello" and "sent the email 'Hello email' (\"Hello\")" in hello["why"]
    assert hello["did"][0]["what"] == "delivered" and hello["entered"].endswith("Z")


def test_another_replica_is_told_and_says_it_was_not_checked(capsys: pytest.CaptureFixture[str],
                                                              project: Path) -> None:
    code, out, _ = run(capsys, "trace", project, "1", "--contact", "7", "--replica", "2")
    assert code == 0
    assert "(replica 2;" in out and "Replica 2's trace is not kept with the run" in out


# --- agreement with the engine's trace ---------------------------------------------------------------------

def _record(name: str, n: int, seed: int, **changes: Any) -> RunRecord:
    j, contents, segments = read_journey_file(resource_path("templates", f"{name}.yaml"))
    for k, v in changes.items():
        setattr(j, k, v)
    plan = compile_plan(j)
    pop = population_for(plan, n, seed, definitions={s.name: s for s in segments})
    result = simulate(plan, pop, BehaviourModel(), seed, 1, chunk_size=n // 3 + 1)
    return RunRecord.from_result(result, j, pop.spec, BehaviourModel(), chunk_size=n // 3 + 1,
                                 content={c.name: c for c in contents}, segments={s.name: s for s in segments})


@pytest.mark.parametrize("name, changes, every", [
    ("announcement", {}, 3), ("re-engagement", {}, 3), ("welcome-series", {}, 3), ("abandoned-cart", {}, 3),
    ("announcement", {"target": "accounts"}, 5), ("renewal-reminder", {}, 60)])
def test_stories_agree_with_the_saved_trace_on_every_template(name: str, changes: dict[str, Any],
                                                               every: int) -> None:
    rec = _record(name, 1500, 11, **changes)
    stories = RunStories(rec, run=1)
    entered = np.unique(rec.trace().units["contact"])
    ids = stories.contacts()
    rows = sorted(set(range(0, len(ids), every)) | set(entered[::every].tolist()))
    told = [stories.tell(int(ids[r])) for r in rows]
    assert all(s.agrees for s in told), [s.contact for s in told if not s.agrees][:5]
    assert sum(s.entered for s in told) >= min(20, len(entered) // every)


def test_stories_agree_on_every_contact_of_the_branch_and_ab_runs(project: Path) -> None:
    kinds: set[str] = set()
    with ProjectFile.open(project, readonly=True) as pf:
        records = [load_run(pf, 1), load_run(pf, 2)]
    for run_id, rec in enumerate(records, 1):
        stories = RunStories(rec, run=run_id)
        for c in stories.contacts()[::2].tolist():
            s = stories.tell(int(c))
            assert s.agrees, (run_id, c)
            kinds |= {str(st.reason.get("kind")) for st in s.steps}
            kinds |= {f"held:{st.reason['held_back']['by']}" for st in s.steps if "held_back" in st.reason}
            kinds |= {"quiet_hours" for st in s.steps if "quiet_hours" in st.reason}
    assert kinds >= {"message", "event", "condition", "segment", "split", "wait_until", "exit_tile", "goal", "exit",
                     "end", "held:suppression", "held:frequency_cap", "held:unsubscribed", "held:hard_bounce",
                     "quiet_hours"}, kinds


def test_a_run_made_by_another_engine_version_is_told_from_its_trace_without_reasons() -> None:
    rec = _record("announcement", 600, 2)
    old = replace(rec, engine_version="0-old")
    entered = int(rec.trace().units["contact"][0])
    contact = int(rec.population_().contact_id[entered])
    s = tell(old, contact, run=3)
    assert s.reasons is False and s.agrees is None and s.steps
    assert "cannot re-derive it" in s.checked
    assert [st.step for st in s.steps] == [st.step for st in tell(rec, contact).steps]
    with pytest.raises(StoryError, match="cannot re-derive it, and only replica 1's trace is kept"):
        RunStories(replace(old, replicas=2), replica=1)


# --- bad input: one line -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["9", "--contact", "4"], "there is no saved simulation run 9 (see: journey-studio runs"),
    (["1", "--contact", "99999"],
     "contact 99999 is not in run 1: its population has 3,000 synthetic contacts (ids 1 to 3000)"),
    (["1", "--contact", "4", "--replica", "3"], "run 1 has 2 replicas: there is no replica 3"),
    (["1", "--contact", "4", "--replica", "0"], "--replica"),
    (["1", "--contact", "x"], "--contact"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], project: Path, args: list[str],
                               message: str) -> None:
    code, out, err = run(capsys, "trace", project, *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    if message.startswith("--"):  # an option click refuses: its usage lines, then the error in one line
        assert err.strip().splitlines()[-1].startswith("Error: Invalid value for '--")
    else:
        assert len(err.strip().splitlines()) == 1


def test_a_missing_project_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "trace", tmp_path / "nope.jstudio", "1", "--contact", "1")
    assert code == 2 and err.count("\n") == 1 and "no such project file" in err


# --- a live run: the story from the runner's state ----------------------------------------------------------

@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A project, its announcement's package, and the state its run left beside it: 40 contacts sent the email
    (opens, clicks, unsubscribes, purchases as a run of them leaves them), and contact 40 held back for want of
    an address."""
    from app.runner.runnable import from_package
    from app.runner.state import StateDb
    from tests.runner_helpers import contacts_project, package_of
    from tests.test_calibrate_live import START, _run_state
    folder = tmp_path_factory.mktemp("live")
    project = folder / "shop.jstudio"
    contacts_project(project, 5)
    pkg = package_of(project, folder / "a.jpkg")
    key = from_package(pkg).key
    _run_state(folder / "a.jpkg.run", 40, seed=3, delivered_events=True, key=key, step="announce")
    state = StateDb(folder / "a.jpkg.run" / "runner.db")
    try:
        wid = f"{key}:c40:0"
        state.record_enrolments(key, 0, [(40, wid, START + 100)])
        state.claim_many([{"key": f"{wid}:announce", "journey": key, "contact": 40, "iteration": 0,
                           "step_id": "announce", "channel": "email", "transport_id": "t40"}])
        state.mark_many([(f"{wid}:announce", "no_address", START + 160)])
        wid = f"{key}:c41:0"  # sent the announcement, then the launch text: it took the if/then's yes
        state.record_enrolments(key, 0, [(41, wid, START + 100)])
        state.claim_many([{"key": f"{wid}:{step}", "journey": key, "contact": 41, "iteration": 0, "step_id": step,
                           "channel": channel, "transport_id": f"t41{step}"}
                          for step, channel in (("announce", "email"), ("launched", "sms"))])
        state.mark_many([(f"{wid}:announce", "sent", START + 160), (f"{wid}:launched", "sent", START + 9 * 86_400)])
    finally:
        state.close()
    return {"project": project, "pkg": pkg}


def test_a_live_runs_story_tells_what_the_runners_state_holds_and_what_it_cannot_show(
        capsys: pytest.CaptureFixture[str], live_run: dict[str, Path]) -> None:
    from app.runner.live_story import live_story
    from app.runner.runnable import from_package
    r = from_package(live_run["pkg"])
    state = live_run["pkg"].with_name("a.jpkg.run")
    stories = [live_story(state, r.key, r.plan, c) for c in range(40)]
    buyer = next(s for s in stories if any(i.what == "purchase" for i in s.items))
    clicker = next(s for s in stories if any(i.what == "clicked" for i in s.items))
    assert "'Product announcement email': clicked it" in "\n".join(clicker.lines()) or \
        any(i.text.endswith("clicked it") for i in clicker.items)
    code, out, err = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", str(buyer.contact))
    assert code == 0, err
    assert f"Contact {buyer.contact} in the live run of {r.key}" in out
    assert "entered the journey" in out and "the email was sent" in out
    assert "was delivered" in out
    assert "its own event: purchase (the goal: it leaves the journey)" in out
    assert "Not shown: the waits and if/then branches the contact went through (beyond those inferred" in out
    lines = [line for line in out.splitlines() if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert lines == sorted(lines, key=lambda line: [i for i in buyer.items
                                                    if i.text in line][0].at)  # in time order

    code, out, err = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", "40", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["live"] is True and doc["entered"][0]["iteration"] == 0
    held = [i for i in doc["items"] if i["what"] == "no_address"]
    assert held and "not sent: it has no address for this channel" in held[0]["text"]

    code, out, err = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", "41")
    assert code == 0, err
    assert "'Clicked product link?': took yes (inferred: it reached 'Product launched', to which only that way " \
           "leads; by then)" in out
    assert out.index("took yes") > out.index("'Product announcement': the email was sent")
    code, out, _ = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", str(buyer.contact))
    assert "took yes" not in out  # the announcement alone says nothing of the branch after it

    code, out, _ = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", "777")
    assert code == 0 and "It has not entered the journey (no enrolment in the run's state)." in out


def test_a_live_run_that_is_not_there_is_one_line(capsys: pytest.CaptureFixture[str], live_run: dict[str, Path],
                                                  tmp_path: Path) -> None:
    code, _, err = run(capsys, "trace", live_run["project"], tmp_path / "none.jpkg", "--contact", "1")
    assert code == 2 and err.count("\n") == 1 and "no such package file" in err
    code, _, err = run(capsys, "trace", live_run["project"], live_run["pkg"], "--contact", "1", "--replica", "2")
    assert code == 2 and err.count("\n") == 1 and "--replica is for a simulation run" in err


def test_a_run_of_the_projects_own_contacts_tells_them_and_says_who_was_not_in_its_audience(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "own.jstudio"
    assert _quiet("new", p) == 0 and _quiet("import", p, FIXTURES / "branches.yaml") == 0
    assert _quiet("population", p, "--contacts", "400", "--seed", "3") == 0
    assert _quiet("simulate", p, "--journey", "Story branches", "--population", "project", "--seed", "4") == 0
    with ProjectFile.open(p, readonly=True) as pf:
        rec = load_run(pf, 1)
    ids = set(rec.population_().contact_id.tolist())
    inside, outside = min(ids), min(set(range(1, 401)) - ids)
    out = _story(capsys, p, 1, inside)
    assert f"Contact {inside} in run 1 of 'Story branches'" in out
    code, _, err = run(capsys, "trace", p, "1", "--contact", str(outside))
    assert code == 2 and err.count("\n") == 1
    assert f"contact {outside} is not in run 1: the run simulated the {len(ids):,} project contacts who could " \
           "enter the journey, so it was not in the audience" in err


def test_a_goal_reached_after_leaving_is_told_as_counting_for_the_journey(project: Path) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        rec = load_run(pf, 1)
    u = rec.trace().units
    later = np.flatnonzero((u["goal"] >= 0) & (u["outcome"] != 23))  # 23: left on the goal itself
    assert len(later)
    stories = RunStories(rec, run=1)
    for row in u["contact"][later[:5]].tolist():
        s = stories.tell(int(stories.contacts()[row]))
        goal = [h for st in s.steps for h in st.happenings if h.what == "goal"]
        assert len(goal) == 1 and goal[0].at == int(u["goal"][u["contact"] == row][0]) + rec.trace().t0
        assert "reached the goal (purchase)" in goal[0].text and "within 30 days of entering" in goal[0].text


def test_a_live_story_infers_only_the_branches_every_way_to_a_reached_message_goes_through() -> None:
    from app.runner.live_story import inferred_branches
    j, contents, _ = read_journey_file(FIXTURES / "branches.yaml")
    plan = compile_plan(j, content={c.name: c for c in contents})
    took = {i.step: i.text for i in inferred_branches(plan, {"hello": 10, "offer_sms": 20})}
    # the text is reached only by a click, then either tier or big spender (no inference there), then path B
    assert set(took) == {"clicked", "split"}
    assert "took yes" in took["clicked"] and "took B" in took["split"]
    assert {i.step for i in inferred_branches(plan, {"hello": 10, "nudge": 20})} == {"clicked"}
    assert "took no" in inferred_branches(plan, {"nudge": 20})[0].text
    assert inferred_branches(plan, {"hello": 10}) == []
