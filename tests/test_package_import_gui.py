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


def _packaged(tmp_path: Path) -> tuple[Path, Path]:
    """A project with the announcement journey, and that journey packaged (unsigned) as launch.jpkg."""
    source = make_project(tmp_path / "source.jstudio")
    pkg = tmp_path / "launch.jpkg"
    with ProjectFile.open(source) as pf:
        package_journey(pf, NAME, pkg)
    return source, pkg


def test_import_a_package_for_review_then_undo(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, pkg = _packaged(tmp_path)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: shown.append(text))
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: shown.append(text))
    import designer.import_file as import_file
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(import_file, "ask_clash", lambda _p, name, free: asked.append((name, free)) or "rename")
    w = MainWindow.open(source)  # the same project: the dialog asks, and the package's journey comes in renamed
    assert w is not None
    before = [j.name for j in w.document.project.journeys]
    w.actions.import_journey_file(str(pkg))
    assert asked == [(NAME, f"{NAME} (2)")]
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



def test_a_name_clash_asks_cancel_rename_or_replace_for_files_and_packages(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The designer asks what `import` and `import-package` take as --rename / --replace; nothing is silent."""
    import designer.import_file as import_file
    from tests.samples import ANNOUNCEMENT
    source, pkg = _packaged(tmp_path)
    (tmp_path / "a.yaml").write_text(ANNOUNCEMENT)
    monkeypatch.setattr(QMessageBox, "information", lambda *a: None)
    w = MainWindow.open(source)
    assert w is not None
    doc = w.document
    original = doc.project.journey(NAME)
    for path in (str(tmp_path / "a.yaml"), str(pkg)):
        monkeypatch.setattr(import_file, "ask_clash", lambda *a: None)  # cancel: nothing changes
        w.actions.import_journey_file(path)
        assert [j.name for j in doc.project.journeys] == [NAME]
        monkeypatch.setattr(import_file, "ask_clash", lambda *a: "replace")
        w.actions.import_journey_file(path)
        assert [j.name for j in doc.project.journeys] == [NAME] and doc.project.journey(NAME) is not original
        doc.undo_stack.undo()  # one undoable edit: the project's own journey comes back
        assert doc.project.journey(NAME) is original
    doc.undo_stack.setClean()
    w.close()


def test_a_package_no_trusted_key_signed_is_imported_only_when_the_user_says_so(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import designer.import_file as import_file
    from app.package.keyring import Keyring, TrustedKey
    from app.package.signing import generate_key_pair, load_public_key
    from app.package.trust import set_project_keyring
    _, pkg = _packaged(tmp_path)  # unsigned
    generate_key_pair(tmp_path / "team.key")
    review = tmp_path / "review.jstudio"
    with ProjectFile.create(review) as pf:
        set_project_keyring(pf.project, Keyring([TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub"))]))
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a: shown.append(text))
    asked: list[str] = []
    monkeypatch.setattr(import_file, "ask_untrusted", lambda _p, problem: asked.append(problem) or False)
    w = MainWindow.open(review)
    assert w is not None
    w.actions.import_journey_file(str(pkg))
    assert "not signed, and trusted keys are configured" in asked[-1]
    assert w.document.project.find_journey(NAME) is None  # declined: nothing imported
    monkeypatch.setattr(import_file, "ask_untrusted", lambda _p, problem: True)
    w.actions.import_journey_file(str(pkg))
    added = w.document.project.journey(NAME)
    kinds = {k: d for k, _, d in w.document.file.milestones(added.id)}
    assert kinds["signed"] == "not signed (accepted explicitly although trusted keys are configured)"
    assert [n for n, _ in w.document.file.versions(added.id)] == [1] and added.version == 2
    w.document.undo_stack.setClean()
    w.close()
