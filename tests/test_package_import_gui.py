"""A package brought back into a project from the designer (File > Import Journey or Package): checked first,
added as one undoable edit, recorded as an "imported" milestone; a tampered package is refused with one line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.package.build import package_journey
from app.store import ProjectFile
from designer.main_window import MainWindow
from tests.test_package import NAME, make_project

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]


def test_import_a_package_for_review_then_undo(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_project(tmp_path / "source.jstudio")
    pkg = tmp_path / "launch.jpkg"
    with ProjectFile.open(source) as pf:
        package_journey(pf, NAME, pkg)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: shown.append(text))
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: shown.append(text))
    w = MainWindow.open(source)  # the same project: the package's journey comes in renamed
    assert w is not None
    before = [j.name for j in w.document.project.journeys]
    w.actions.import_journey_file(str(pkg))
    names = [j.name for j in w.document.project.journeys]
    assert len(names) == len(before) + 1
    added = w.document.current_journey
    assert added is not None and added.name not in before and added.name.startswith(NAME)
    assert shown and f"Imported journey '{added.name}'" in shown[-1]
    milestones = w.document.file.milestones(added.id)
    assert any(kind == "imported" and "launch.jpkg" in detail for kind, _, detail in milestones)
    w.document.undo_stack.undo()
    assert [j.name for j in w.document.project.journeys] == before

    # one byte changed in a member: refused, nothing added
    tampered = tmp_path / "tampered.jpkg"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "journey.yaml":
                data = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
            dst.writestr(info.filename, data)
    w.actions.import_journey_file(str(tampered))
    assert "could not be imported" in shown[-1] and "journey.yaml" in shown[-1]
    assert [j.name for j in w.document.project.journeys] == before
    w.document.undo_stack.setClean()
    w.close()
