"""Versions in flight (issue 18, item 3): publishing version N+1 of a live journey says what happens to the contacts
still on version N (finish on N, move to a step of N+1, leave), checked before anything is frozen, carried in the
package's manifest, recorded as a milestone and previewed with a run's live counts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.codec.yamlio import read_journey_text
from app.model.journey import Journey
from app.package.build import version_doc
from app.package.errors import PackageError
from app.package.in_flight import (FINISH, LEAVE, MOVE, InFlight, InFlightError, choice_from_options, from_plain,
                                   moved_population, preview, resolve, totals, waiting_from_counts)
from app.package.manifest import parse_manifest
from app.package.read import read_package
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.samples import ANNOUNCEMENT
from tests.runner_helpers import dev_server, needs_temporal
from tests.test_package import NAME, entries, make_project, rezip

Cap = pytest.CaptureFixture[str]
_fixtures = (dev_server,)

# version 2 of the announcement: the wait 'launch' is gone (a click goes straight to the text message), a wait
# 'pause' and an exit 'bye' are new, and 'reclicked' waits for a click on a new email 'again'
V2_STEPS = """\
steps:
  announce: {type: email, content: Product announcement email, next: clicked}
  clicked:
    type: if-then
    wait_for: {event: link_clicked, step: announce, link: product-details}
    within: 1d
    yes: launched
    no: pause
  pause: {type: wait, name: Wait 2 days, duration: 2d, next: again}
  again: {type: email, content: Product announcement email, next: reclicked}
  reclicked:
    type: if-then
    wait_for: {event: opened, step: again}
    within: 1d
    yes: launched
    no: bye
  bye: {type: exit}
  launched: {type: sms, content: Product launched text}
"""


def _v2_text() -> str:
    head, _, rest = ANNOUNCEMENT.partition("steps:\n")
    tail = rest[rest.index("content:\n"):]
    return head + V2_STEPS + tail


def _journey(text: str, version: int) -> Journey:
    j, _, _ = read_journey_text(text)
    j.version = version
    return j


@pytest.fixture
def versions() -> tuple[Journey, Journey]:
    return _journey(ANNOUNCEMENT, 1), _journey(_v2_text(), 2)


@pytest.fixture
def released(tmp_path: Path, capsys: Cap) -> Path:
    """A project whose announcement is released as version 1 (packaged) and whose draft is version 2."""
    project = make_project(tmp_path / "p.jstudio")
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "v1.jpkg")
    assert code == 0, stderr
    v2, _, _ = read_journey_text(_v2_text())
    with ProjectFile.open(project) as pf:
        j = pf.project.journey(NAME)
        for sid in list(j.steps):
            if sid not in v2.steps:
                j.remove_step(sid)
        for sid, step in v2.steps.items():
            if sid not in j.steps:
                j.add_step(step.clone())
        for sid, step in v2.steps.items():
            j.set_props(sid, step.props)
            for port, target in step.outputs.items():
                j.connect(sid, port, target)
    return project


# --- the plan ------------------------------------------------------------------------------------------------

def test_steps_kept_by_id_move_to_the_same_step_and_a_removed_wait_needs_a_choice(versions: Any) -> None:
    old, new = versions
    with pytest.raises(InFlightError) as e:
        resolve(InFlight(1), old, new)
    assert e.value.lines == ["contacts waiting at 'Wait until 10 Dec 09:00' (launch), which version 2 removes, need "
                             "a choice: --move launch=STEP, --leave launch or --finish launch"]
    plan = resolve(InFlight(1, MOVE, {"launch": "launched"}), old, new)
    # a contact is at a message step only for the moment of its send: moving it to the same message would send it
    # again, so it finishes that move on version 1; an if/then waiting for a click on a message sent on version 1
    # hears of the click in version 1's run, so its contacts finish there too
    assert {s: (d.action, d.target, d.why) for s, d in plan.decisions.items()} == {
        "announce": (FINISH, None, "fleeting"), "clicked": (FINISH, None, "events"),
        "launch": (MOVE, "launched", "chosen"), "launched": (FINISH, None, "fleeting")}
    left = resolve(InFlight(1, MOVE, {}, frozenset({"launch"})), old, new)
    assert left.decision("launch").action == LEAVE and left.counts() == {FINISH: 3, MOVE: 0, LEAVE: 1}
    with pytest.raises(InFlightError) as e:  # nor can anyone be moved to such an if/then
        resolve(InFlight(1, MOVE, {"launch": "clicked"}), old, new)
    assert e.value.lines == [
        "--move launch=clicked: 'product-details clicked within 1 day?' waits for an event on message 'announce', "
        "sent on version 1: its opens and clicks come to the run of version 1, so contacts moved there would never be "
        "seen to do it (use --finish launch, or choose another step)"]
    finish = resolve(InFlight(1, FINISH), old, new)
    assert {d.action for d in finish.decisions.values()} == {FINISH}
    assert finish.summary() == "contacts in flight on version 1 finish on their version; not moved to version 2"


def test_a_removed_step_nobody_waits_at_finishes_on_the_old_version(versions: Any) -> None:
    old, new = versions
    del new.steps["launched"]  # the text message: contacts are there only for the moment of its send
    new.steps["clicked"].outputs["yes"] = "pause"
    plan = resolve(InFlight(1, MOVE, {"launch": "pause"}), old, new)
    assert (plan.decision("launched").action, plan.decision("launched").why) == (FINISH, "fleeting")


def test_every_problem_with_a_choice_is_one_line(versions: Any) -> None:
    old, new = versions
    choice = InFlight(1, MOVE, {"launch": "nowhere", "announce": "bye", "clicked": "reclicked", "gone": "pause"},
                      frozenset({"announce", "launched\x00"}))
    with pytest.raises(InFlightError) as e:
        resolve(choice, old, new)
    assert e.value.lines == [
        "--leave: 'launched\\x00' is not a step id (1 to 200 characters, no control characters)",
        "version 1 has no step 'gone' (its steps: announce, clicked, launch, launched)",
        "step 'announce' is both moved and left: choose one",
        "--move launch=nowhere: version 2 has no step 'nowhere' (its steps: again, announce, bye, clicked, "
        "launched, pause, reclicked)",
        "--move announce=bye: step 'bye' is an exit, which ends the journey: contacts cannot wait there (use --leave "
        "announce)",
        "--move clicked=reclicked: 'Opened within 1 day?' waits for an event on message 'again', which version 1 "
        "does not have: contacts moved there were never sent it (choose another step)"]
    assert str(e.value).endswith("6 problems")


def test_a_move_never_sends_a_message_again(versions: Any) -> None:
    old, new = versions
    with pytest.raises(InFlightError) as e:  # back to the first email: those waiting at 'launch' were sent it
        resolve(InFlight(1, MOVE, {"launch": "announce", "clicked": "pause"}), old, new)
    assert e.value.lines == [
        "--move launch=announce: contacts there may have been sent 'Product announcement email' on version 1, "
        "which version 2 sends again from 'Product announcement email': a message is never sent twice (choose a "
        "later step)"]
    plan = resolve(InFlight(1, MOVE, {"launch": "launched", "clicked": "pause"}), old, new)
    assert plan.decision("clicked").target == "pause"  # 'again' is a new message, not sent on version 1


def test_the_options_are_read_strictly() -> None:
    choice = choice_from_options(0, None, ["launch=launched", " a = b "], ["x"])
    assert choice.default == MOVE and dict(choice.moves) == {"launch": "launched", "a": "b"}
    assert choice.leave == frozenset({"x"})
    with pytest.raises(InFlightError) as e:
        choice_from_options(0, "stay", ["launch", "a=b", "a=c", "=x"], [])
    assert e.value.lines == [
        "--move 'launch': write it as STEP=TARGET (a step of the published version = a step of the new one)",
        "--move: step 'a' is given twice, to 'b' and 'c'",
        "--move '=x': write it as STEP=TARGET (a step of the published version = a step of the new one)",
        "--in-flight: 'stay' is not one of finish, move"]


def test_the_manifest_form_round_trips_and_is_bounded(versions: Any) -> None:
    old, new = versions
    plan = resolve(InFlight(1, MOVE, {"launch": "launched"}), old, new)
    doc = json.loads(json.dumps(plan.to_plain()))
    assert from_plain(doc, "p.jpkg") == plan
    for bad, says in [({**doc, "format": "in-flight/9"}, "format must be"),
                      ({**doc, "from_version": 2}, "'from_version' and 'to_version'"),
                      ({**doc, "steps": {"launch": {"action": "move"}}}, "needs a target"),
                      ({**doc, "steps": {"launch": {"action": "leave", "target": "x"}}}, "has no target"),
                      ({**doc, "steps": {f"s{i}": {"action": "finish"} for i in range(2001)}}, "at most 2000"),
                      ({**doc, "default": "teleport"}, "'default' must be")]:
        with pytest.raises(InFlightError, match=says):
            from_plain(bad, "p.jpkg")


def test_the_preview_says_what_happens_to_whom_with_the_live_counts(versions: Any) -> None:
    old, new = versions
    plan = resolve(InFlight(1, MOVE, {"launch": "launched"}), old, new)
    counts = {"steps": [{"step": "announce", "waiting": 0}, {"step": "clicked", "waiting": 38},
                        {"step": "launch", "waiting": 412}, {"step": "launched", "waiting": 1},
                        {"step": "x\x00", "waiting": 5}, {"step": "clicked", "waiting": True}, "junk"]}
    waiting = waiting_from_counts(counts)
    assert waiting == {"clicked": 38, "launch": 412, "launched": 1}
    lines = preview(plan, old, new, waiting)
    assert [ln.text for ln in lines] == [
        "38 contacts wait at 'product-details clicked within 1 day?': they will finish on version 1 (the event they "
        "wait for comes to its run)",
        "412 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: they will move to 'Product "
        "launched text' of version 2",
        "1 contact waits at 'Product launched text': they will finish on version 1"]
    assert totals(lines) == {FINISH: 39, MOVE: 412, LEAVE: 0}
    assert moved_population(plan, waiting) == {"launched": 412}
    gone = preview(resolve(InFlight(1, FINISH, {}, frozenset({"launch"})), old, new), old, new, {})
    assert [ln.text for ln in gone] == ["0 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: "
                                        "they will leave the journey"]


# --- packages ------------------------------------------------------------------------------------------------

def test_package_carries_the_plan_records_a_milestone_and_verify_shows_it(released: Path, tmp_path: Path,
                                                                          capsys: Cap) -> None:
    out = tmp_path / "v2.jpkg"
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", out)
    assert code == 0 and "step 'launch' removed" in stderr  # without the options: nothing carried
    assert "in_flight" not in read_package(out).manifest
    with ProjectFile.open(released) as pf:  # a third version, from the second, to choose for
        pf.project.journey(NAME).set_props("pause", {"duration": timedelta(days=3)})
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v3.jpkg",
                          "--in-flight", "move", "--leave", "pause")
    assert code == 0, stderr
    assert "In flight: contacts in flight on version 2 move to the same steps of version 3; chosen: pause: leave" \
        in stderr
    plan = from_plain(read_package(tmp_path / "v3.jpkg").manifest["in_flight"], "v3")
    assert (plan.from_version, plan.to_version, plan.decision("pause").action) == (2, 3, LEAVE)
    with ProjectFile.open(released) as pf:
        kinds = [(k, d) for k, _, d in pf.milestones(NAME) if k == "in-flight"]
    assert kinds == [("in-flight", "version 3: contacts in flight on version 2 move to the same steps of version 3; "
                                   "chosen: pause: leave")]
    code, stdout, _ = run(capsys, "verify", tmp_path / "v3.jpkg")
    assert code == 0 and "  in flight     contacts in flight on version 2 move to the same steps" in stdout
    review = make_project(tmp_path / "review.jstudio")  # import-package records it with the package's provenance
    code, _, stderr = run(capsys, "import-package", review, tmp_path / "v3.jpkg", "--rename")
    assert code == 0, stderr
    with ProjectFile.open(review) as pf:
        imported = [j for j in pf.project.journeys if j.name != NAME][0]
        assert ("in-flight", "version 3: contacts in flight on version 2 move to the same steps of version 3; "
                             "chosen: pause: leave") in [(k, d) for k, _, d in pf.milestones(imported.id)]


def test_package_refuses_a_plan_that_cannot_be_done_before_freezing_anything(released: Path, tmp_path: Path,
                                                                            capsys: Cap) -> None:
    out = tmp_path / "v2.jpkg"
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", out, "--in-flight", "move")
    assert code == 1 and not out.exists()
    assert "  contacts waiting at 'Wait until 10 Dec 09:00' (launch), which version 2 removes, need a choice" in stderr
    assert "(no package was written, nothing was frozen)" in stderr
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1]
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", out, "--move", "launch=launched")
    assert code == 0, stderr
    assert "  contacts at 'launch' move to 'launched'" in stderr
    # how the live runner carries it out: said when the plan is made, and by a `run` without --replaces
    note = ("Note: The plan is carried out when this version is run with --replaces and the state folder of the run "
            "of version 1 (NAME.jpkg.run); run without it, the contacts on version 1 finish on version 1")
    assert note in stderr.splitlines()
    code, _, stderr = run(capsys, "run", out)
    assert code == 2 and stderr.splitlines()[0] == note and "--contacts-db" in stderr
    code, _, stderr = run(capsys, "run", tmp_path / "v1.jpkg")
    assert code == 2 and "Note:" not in stderr
    with ProjectFile.open(released) as pf:
        doc = version_doc(pf, pf.project.journey(NAME).id, 2)
    assert "launch" not in doc["steps"]
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "again.jpkg",
                          "--in-flight", "finish")
    assert code == 1 and "version 2 is the released version again (unchanged)" in stderr


def test_package_previews_the_plan_with_the_live_counts_of_the_run(released: Path, tmp_path: Path,
                                                                   capsys: Cap) -> None:
    out = tmp_path / "v2.jpkg"
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", out, "--move", "launch=launched",
                          "--in-flight-from", tmp_path / "nowhere.jpkg.run")
    assert code == 2 and "--in-flight-from: " in stderr and "no such file or folder" in stderr and not out.exists()
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1]  # nothing frozen
        jid = pf.project.journey(NAME).id
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"key": f"{jid}:v1", "steps": [{"step": "clicked", "waiting": 38},
                                                                {"step": "launch", "waiting": 412}]}))
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", out, "--move", "launch=launched",
                          "--leave", "clicked", "--in-flight-from", status)
    assert code == 0, stderr
    assert stderr.splitlines()[-3:] == [
        f"In flight now on version 1 ({status}): 450 contacts: 412 move to version 2, 0 finish on version 1, 38 leave",
        "  38 contacts wait at 'product-details clicked within 1 day?': they will leave the journey",
        "  412 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: they will move to 'Product "
        "launched text' of version 2"]


def test_the_counts_of_a_run_are_read_from_its_state_folder(released: Path, tmp_path: Path) -> None:
    from app.runner.in_flight_read import run_counts, run_version
    from app.runner.runnable import RunnerError
    from app.runner.status import keep_final_counts
    with ProjectFile.open(released) as pf:
        jid = pf.project.journey(NAME).id
    state = tmp_path / "v1.jpkg.run"  # the run of the package the fixture wrote, over: its kept counts
    state.mkdir()
    keep_final_counts(state, {"key": f"{jid}:v1", "steps": [{"step": "launch", "waiting": 0, "entered": 9}]})
    counts = run_counts(state)
    assert run_version(counts) == (jid, 1) and counts["final"] is True and waiting_from_counts(counts) == {}
    assert run_counts(tmp_path / "v1.jpkg")["steps"] == counts["steps"]  # named by its package
    (tmp_path / "big.json").write_bytes(b"[" * (17 << 20))
    for bad, says in [(tmp_path, "not a run's state folder"), (tmp_path / "big.json", "larger than 16 MiB"),
                      (tmp_path / "v1.jpkg.run" / "runner.db", "cannot be read|not a journey package")]:
        with pytest.raises(RunnerError, match=says):
            run_counts(bad)


def test_first_version_has_nobody_in_flight(tmp_path: Path, capsys: Cap) -> None:
    project = make_project(tmp_path / "p.jstudio")
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "v1.jpkg",
                          "--in-flight", "finish")
    assert code == 1 and "version 1 is the journey's first: no contacts are in flight on an earlier one" in stderr


def test_a_manifest_whose_plan_was_edited_is_refused(released: Path, tmp_path: Path, capsys: Cap) -> None:
    out = tmp_path / "v2.jpkg"
    assert run(capsys, "package", released, "--journey", NAME, "--out", out, "--move", "launch=launched")[0] == 0
    files = entries(out)
    manifest = json.loads(files["manifest.json"])
    manifest["in_flight"]["to_version"] = 7
    with pytest.raises(PackageError, match="'in_flight' is not valid|'in_flight' is for another version"):
        parse_manifest(json.dumps(manifest).encode(), "v2.jpkg")
    manifest["in_flight"]["to_version"] = 2
    manifest["in_flight"]["steps"]["launch"] = {"action": "move"}
    files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PackageError, match="edited.jpkg: 'in_flight' is not valid: step 'launch' moves: it needs"):
        read_package(rezip(tmp_path / "edited.jpkg", files))
    manifest["in_flight"]["steps"]["launch"] = {"action": "move", "target": "launch"}  # not a step of version 2
    files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PackageError, match="step 'launch' moves to 'launch', which is not a step contacts can be put "
                                           "on in version 2"):
        read_package(rezip(tmp_path / "edited.jpkg", files))


# --- the Go live dialog --------------------------------------------------------------------------------------

@pytest.mark.gui
def test_go_live_previews_what_happens_to_contacts_in_flight_with_the_live_counts(released: Path, tmp_path: Path,
                                                                                  qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication

    from designer.document import Document
    from designer.panels.package_dialog import PackageDialog
    document = Document(ProjectFile.open(released))
    try:
        dialog = PackageDialog(document)
        qtbot.addWidget(dialog)
        box = dialog.in_flight
        assert box.isVisibleTo(dialog) and box.title() == "Contacts in flight on version 1"
        assert box.default.currentText() == "Move them to the same steps of version 2"
        assert [it.text(0) for i in range(box.steps.topLevelItemCount())
                if (it := box.steps.topLevelItem(i)) is not None] == [
            "Wait until 10 Dec 09:00 (removed in version 2)"]
        assert box.combos["launch"].currentText() == "Choose…"
        assert not box.runner_note.isVisibleTo(dialog)  # nothing is decided yet
        assert not dialog.create_button.isEnabled()  # a removed wait needs a choice first
        assert "Choose what happens to the contacts in flight" in dialog.create_button.toolTip()
        assert box.summary.text() == ("Not ready: contacts waiting at 'Wait until 10 Dec 09:00' (launch), which "
                                      "version 2 removes, need a choice (in the table above).")
        # the live counts of the run of version 1, as `journey-studio status --json` writes them
        jid = document.project.journey(NAME).id
        status = tmp_path / "status.json"
        status.write_text(json.dumps({"key": f"{jid}:v2", "steps": []}))
        box.run_path.setText(str(status))
        assert not box.read_counts()
        assert "a run of version 2, not of version 1 of this journey" in box.run_note.text()
        status.write_text(json.dumps({"key": f"{jid}:v1", "steps": [
            {"step": "announce", "waiting": 0}, {"step": "clicked", "waiting": 38}, {"step": "launch", "waiting": 412},
            {"step": "launched", "waiting": 0}]}))
        assert box.read_counts()
        items = [it for i in range(box.steps.topLevelItemCount()) if (it := box.steps.topLevelItem(i)) is not None]
        assert [(it.text(0), it.text(1)) for it in items] == [
            ("product-details clicked within 1 day?", "38"), ("Wait until 10 Dec 09:00 (removed in version 2)", "412")]
        combo = box.combos["launch"]
        combo.setCurrentIndex(combo.findData("launched"))
        assert dialog.create_button.isEnabled()
        assert box.summary.text().splitlines() == [
            "Of 450 contacts in flight: 412 move to version 2, 38 finish on version 1, 0 leave.",
            "38 contacts wait at 'product-details clicked within 1 day?': they will finish on version 1 (the event "
            "they wait for comes to its run)",
            "412 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: they will move to 'Product "
            "launched text' of version 2"]
        assert box.runner_note.isVisibleTo(dialog) and "run with --replaces" in box.runner_note.text()
        clicked = box.combos["clicked"]  # it waits for a click on a message of version 1: finish there or leave
        assert [clicked.itemText(i) for i in range(clicked.count())] == [  # only steps it may go to
            "Finish on version 1", "Leave the journey", "Move to 'Product launched text'", "Move to 'Wait 2 days'",
            "Move to 'Product announcement email'"]
        assert clicked.findData("announce") < 0 and clicked.findData("again") >= 0  # the first email: not twice
        clicked.setCurrentIndex(clicked.findData(LEAVE))
        assert box.summary.text().splitlines()[0] == ("Of 450 contacts in flight: 412 move to version 2, 0 finish "
                                                      "on version 1, 38 leave.")
        dialog.resize(760, 820)
        dialog.show()
        QApplication.processEvents()
        shots = Path("/tmp/shots")
        shots.mkdir(parents=True, exist_ok=True)
        assert dialog.grab().save(str(shots / "golive_in_flight.png"))
        dialog.out_path.setText(str(tmp_path / "v2.jpkg"))
        assert dialog.create_package(), dialog.outcome_text()
        plan = from_plain(read_package(tmp_path / "v2.jpkg").manifest["in_flight"], "v2")
        assert (plan.decision("launch").action, plan.decision("launch").target) == (MOVE, "launched")
        assert plan.decision("clicked").action == LEAVE and plan.decision("announce").why == "fleeting"
        assert dialog.selected_version() == 2 and box.isVisibleTo(dialog)  # released 2 may be packaged again
    finally:
        document.close()


# --- the forecast ---------------------------------------------------------------------------------------------

def test_a_forecast_of_the_new_version_starts_the_moved_contacts_at_their_steps(versions: Any) -> None:
    from app.semantics.plan import compile_plan
    from simulator.behaviour import BehaviourModel
    from simulator.in_flight import ASSUMED, ForecastError, forecast
    old, new = versions
    plan = compile_plan(new)
    moved = moved_population(resolve(InFlight(1, MOVE, {"launch": "launched", "clicked": "pause"}), old, new),
                             {"clicked": 38, "launch": 412, "announce": 3})
    assert moved == {"pause": 38, "launched": 412}
    at = plan.start + 2 * 86_400
    result = forecast(plan, moved, at, BehaviourModel(), seed=7, replicas=2)
    rows = {r["step"]: r for r in result.funnel()}
    assert rows["announce"]["entered"] == 0 and rows["clicked"]["entered"] == 0  # nobody starts over
    assert rows["pause"]["entered"] == 38 and rows["again"]["entered"] == 38
    assert rows["launched"]["entered"] == 412 + rows["reclicked"]["yes"] > 412
    assert rows["launched"]["sent"] <= rows["launched"]["entered"]
    assert result.to_json()["assumed"] == list(ASSUMED) and result.to_json()["groups"] == moved
    again = forecast(plan, moved, at, BehaviourModel(), seed=7, replicas=2)
    assert again.funnel() == result.funnel()  # the same seed, the same figures
    with pytest.raises(ForecastError, match="has no step 'launch'"):
        forecast(plan, {"launch": 5}, at, BehaviourModel(), seed=7)
    with pytest.raises(ForecastError, match="outside version 2's schedule"):
        forecast(plan, {"pause": 5}, plan.start - 1, BehaviourModel(), seed=7)


def test_package_forecasts_the_new_version_for_the_contacts_it_moves(released: Path, tmp_path: Path,
                                                                     capsys: Cap) -> None:
    with ProjectFile.open(released) as pf:
        jid = pf.project.journey(NAME).id
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"key": f"{jid}:v1", "steps": [{"step": "clicked", "waiting": 38},
                                                                {"step": "launch", "waiting": 412}]}))
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "x.jpkg",
                          "--move", "launch=launched", "--forecast-at", "2026-12-03T09:00")
    assert code == 2 and "--forecast-at forecasts the contacts in flight of a run: give --in-flight-from RUN" in stderr
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v2.jpkg",
                          "--move", "launch=launched", "--move", "clicked=pause", "--in-flight-from", status,
                          "--forecast-at", "2026-12-03T09:00")
    assert code == 0, stderr
    lines = stderr.splitlines()
    head = lines.index("Forecast of version 2 for the 450 contacts it moves, from 2026-12-03 09:00 UTC (seed 7, the "
                       "default behaviour assumptions):")
    body = lines[head + 1:]
    assert body[0] == "  'Wait 2 days': 38 entered" and body[1].startswith("  'Product announcement email': 38 entered")
    assert any(ln.startswith("  'Product launched text': 4") and ", 4" in ln for ln in body)  # 412 and more
    assert body[-3].startswith("  assumed: moved contacts enter their step of the new version afresh")


# --- the live runner ------------------------------------------------------------------------------------------

LIVE = """\
format: journey/1
name: Simple
target: contacts
audience: {segments: [Chosen]}
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
  Hello text: {kind: sms, status: ready, text: Hi}
segments:
  Chosen: {entity: contacts, kind: static}
"""


def _sent(db: Path) -> list[tuple[int, str]]:
    import sqlite3
    con = sqlite3.connect(db)
    try:
        return sorted((int(c), str(s)) for c, s in con.execute(
            "SELECT contact_id, step_id FROM sent_messages WHERE status = 'sent'"))
    finally:
        con.close()


class Runs:
    """Packages run to their end, each on the caller's thread, against the contacts project `db`, the dev server
    at `temporal` and the mail and text sinks (a day is 4 s): what each returned in `done`, what raised in
    `errors` (the live in-flight tests)."""

    def __init__(self, db: Path, tmp_path: Path, temporal: str, smtp_port: int, sms_url: str) -> None:
        self.db, self.tmp_path, self.temporal, self.smtp_port, self.sms_url = db, tmp_path, temporal, smtp_port, sms_url
        self.done: dict[str, Any] = {}
        self.errors: list[BaseException] = []

    def settings(self, state: str, **kw: Any) -> Any:
        """RunSettings for a run whose state is in tmp_path / `state`."""
        from app.runner.worker import RunSettings
        return RunSettings(contacts_db=str(self.db), state_dir=self.tmp_path / state, temporal=self.temporal,
                           smtp=("127.0.0.1", self.smtp_port), sms_url=self.sms_url, time_scale=21_600.0,
                           send_timeout=10, **kw)

    def go(self, name: str, package: Path, s: Any) -> None:
        import asyncio

        from app.runner.runnable import from_package
        from app.runner.worker import run_journey
        try:
            self.done[name] = asyncio.run(run_journey(from_package(package), s))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)


def ran_again_after_a_crash(tmp_path: Path, go: Any, settings: Any, errors: list[BaseException], db: Path,
                            journey: str, ledger: dict[str, Any], new_sent: list[tuple[int, str]],
                            flights: list[str]) -> None:
    """A crash before the ledger's rows were settled: the run of version 2 (its state in tmp_path / "n1.run",
    taking over "n.run") started again redoes them, and nothing happens twice: nothing sent, the same ledger and
    sends, the take-over's milestone recorded once. `go(name, package, settings)` runs a package to its end,
    appending what it raised to `errors`; `settings(state, **kw)` makes its RunSettings."""
    import sqlite3
    from dataclasses import replace

    from app.runner.migrate_flight import ledger_counts
    from tests.runner_helpers import SmsSink, SmtpSink
    con = sqlite3.connect(tmp_path / "n1.run" / "runner.db")
    with con:
        con.execute("UPDATE in_flight_moves SET status = 'planned'")
    con.close()
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        go("again", tmp_path / "n1.jpkg", replace(settings("n1.run", replaces=str(tmp_path / "n.run")),
                                                 smtp=("127.0.0.1", smtp.port), sms_url=sms.url))
        assert not errors, errors
        assert not smtp.snapshot() and not sms.snapshot()
    finally:
        smtp.stop()
        sms.stop()
    assert ledger_counts(tmp_path / "n1.run" / "runner.db") == ledger
    assert _sent(tmp_path / "n1.run" / "runner.db") == new_sent
    with ProjectFile.open(db) as pf:  # recorded once
        assert [d for k, _, d in pf.milestones(journey) if k == "in-flight"] == flights


@needs_temporal
@pytest.mark.temporal
def test_live_contacts_waiting_on_n_finish_move_or_leave_as_chosen_none_lost_or_sent_twice(
        tmp_path: Path, dev_server: Any) -> None:
    import asyncio
    import threading
    import time
    from collections import Counter

    from app.audience import members as m
    from app.package.build import package_journey
    from app.runner.migrate_flight import ledger_counts
    from app.runner.runnable import from_package
    from tests.runner_helpers import SmsSink, SmtpSink, contact_of, contacts_project, package_of
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 12, LIVE, no_email=False)
    chosen = list(range(1, 13))
    with ProjectFile.open(db) as pf:
        m.add_members(pf, "Chosen", chosen)
    pkg_n = package_of(db, tmp_path / "n.jpkg", "Simple")
    with ProjectFile.open(db) as pf:  # version 2: the 20-day waits are gone
        j = pf.project.journey("Simple")
        j.remove_step("pause")
        j.remove_step("hold")
        j.connect("split", "A", "text")
        j.connect("split", "B", "stay")
        package_journey(pf, "Simple", tmp_path / "n1.jpkg",
                        in_flight=InFlight(0, MOVE, {"pause": "text"}, frozenset({"hold"}), frozenset({"stay"})))
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        runs = Runs(db, tmp_path, dev_server.address, smtp.port, sms.url)
        settings, go, done, errors = runs.settings, runs.go, runs.done, runs.errors
        n = threading.Thread(target=go, args=("n", pkg_n, settings("n.run")))
        n.start()
        deadline = time.monotonic() + 60
        while len(smtp.snapshot()) < len(chosen) and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
        assert not errors and len(smtp.snapshot()) == len(chosen)
        time.sleep(0.5)  # the units go on to their waits (a day is 4 s here; the shortest wait 3 days)
        n1 = threading.Thread(target=go, args=("n1", tmp_path / "n1.jpkg",
                                               settings("n1.run", replaces=str(tmp_path / "n.run"))))
        n1.start()
        n1.join(120)
        n.join(120)
        assert not errors, errors
        assert not n.is_alive() and not n1.is_alive()
    finally:
        smtp.stop()
        sms.stop()
    emailed = Counter(contact_of(x) for x in smtp.snapshot())
    texted = Counter(contact_of(x) for x in sms.snapshot())
    ledger = ledger_counts(tmp_path / "n1.run" / "runner.db")
    old_texts = [c for c, s in _sent(tmp_path / "n.run" / "runner.db") if s == "text"]
    new_sent = _sent(tmp_path / "n1.run" / "runner.db")
    moved = sorted(c for c, _ in new_sent)
    assert emailed == Counter(chosen)  # every contact emailed once, by version 1; version 2 enrolled nobody again
    assert {s for _, s in new_sent} == {"text"}  # version 2 sent only the text, to those it moved
    assert ledger["contacts"].get("moved", 0) == len(moved) > 0 and ledger["contacts"].get("left", 0) > 0
    assert sorted(old_texts) and not set(old_texts) & set(moved)  # those finishing on version 1 got its text
    assert texted == Counter(old_texts + moved)  # each once
    left = len(chosen) - len(old_texts) - len(moved)
    assert left == ledger["contacts"]["left"]  # every contact accounted for
    assert ledger["steps"] == {"pause": {"move text: moved": len(moved)}, "hold": {"leave: left": left}}
    with ProjectFile.open(db) as pf:  # the contacts are the journey's project: the take-over is a milestone there
        flights = [d for k, _, d in pf.milestones("Simple") if k == "in-flight"]
    assert flights[-1] == (f"the run of version 2 took over the run of version 1: {left:,} left, {len(moved):,} moved "
                           f"({tmp_path / 'n.run'})")
    outcomes_n = done["n"].counts["outcomes"]
    assert outcomes_n["stopped"] == len(moved) + left and outcomes_n["completed"] == len(old_texts)
    from app.runner.migrate_flight import replaced_by  # N's state says it was taken over: it enrols nobody new
    mark = replaced_by(tmp_path / "n.run" / "runner.db")
    assert mark is not None and mark["version"] == 2 and mark["key"].endswith(":v2")
    from app.runner.status import format_counts, read_counts
    old_counts = asyncio.run(read_counts(from_package(tmp_path / "n.jpkg"), tmp_path / "n.run", dev_server.address))
    assert old_counts["replaced_by"] == mark
    assert any(ln.startswith("Taken over by the run of version 2 (") and "enrols nobody new" in ln
               for ln in format_counts(old_counts))
    assert done["n1"].counts["steps"][-1]["sent"] == len(moved)

    ran_again_after_a_crash(tmp_path, go, settings, errors, db, "Simple", ledger, new_sent, flights)
    # status of version 2 says what it took over
    counts = asyncio.run(read_counts(from_package(tmp_path / "n1.jpkg"), tmp_path / "n1.run", dev_server.address))
    assert counts["in_flight"] == ledger
    assert f"Contacts in flight on the previous version: {left:,} left, {len(moved):,} moved" in format_counts(counts)


def test_replacing_a_run_is_refused_in_one_line_when_it_cannot_be_done(released: Path, tmp_path: Path,
                                                                       capsys: Cap) -> None:
    import asyncio
    from types import SimpleNamespace

    from app.runner.migrate_flight import migrate
    from app.runner.runnable import RunnerError, from_package
    from app.runner.state import StateDb
    assert run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v2.jpkg", "--move",
               "launch=launched")[0] == 0
    v1, v2 = from_package(tmp_path / "v1.jpkg"), from_package(tmp_path / "v2.jpkg")
    state = StateDb(tmp_path / "runner.db")
    old = tmp_path / "v1.jpkg.run"
    old.mkdir()
    try:
        def refused(r: Any, replaces: Path, script: Any = None) -> str:
            fake = SimpleNamespace(r=r, settings=SimpleNamespace(script=script), state=state)
            with pytest.raises(RunnerError) as e:
                asyncio.run(migrate(fake, replaces))  # type: ignore[arg-type]
            return str(e.value)
        # a journey that targets accounts is taken over as one of contacts is (test_versions_in_flight_accounts.py)
        assert refused(SimpleNamespace(plan=SimpleNamespace(accounts=True), source=""), old) == (
            "--replaces needs the package file of this version, to read its plan")
        assert refused(v2, old, script={}) == ("--replaces does not go with --rehearse: a rehearsal starts on its own "
                                               "logical time")
        assert "the package says nothing of the contacts in flight" in refused(v1, old)
        assert refused(v2, old) == f"{old}: not a run's state folder (no runner.db)"
        other = StateDb(old / "runner.db")
        other.put("journey", {"key": v2.key, "digest": v2.digest})
        other.close()
        assert refused(v2, old) == (f"{old}: the run there is of {v2.key}, not of {v1.key}, the version this "
                                    "package's plan is for")
    finally:
        state.close()


def test_a_unit_that_moved_on_before_the_signal_stays_on_the_old_version() -> None:
    """The take-over confirms each stop from the unit's own progress: stopped at the step (moved or left), or gone on
    to the next step first (it stays on the old version, nobody starts it on the new one)."""
    import asyncio
    from types import SimpleNamespace

    from temporalio.client import WorkflowExecutionStatus

    from app.runner.migrate_flight import _confirm

    class Handle:
        def __init__(self, answers: list[dict[str, Any]]) -> None:
            self.answers = answers

        async def describe(self) -> Any:
            return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)

        async def query(self, name: str) -> dict[str, Any]:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def client(*answers: dict[str, Any]) -> Any:
        handle = Handle(list(answers))
        return SimpleNamespace(get_workflow_handle=lambda wid: handle)

    waiting = {"units": {"u1": {"step": "pause", "visits": [["hello", 0, 5, "sent"]]}}}
    stopped = {"units": {"u1": {"step": "end", "visits": [["hello", 0, 5, "sent"], ["pause", 5, 9, "stopped"]]}}}
    went_on = {"units": {"u1": {"step": "text", "visits": [["hello", 0, 5, "sent"], ["pause", 5, 9, "completed"]]}}}
    assert asyncio.run(_confirm(client(waiting, waiting, stopped), "cohort", "u1", "pause")) is True
    assert asyncio.run(_confirm(client(waiting, went_on), "cohort", "u1", "pause")) is False
    alone = {"step": "end", "visits": [["pause", 5, 9, "stopped"]]}  # a unit in a workflow of its own
    assert asyncio.run(_confirm(client(alone), "journey:x:contact:1:it:0", "journey:x:contact:1:it:0", "pause"))
