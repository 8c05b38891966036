"""Saved runs in the designer, driven offscreen: the project browser lists them with their approval, outdated
state and assumptions, opens, compares, renames and deletes them; the run review saves notes and approval."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from app.model.commands import RemoveJourney
from app.store import ProjectFile
from designer.document import Document
from designer.panels import ProjectBrowser
from designer.panels.common import status_icon
from designer.simulation.review import RunReview
from simulator.behaviour import BehaviourModel
from tests.test_sim_review import ANNOUNCEMENT, make_project, make_record

pytestmark = pytest.mark.gui
SHOTS = Path("/tmp/shots")
REENGAGEMENT = "Re-engagement"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


@pytest.fixture
def doc(path: Path, qtbot) -> Iterator[Document]:
    document = Document(ProjectFile.open(path))
    yield document
    if not document.file.closed:
        document.close()


def shoot(widget: QWidget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.show()
    QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


def save(doc: Document, qtbot, journey: str, seed: int, name: str = "", replicas: int = 2,
         behaviour: BehaviourModel | None = None) -> int:
    record = make_record(doc.file, journey, seed, replicas, behaviour)
    with qtbot.waitSignal(doc.runsChanged):
        run_id = doc.save_run(record, name=name)
    assert run_id is not None
    return run_id


def action(menu: QMenu, text: str):
    found = [a for a in menu.actions() if a.text() == text]
    assert found, f"no '{text}' in {[a.text() for a in menu.actions()]}"
    return found[0]


# --- the project browser ------------------------------------------------------------------------------------

def test_runs_are_listed_with_markers_and_assumptions(doc: Document, qtbot) -> None:
    browser = ProjectBrowser(doc)
    qtbot.addWidget(browser)
    browser.resize(460, 560)
    assert browser.names("runs") == ["No runs yet"]
    doc.set_current_journey(doc.project.journey(ANNOUNCEMENT).id)
    edited = BehaviourModel.from_plain({"channels": {"email": {"open": 0.3}}})
    a = save(doc, qtbot, ANNOUNCEMENT, 1, "Baseline")
    r = save(doc, qtbot, REENGAGEMENT, 2, "Win-back")
    b = save(doc, qtbot, ANNOUNCEMENT, 3, "Higher opens", replicas=1, behaviour=edited)
    # the current journey's runs first, newest first; then the other journey's
    assert browser.names("runs") == [f"Higher opens — {ANNOUNCEMENT}", f"Baseline — {ANNOUNCEMENT}",
                                     f"Win-back — {REENGAGEMENT}"]
    assert browser.groups["runs"].text(1) == "3"
    assert [browser.item("run", i).text(1) for i in (a, b, r)] == ["v1", "v1", "v1"]
    assert browser.item("run", a).icon(0).cacheKey() != status_icon("ok").cacheKey()

    assert doc.approve_run(a, "Alice") is not None
    doc.file.freeze(ANNOUNCEMENT)  # the journey moves on to a draft of version 2: its runs are outdated
    assert [browser.item("run", i).text(1) for i in (a, b, r)] == ["v1 (now v2)", "v1 (now v2)", "v1"]
    assert browser.item("run", a).icon(0).cacheKey() == status_icon("ok").cacheKey()  # approved: a check
    assert browser.item("run", b).icon(0).cacheKey() == status_icon("warning").cacheKey()
    assert browser.item("run", a).data(0, Qt.ItemDataRole.AccessibleTextRole) == (
        f"Baseline — {ANNOUNCEMENT} v1, approved, This run was made on version 1 of the journey; the journey is now "
        "at version 2.")
    info = doc.file.run_info(a)
    conv = info.summary["conversion"]
    tip = browser.item("run", a).toolTip(0).splitlines()
    assert tip[:3] == [f"Baseline: {ANNOUNCEMENT}, version 1",
                       "This run was made on version 1 of the journey; the journey is now at version 2.",
                       f"Approved by Alice on {info.approved_at:%Y-%m-%d %H:%M} UTC"]
    assert "Population: 1,500 synthetic contacts" in tip and "Seed: 1" in tip
    assert "Replicas: 2 (one population for all: intervals conditional on it)" in tip
    assert "Behaviour: Defaults" in tip
    assert (f"Goal reached: {conv['mean']:.2%} (95% interval {conv['low']:.2%} to {conv['high']:.2%})") in tip
    assert f"Period: {info.summary['start'][:10]} 08:00 to {info.summary['horizon'][:16].replace('T', ' ')} UTC" in tip
    tip_b = browser.item("run", b).toolTip(0).splitlines()
    goal_b = doc.file.run_info(b).summary["conversion"]["mean"]
    assert "Replicas: 1" in tip_b and f"Goal reached: {goal_b:.2%}" in tip_b  # one replica: no interval
    assert "Behaviour: Edited (1 figure differs from the defaults)" in tip_b
    assert "  email open 0.3 (default 0.2133)" in tip_b
    doc.set_current_journey(doc.project.journey(REENGAGEMENT).id)
    assert browser.names("runs")[0] == f"Win-back — {REENGAGEMENT}"
    doc.set_current_journey(doc.project.journey(ANNOUNCEMENT).id)
    browser.resize(240, 520)  # as narrow as the dock usually is
    shoot(browser, "run-browser")
    assert doc.run(RemoveJourney(doc.project.journey(REENGAGEMENT).id))
    assert browser.item("run", r).text(1) == "v1 (deleted)" and browser.names("runs")[-1].startswith("Win-back")
    assert "This run was made on version 1 of the journey; the journey was deleted." in browser.item("run", r).toolTip(0)


def test_open_and_compare_runs(doc: Document, qtbot) -> None:
    browser = ProjectBrowser(doc)
    qtbot.addWidget(browser)
    browser.resize(420, 520)
    browser.show()
    a = save(doc, qtbot, ANNOUNCEMENT, 1, "A")
    b = save(doc, qtbot, ANNOUNCEMENT, 2, "B")
    r = save(doc, qtbot, REENGAGEMENT, 3, "R")
    item = browser.item("run", b)
    rect = browser.tree.visualItemRect(item)
    qtbot.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(browser.runActivated) as opened:  # the view wants the press before the double click
        qtbot.mouseDClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [b]
    browser.tree.setCurrentItem(browser.item("run", a))
    browser.tree.setFocus()
    with qtbot.waitSignal(browser.runActivated) as opened:
        qtbot.keyClick(browser.tree, Qt.Key.Key_Return)
    assert opened.args == [a]

    # select two runs (ctrl-click), compare them, older first
    qtbot.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=browser.tree.visualItemRect(browser.item("run", r)).center())
    assert browser.selected_runs() == [b, r]
    save(doc, qtbot, REENGAGEMENT, 4, "later")  # the list is rebuilt: the selection stays
    assert browser.selected_runs() == [b, r] and browser.tree.currentItem() is browser.item("run", r)
    menu = browser.context_menu(browser.item("run", r))
    with qtbot.waitSignal(browser.compareRequested) as compared:
        action(menu, "Compare selected").trigger()
    assert compared.args == [b, r]
    # "Compare with" lists the other runs, the same journey's first
    menu = browser.context_menu(browser.item("run", a))
    others = action(menu, "Compare with").menu()
    assert [x.text() for x in others.actions()] == [f"B — {ANNOUNCEMENT} v1", f"later — {REENGAGEMENT} v1",
                                                    f"R — {REENGAGEMENT} v1"]
    with qtbot.waitSignal(browser.compareRequested) as compared:
        others.actions()[2].trigger()
    assert compared.args == [a, r]
    with qtbot.waitSignal(browser.reportRequested) as reported:
        action(menu, "Export report…").trigger()
    assert reported.args == [a]
    # several items are selected only among runs: a journey joins alone
    journey_item = browser.item("journey", doc.project.journey(ANNOUNCEMENT).id)
    qtbot.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=browser.tree.visualItemRect(journey_item).center())
    assert browser.tree.selectedItems() == [journey_item] and browser.selected_runs() == []


def test_rename_and_delete_ask_first(doc: Document, qtbot, monkeypatch) -> None:
    browser = ProjectBrowser(doc)
    qtbot.addWidget(browser)
    a = save(doc, qtbot, ANNOUNCEMENT, 1, "Baseline")
    b = save(doc, qtbot, ANNOUNCEMENT, 2, "Other")
    doc.approve_run(a, "Alice")
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(browser, "ask_text", lambda _t, label, text: asked.append((label, text)) or "Launch A")
    with qtbot.waitSignal(doc.runsChanged):
        action(browser.context_menu(browser.item("run", a)), "Rename…").trigger()
    assert asked == [(f"New name of run {a} ({ANNOUNCEMENT} v1):", "Baseline")]
    assert doc.file.run_info(a).name == "Launch A" and browser.item("run", a).text(0).startswith("Launch A — ")
    monkeypatch.setattr(browser, "ask_text", lambda *_a: "   ")
    with qtbot.waitSignal(doc.message) as said:
        assert not browser.rename_run(a)
    assert said.args == ["A simulation run needs a name."] and doc.file.run_info(a).name == "Launch A"

    questions: list[str] = []
    answer = [False]
    monkeypatch.setattr(browser, "confirm", lambda q: questions.append(q) or answer[0])
    browser.show()
    with qtbot.waitActive(browser):
        browser.activateWindow()
    browser.tree.setCurrentItem(browser.item("run", a))
    browser.tree.setFocus()
    qtbot.keyClick(browser.tree, Qt.Key.Key_Delete)  # asks; "Cancel" keeps the run
    assert questions == [f"Delete the simulation run “Launch A” of {ANNOUNCEMENT} (version 1)?\n"
                         "It is approved: the journey's package will no longer show it.\nThis cannot be undone."]
    assert browser.item("run", a) is not None and [i.id for i in doc.runs()] == [a, b]
    answer[0] = True
    with qtbot.waitSignal(doc.runsChanged):
        action(browser.context_menu(browser.item("run", a)), "Delete…").trigger()
    assert len(questions) == 2 and browser.item("run", a) is None and [i.id for i in doc.file.runs()] == [b]
    with qtbot.waitSignal(doc.failed) as failed:  # gone meanwhile (another window): one line, no exception
        assert not doc.delete_run(a)
    assert failed.args[0].endswith(f"there is no saved simulation run {a}") and "\n" not in failed.args[0]


def test_read_only_project_lists_runs_but_refuses_changes(path: Path, qtbot) -> None:
    with ProjectFile.open(path) as pf:
        record = make_record(pf, ANNOUNCEMENT, 4, 1)
        run_id = pf.save_run(record, name="kept")
    doc = Document(ProjectFile.open(path, readonly=True))
    try:
        browser = ProjectBrowser(doc)
        qtbot.addWidget(browser)
        assert browser.names("runs") == [f"kept — {ANNOUNCEMENT}"]
        messages: list[str] = []
        doc.message.connect(messages.append)
        with qtbot.assertNotEmitted(doc.runsChanged), qtbot.assertNotEmitted(doc.failed):
            assert doc.save_run(record, name="again") is None
            assert doc.set_run_notes(run_id, "x") is None
        assert messages == ["Read-only: cannot save the simulation run: it was opened read-only. Use File > Save As "
                            "to work on a copy.",
                            "Read-only: cannot save the notes: it was opened read-only. Use File > Save As to work "
                            "on a copy."]
        menu = browser.context_menu(browser.item("run", run_id))
        enabled = {a.text(): a.isEnabled() for a in menu.actions() if a.text()}
        assert enabled == {"Open (replay)": True, "Compare with": False, "Export report…": True, "Rename…": False,
                           "Delete…": False}
        assert doc.load_run(run_id) == record
    finally:
        doc.close()


# --- the run review -----------------------------------------------------------------------------------------

def test_review_saves_notes_and_approval_in_the_file(path: Path, qtbot, monkeypatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    doc = Document(ProjectFile.open(path))
    review = RunReview(doc)
    qtbot.addWidget(review)
    review.resize(420, 720)
    assert review.stack.currentIndex() == 0  # the hint until a run is chosen
    record = make_record(doc.file, ANNOUNCEMENT, 7, 2)
    run_id = doc.save_run(record, name="Baseline")
    assert run_id is not None
    review.set_run(run_id)
    assert review.stack.currentIndex() == 1 and review.title.text() == "Baseline"
    assert review.subtitle.text() == f"Run {run_id} of {ANNOUNCEMENT}, version 1"
    assert review.values["Population"].text() == "1,500 synthetic contacts" and review.values["Seed"].text() == "7"
    assert review.values["Replicas"].text() == "2 (one population for all: intervals conditional on it)"
    assert review.values["Behaviour"].text() == "Defaults"
    assert review.values["Engine"].text() == f"version {record.engine_version}"
    assert review.reviewer.text() == "os-user" and review.approval.text() == "Not approved"
    assert not review.save_notes.isEnabled() and review.approve_button.isEnabled()
    assert not review.withdraw_button.isEnabled() and not review.banner.isVisible()

    review.notes.setFocus()
    qtbot.keyClicks(review.notes, "Open rate checked against last year.")
    assert review.save_notes.isEnabled()
    with qtbot.waitSignal(doc.runsChanged):
        qtbot.mouseClick(review.save_notes, Qt.MouseButton.LeftButton)
    assert doc.file.run_info(run_id).notes == "Open rate checked against last year."
    assert not review.save_notes.isEnabled()

    review.reviewer.setText("Dana Scully")
    with qtbot.waitSignal(doc.runsChanged):
        qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    assert review.approval.text().startswith("\u2714 Approved by Dana Scully on ")
    assert not review.approve_button.isEnabled() and review.withdraw_button.isEnabled()
    with qtbot.waitSignal(review.reportRequested) as reported:
        qtbot.mouseClick(review.report_button, Qt.MouseButton.LeftButton)
    assert reported.args == [run_id]
    doc.close()

    doc = Document(ProjectFile.open(path))  # reopened: the notes and the approval are in the file
    try:
        again = RunReview(doc)
        qtbot.addWidget(again)
        again.set_run(run_id)
        assert again.notes.toPlainText() == "Open rate checked against last year."
        assert again.approval.text().startswith("\u2714 Approved by Dana Scully on ")
        assert not again.approve_button.isEnabled() and again.withdraw_button.isEnabled()
        assert doc.file.approved_run(ANNOUNCEMENT, 1).id == run_id  # type: ignore[union-attr]
        with qtbot.waitSignal(doc.runsChanged):
            qtbot.mouseClick(again.withdraw_button, Qt.MouseButton.LeftButton)
        assert again.approval.text() == "Not approved" and doc.file.approved_run(ANNOUNCEMENT) is None
    finally:
        doc.close()


def test_review_warns_when_the_journey_has_moved_on(doc: Document, qtbot) -> None:
    review = RunReview(doc)
    qtbot.addWidget(review)
    review.resize(440, 780)
    edited = BehaviourModel.from_plain({"channels": {"email": {"open": 0.3}, "sms": {"click": 0.12}}})
    run_id = save(doc, qtbot, ANNOUNCEMENT, 2, "Launch plan A", behaviour=edited)
    review.set_run(run_id)
    review.notes.setPlainText("Unsaved thoughts")  # edits in progress survive updates from elsewhere
    assert review.values["Behaviour"].text() == "Edited (2 figures differ from the defaults)"
    assert review.changes.text() == "\u2022 email open 0.3 (default 0.2133)<br>\u2022 sms click 0.12 (default 0.08)"
    doc.approve_run(run_id, "Alice")
    assert review.approval.text().startswith("\u2714 Approved by Alice")
    assert review.notes.toPlainText() == "Unsaved thoughts" and review.save_notes.isEnabled()
    review.show()
    assert not review.banner.isVisible()
    doc.file.freeze(ANNOUNCEMENT)
    doc.file.freeze(ANNOUNCEMENT)
    assert review.banner.isVisible()
    assert review.banner.text() == ("\u26a0 This run was made on version 1 of the journey; the journey is now at "
                                    "version 3.")
    shoot(review, "run-review")
    assert doc.run(RemoveJourney(doc.project.journey(ANNOUNCEMENT).id))
    assert review.banner.text() == "\u26a0 This run was made on version 1 of the journey; the journey was deleted."
    doc.undo_stack.undo()
    assert review.banner.text().endswith("the journey is now at version 3.")
    doc.file.delete_run(run_id)  # behind the review's back (another window): saving the notes fails
    with qtbot.waitSignal(doc.failed) as failed:
        qtbot.mouseClick(review.save_notes, Qt.MouseButton.LeftButton)
    assert failed.args == [f"{doc.file.path}: there is no saved simulation run {run_id}"]
    assert review.notes.toPlainText() == "Unsaved thoughts"  # not lost
    review.refresh()
    assert review.stack.currentIndex() == 0 and review.hint.text() == (f"Simulation run {run_id} is no longer in "
                                                                       "the project.")


def test_review_of_a_read_only_project_says_why_nothing_can_change(path: Path, qtbot) -> None:
    with ProjectFile.open(path) as pf:
        run_id = pf.save_run(make_record(pf, ANNOUNCEMENT, 4, 1), name="kept")
    doc = Document(ProjectFile.open(path, readonly=True))
    try:
        review = RunReview(doc)
        qtbot.addWidget(review)
        review.set_run(run_id)
        review.resize(330, 640)  # the width of the right-hand dock
        review.show()
        assert review.notes.isReadOnly() and review.reviewer.isReadOnly()
        assert not any(b.isEnabled() for b in (review.save_notes, review.approve_button, review.withdraw_button))
        assert review.report_button.isEnabled()
        assert review.readonly_note.isVisible()
        assert review.readonly_note.text() == ("Read-only: it was opened read-only. Notes and approval cannot be "
                                               "changed; use File > Save As to work on a copy.")
        shoot(review, "run-review-read-only")
    finally:
        doc.close()
