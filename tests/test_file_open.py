"""A package handed to the designer (`journey-studio FILE.jpkg`, a double-click: an argument on Linux and Windows,
a QFileOpenEvent on macOS) is offered for import into the open project, checked first; a project handed to it
opens in a window of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from designer import launch
from designer.main_window import MainWindow
from tests.runner_helpers import contacts_project, package_of
from tests.window_helpers import template_window

pytestmark = pytest.mark.gui


@pytest.fixture
def package(tmp_path: Path) -> Path:
    db = tmp_path / "source.jstudio"
    contacts_project(db, 3)
    return package_of(db, tmp_path / "announcement.jpkg")


def _answer(monkeypatch: pytest.MonkeyPatch, question: QMessageBox.StandardButton) -> list[str]:
    asked: list[str] = []

    def fake_question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return question
    monkeypatch.setattr(QMessageBox, "question", staticmethod(fake_question))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok))
    return asked


def test_a_package_handed_to_the_designer_is_imported_after_asking(qtbot, tmp_path, package, monkeypatch,
                                                                   leftover_windows_closed) -> None:
    w = template_window(qtbot, tmp_path / "mine.jstudio", "re-engagement.yaml")
    before = {j.name for j in w.document.project.journeys}
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    launch.open_given_file(str(package))
    qtbot.waitUntil(lambda: len(w.document.project.journeys) == len(before) + 1, timeout=10000)
    assert "Import the journey package announcement.jpkg into mine.jstudio?" in asked[0]
    added = {j.name for j in w.document.project.journeys} - before
    assert added == {"Product announcement"}
    w.document.undo_stack.undo()  # one undoable step
    assert {j.name for j in w.document.project.journeys} == before
    w.document.undo_stack.setClean()
    w.close()


def test_saying_no_imports_nothing(qtbot, tmp_path, package, monkeypatch, leftover_windows_closed) -> None:
    w = template_window(qtbot, tmp_path / "mine.jstudio", "re-engagement.yaml")
    _answer(monkeypatch, QMessageBox.StandardButton.No)
    assert launch.ask_to_import(w, str(package)) is False
    assert [j.name for j in w.document.project.journeys] == ["Re-engagement"]
    w.close()


def test_a_project_handed_to_the_designer_opens_in_its_own_window(qtbot, tmp_path, leftover_windows_closed) -> None:
    template_window(qtbot, tmp_path / "mine.jstudio", "re-engagement.yaml")
    other = tmp_path / "other.jstudio"
    template_window(qtbot, other, "announcement.yaml").close()
    launch.open_given_file(str(other))
    windows = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
    assert sorted(x.document.file.path.name for x in windows) == ["mine.jstudio", "other.jstudio"]
    for x in windows:
        x.document.undo_stack.setClean()
        x.close()


def test_the_command_line_routes_a_package_to_the_last_project(monkeypatch, tmp_path) -> None:
    """`journey-studio FILE.jpkg` opens the last (or demo) project and offers the package, never opening the
    package as if it were a project file."""
    opened: list[Path] = []
    offered: list[str] = []

    class FakeWindow:
        def show(self) -> None:
            pass

    monkeypatch.setattr(launch, "initial_project", lambda p: Path(p) if p else tmp_path / "last.jstudio")
    monkeypatch.setattr(MainWindow, "open", classmethod(lambda cls, path, parent=None: opened.append(path)
                                                        or FakeWindow()))
    monkeypatch.setattr(launch, "offer_package", lambda window, path: offered.append(path))
    app = QApplication.instance()
    monkeypatch.setattr(type(app), "exec", lambda self: 0)
    from designer import crash
    monkeypatch.setattr(crash, "install", lambda **_: None)
    assert launch.launch(str(tmp_path / "x.JPKG")) == 0
    assert opened == [tmp_path / "last.jstudio"] and offered == [str(tmp_path / "x.JPKG")]
