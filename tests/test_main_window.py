"""The main window, driven offscreen: first start, title and checkpoints, close prompt, reopen, read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.model.commands import MoveSteps, SetProps
from app.model.journey import Position
from app.store import ProjectFile
from designer.launch import initial_project
from designer.main_window import MainWindow

SHOTS = Path(os.environ.get("JOURNEY_STUDIO_SHOTS", "/tmp/journey-studio-shots"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOURNEY_STUDIO_HOME", str(tmp_path / "home"))
    QApplication.setOrganizationName("journey-studio-tests")  # keep QSettings away from the user's
    return tmp_path / "home"


pytestmark = pytest.mark.usefixtures("leftover_windows_closed")


def open_window(qtbot, path: Path) -> MainWindow:
    window = MainWindow.open(path)
    assert window is not None
    window.show()
    qtbot.waitExposed(window)
    return window


def answer_next_box(button_text: str) -> None:
    """Click a button of the next modal message box as soon as it shows."""
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, click)
            return
        for b in box.buttons():
            if b.text().replace("&", "") == button_text:
                b.click()
                return
        raise AssertionError(f"no button {button_text!r} in {[b.text() for b in box.buttons()]}")
    QTimer.singleShot(0, click)


def test_first_start_opens_the_demo_project_with_the_seed_journeys(qtbot) -> None:
    path = initial_project(None)
    assert path.exists() and path.name == "Demo project.jstudio"
    window = open_window(qtbot, path)
    names = [j.name for j in window.document.project.journeys]
    assert {"Product announcement", "Re-engagement"} <= set(names)
    assert window.document.current_journey.name == "Product announcement"
    assert len(window.scene.items()) > 0
    assert "Product announcement" in window.windowTitle() and not window.isWindowModified()
    window.resize(1440, 900)
    qtbot.wait(200)  # let docks settle before the picture
    window.view.fit()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "main-window-demo.png"))
    # the next start opens the most recent project, not a new demo
    assert initial_project(None) == path.resolve()
    window.close()


def test_edits_mark_the_title_and_save_sets_a_checkpoint(qtbot) -> None:
    window = open_window(qtbot, initial_project(None))
    doc = window.document
    journey = doc.current_journey
    assert doc.run(SetProps(journey.id, "clicked", {"within": __import__("datetime").timedelta(days=2)}))
    assert window.isWindowModified()
    window.actions.save.trigger()
    assert not window.isWindowModified()
    doc.undo_stack.undo()
    assert window.isWindowModified()
    window.actions.save.trigger()
    window.close()


def test_close_prompt_can_go_back_to_the_last_checkpoint(qtbot, tmp_path: Path) -> None:
    path = initial_project(None)
    window = open_window(qtbot, path)
    doc = window.document
    journey = doc.current_journey
    before = journey.step("announce").position
    doc.run(MoveSteps(journey.id, {"announce": Position(999.0, 999.0)}))
    answer_next_box("Don't Save")
    assert window.close()
    with ProjectFile.open(path, readonly=True) as pf:
        assert pf.project.journey(journey.id).step("announce").position == before


def test_close_prompt_cancel_keeps_the_window_open(qtbot) -> None:
    window = open_window(qtbot, initial_project(None))
    doc = window.document
    doc.run(MoveSteps(doc.current_journey.id, {"announce": Position(5.0, 5.0)}))
    answer_next_box("Cancel")
    assert not window.close()
    assert window.isVisible()
    answer_next_box("Save")
    assert window.close()


def test_close_and_reopen_finds_the_same_journeys_and_layout(qtbot) -> None:
    path = initial_project(None)
    window = open_window(qtbot, path)
    doc = window.document
    jid = doc.current_journey.id
    doc.run(MoveSteps(jid, {"launch": Position(640.0, 260.0)}))
    snapshot = doc.project.journey(jid).clone()
    window.actions.save.trigger()
    window.close()
    again = open_window(qtbot, path)
    journey = again.document.project.journey(jid)
    assert journey == snapshot
    assert again.scene.tile_item("launch").pos().x() == pytest.approx(640.0)
    assert again.scene.tile_item("launch").pos().y() == pytest.approx(260.0)
    again.close()


def test_a_second_window_on_an_open_project_is_read_only(qtbot) -> None:
    path = initial_project(None)
    first = open_window(qtbot, path)
    answer_next_box("OK")
    second = open_window(qtbot, path)
    assert second.document.readonly and "(read-only)" in second.windowTitle()
    journey = second.document.current_journey
    assert not second.document.run(SetProps(journey.id, "clicked", {"within": None}))
    assert second.document.undo_stack.count() == 0
    second.close()
    first.close()


def test_a_file_that_is_not_a_project_gets_a_message_not_a_window(qtbot, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.jstudio"
    bogus.write_text("not a project", encoding="utf-8")
    answer_next_box("OK")
    assert MainWindow.open(bogus) is None
    assert bogus.read_text(encoding="utf-8") == "not a project"
