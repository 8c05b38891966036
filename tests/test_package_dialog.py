"""The "Go live / Export package" dialog, driven offscreen: readiness and what it means, refusals listed in the
dialog, a package written with its path and SHA-256, a signing key, a released version."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QTreeWidgetItem, QWidget

from app.model.content import Content
from app.package.read import read_package
from app.package.signing import generate_key_pair
from app.store import ProjectFile
from designer.document import Document
from designer.panels.package_dialog import PackageDialog, default_package_name
from tests.samples import ANNOUNCEMENT
from tests.test_package import NAME, approve, make_project, save_run

pytestmark = pytest.mark.gui
SHOTS = Path("/tmp/shots")


@pytest.fixture
def doc(tmp_path: Path, qtbot) -> Iterator[Document]:
    document = Document(ProjectFile.open(make_project(tmp_path / "p.jstudio")))
    yield document
    if not document.file.closed:
        document.close()


def rows(dialog: PackageDialog) -> list[tuple[str, list[str]]]:
    """The readiness tree: each top row's text, with its children's texts."""
    out = []
    for i in range(dialog.tree.topLevelItemCount()):
        top: QTreeWidgetItem = dialog.tree.topLevelItem(i)
        out.append((top.text(0), [top.child(k).text(0) for k in range(top.childCount())]))
    return out


def meaning(dialog: PackageDialog, starts: str) -> str:
    for i in range(dialog.tree.topLevelItemCount()):
        if dialog.tree.topLevelItem(i).text(0).startswith(starts):
            return dialog.tree.topLevelItem(i).text(1)
    raise AssertionError(starts)


def shoot(widget: QWidget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.show()
    QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


def make_draft(doc: Document, name: str) -> None:
    c = doc.project.content[name]
    doc.project.put_content(Content(**{**c.__dict__, "status": "draft"}))


def test_a_ready_journey_is_packaged_and_shows_path_and_sha256(doc: Document, qtbot, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    assert dialog.verdict.text() == f"Ready to go live: {NAME}, version 1 (the current draft, frozen when packaged)"
    assert rows(dialog) == [
        ("Check for errors: no errors", []),
        ("Content: all 2 Ready to send", ["Product announcement email (email)", "Product launched text (sms)"]),
        ("Approved simulation: none", []),
        ("Live runner: can run it", []),
    ]
    assert "no simulated funnel" in meaning(dialog, "Approved simulation")
    assert dialog.out_path.text() == str(tmp_path / default_package_name(NAME, 1)) == str(
        tmp_path / "product-announcement-v1.jpkg")
    chosen = tmp_path / "shipped"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    qtbot.mouseClick(dialog.out_button, Qt.MouseButton.LeftButton)
    assert dialog.out_path.text() == str(chosen) + ".jpkg"

    with qtbot.waitSignal(dialog.packaged) as signal:
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    written = tmp_path / "shipped.jpkg"
    digest = hashlib.sha256(written.read_bytes()).hexdigest()
    assert signal.args[0].sha256 == digest
    assert dialog.outcome_text().splitlines() == [
        f"Wrote {written}", f"'{NAME}' version 1 (frozen now; edits make the next version)", "Not signed",
        f"SHA-256 {digest}"]
    assert read_package(written).version == 1 and doc.project.journey(NAME).version == 2
    # the released version is now chosen, and the draft offered as version 2
    assert dialog.selected_version() == 1 and dialog.version.itemText(0).endswith("as version 2")
    assert dialog.verdict.text() == f"Ready to go live: {NAME}, version 1"
    shoot(dialog, "package_dialog_done")


def test_refusals_are_listed_in_the_dialog(qtbot, tmp_path: Path) -> None:
    no_exit = ANNOUNCEMENT.replace("    no: end\n", "")  # an open output: a warning, which does not refuse
    doc = Document(ProjectFile.open(make_project(tmp_path / "p.jstudio", no_exit)))
    qtbot.addWidget(dialog := PackageDialog(doc))
    make_draft(doc, "Product launched text")
    dialog.refresh()
    assert dialog.verdict.text().startswith(f"Not ready to go live: {NAME}")
    top = rows(dialog)
    assert top[0][0] == "Check for errors: 1 error"
    assert top[0][1] == ["step 'launched' (content)", "step 'clicked' (no)", "1 warning"]
    checks = dialog.tree.topLevelItem(0)
    assert checks.child(0).text(1).startswith("Content 'Product launched text' is a draft, not Ready to send. Fix: ")
    assert checks.child(1).text(1).startswith("Output 'no' of step 'product-details clicked within 1 day?' is not "
                                          "connected: contacts exit there.")
    assert top[1] == ("Content: 1 of 2 not Ready to send", ["Product announcement email (email)",
                                                             "Product launched text (sms)"])
    content = dialog.tree.topLevelItem(1)
    assert [content.child(i).text(1) for i in range(2)] == [
        "Ready to send: may be sent.", "Draft: the content must be in the Ready to send state."]
    assert "the content must be in the Ready to send state" in meaning(dialog, "Content")
    assert "Warnings do not stop going live" in dialog.tree.topLevelItem(0).child(2).text(1)
    assert not dialog.create_button.isEnabled()  # the list says why; the button does not invite a refusal
    assert dialog.create_button.toolTip() == ("Not ready to go live: 1 error to fix; 1 content item to mark Ready "
                                              "to send")
    assert not dialog.create_package()  # asked anyway (the menu's shortcut): refused, each reason once
    lines = dialog.outcome_text().splitlines()
    assert len(lines) == len(set(lines))
    assert lines[0] == (f"Refused: journey '{NAME}' cannot go live: 1 error and 1 content item not Ready to send "
                        "(no package was written, nothing was frozen)")
    assert ("content 'Product launched text' (sms) is Draft: the content must be in the Ready to send state"
            in lines)
    assert any("content-not-ready in step 'launched'" in line for line in lines)
    assert not Path(dialog.out_path.text()).exists() and doc.file.versions(NAME) == []
    dialog.resize(820, 640)
    shoot(dialog, "package_dialog")
    doc.close()


def test_signing_key_and_the_approved_run(doc: Document, qtbot, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = save_run(doc.file)
    approve(doc.file, run_id, "ana")
    kid = generate_key_pair(tmp_path / "team.key")
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    assert rows(dialog)[2][0] == f"Approved simulation: run {run_id}"
    assert meaning(dialog, "Approved simulation").startswith(f"run {run_id} 'baseline', approved by ana")
    (tmp_path / "junk.key").write_text("not a key")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "junk.key"), ""))
    qtbot.mouseClick(dialog.key_button, Qt.MouseButton.LeftButton)
    assert not dialog.create_package()
    assert "not a PEM private key" in dialog.key_note.plain_text() and doc.file.versions(NAME) == []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "team.key"), ""))
    qtbot.mouseClick(dialog.key_button, Qt.MouseButton.LeftButton)
    assert dialog.create_package()
    assert f"Signed by {kid}" in dialog.outcome_text().splitlines()
    pkg = read_package(dialog.package_result.path, public_key=tmp_path / "team.key.pub", require_signature=True)
    assert pkg.signed_by == kid and pkg.approved_run is not None and pkg.approved_run["id"] == run_id


def test_a_released_version_can_be_packaged_while_the_draft_is_not_ready(doc: Document, qtbot,
                                                                         tmp_path: Path) -> None:
    doc.file.freeze(NAME)
    make_draft(doc, "Product announcement email")
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    assert dialog.verdict.text().startswith("Not ready to go live")
    assert [dialog.version.itemData(i) for i in range(dialog.version.count())] == [-1, 1]
    dialog.version.setCurrentIndex(1)
    assert dialog.verdict.text() == f"Ready to go live: {NAME}, version 1"
    assert dialog.out_path.text().endswith("product-announcement-v1.jpkg")
    assert dialog.create_package()
    assert read_package(dialog.package_result.path).content["Product announcement email"].status == "ready"
    assert [v for v, _ in doc.file.versions(NAME)] == [1]  # nothing frozen again


def test_the_dialog_follows_the_current_journey(doc: Document, qtbot, tmp_path: Path) -> None:
    from app.codec.yamlio import read_journey_text
    from app.services import import_journey
    import_journey(doc.project, *read_journey_text(ANNOUNCEMENT.replace(f"name: {NAME}", "name: Teaser")))
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    assert dialog.verdict.text().startswith(f"Ready to go live: {NAME},")
    doc.set_current_journey(doc.project.journey("Teaser").id)
    assert dialog.verdict.text().startswith("Ready to go live: Teaser,")
    assert dialog.out_path.text() == str(tmp_path / "teaser-v1.jpkg")  # the proposed name follows
    dialog.out_path.setText(str(tmp_path / "mine.jpkg"))
    doc.set_current_journey(doc.project.journey(NAME).id)
    assert dialog.out_path.text() == str(tmp_path / "mine.jpkg")  # a name the user gave stays


def test_without_a_journey_nothing_can_be_made(tmp_path: Path, qtbot) -> None:
    document = Document(ProjectFile.create(tmp_path / "empty.jstudio"))
    try:
        dialog = PackageDialog(document)
        qtbot.addWidget(dialog)
        assert dialog.verdict.text() == "No journey is open" and not dialog.create_button.isEnabled()
        assert not dialog.create_package()
    finally:
        document.close()


def test_the_dialog_says_when_the_live_runner_could_not_run_the_journey(tmp_path: Path, qtbot,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from app.model.registry import REGISTRY
    from tests.samples import ANNOUNCEMENT as TEXT
    monkeypatch.setitem(REGISTRY, "task", replace(REGISTRY["task"], live=None))  # an action it cannot do
    with_task = TEXT.replace("    no: end\n", "    no: call\n  call: {type: task, subject: Call them}\n")
    assert with_task != TEXT
    document = Document(ProjectFile.open(make_project(tmp_path / "a.jstudio", with_task)))
    try:
        dialog = PackageDialog(document)
        qtbot.addWidget(dialog)
        assert dialog.readiness is not None and not dialog.readiness.errors
        assert ("Live runner: cannot run it yet", []) in rows(dialog)
        assert "step 'call' is a Create task the runner cannot carry out" in meaning(dialog, "Live runner")
        assert dialog.create_button.isEnabled()  # a warning, not a refusal: another runner may take it
    finally:
        document.close()


def test_go_live_shows_the_released_version_again_or_what_changed(doc: Document, qtbot, tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from app.package.build import package_journey
    package_journey(doc.file, NAME, tmp_path / "v1.jpkg")
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    # unchanged since version 1: packaging again reuses it
    assert dialog.verdict.text() == f"Ready to go live: {NAME}, version 1 (the current draft: unchanged since released)"
    assert rows(dialog)[0] == ("Version 1: unchanged since it was released", [])
    assert dialog.version.itemText(0) == "The current draft: unchanged, version 1 again"
    assert dialog.create_package()
    assert "(unchanged: the released version again, nothing frozen)" in dialog.outcome_text()
    assert [v for v, _ in doc.file.versions(NAME)] == [1]
    # a change: the next version, with what changed since version 1
    journey = doc.project.journey(NAME)
    journey.set_props("launch", {"until": datetime(2026, 12, 12, 9, 0)})
    journey.set_props("clicked", {"within": timedelta(days=2)})
    journey.update(description="Second wave, for those who missed the first")
    dialog.version.setCurrentIndex(0)  # the draft (the dialog showed the version just packaged)
    dialog.refresh()
    assert dialog.verdict.text() == f"Ready to go live: {NAME}, version 2 (the current draft, frozen when packaged)"
    top, children = rows(dialog)[0]
    assert top == "Version 2: changed since version 1"
    assert meaning(dialog, "Version 2") == "2 steps changed, settings changed. The package records what differs:"
    assert children == ["step 'clicked' changed", "step 'launch' changed", "setting description"]
    assert "until: '2026-12-10T09:00' -> '2026-12-12T09:00'" in dialog.tree.topLevelItem(0).child(1).text(1)
    shoot(dialog, "golive")
    dialog.out_path.setText(str(tmp_path / "v2.jpkg"))
    assert dialog.create_package()
    assert "Changes from version 1: 2 steps changed, settings changed" in dialog.outcome_text()
    assert read_package(tmp_path / "v2.jpkg").manifest["changes"]["from_version"] == 1


def test_go_live_says_what_the_projects_trusted_keys_make_of_the_signing_key(doc: Document, qtbot,
                                                                            tmp_path: Path) -> None:
    from app.package.keyring import Keyring, TrustedKey
    from app.package.signing import load_public_key
    from app.package.trust import set_project_keyring
    generate_key_pair(tmp_path / "team.key")
    generate_key_pair(tmp_path / "other.key")
    set_project_keyring(doc.project, Keyring([TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub"))]))
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    dialog.key_path.setText("")
    assert "a package without a signature is refused by verify, import-package and run" in \
        dialog.key_note.plain_text()
    dialog.key_path.setText(str(tmp_path / "other.key"))
    assert "signed by this key is refused" in dialog.key_note.plain_text()
    dialog.key_path.setText(str(tmp_path / "team.key"))
    assert dialog.key_note.plain_text() == "Signed by 'Ana', a key the project trusts."
    assert dialog.create_package()
    pkg = read_package(dialog.package_result.path)  # type: ignore[union-attr]
    assert pkg.manifest["signed"]["by"] == "Ana"


def test_a_passed_start_is_refused_and_start_now_fixes_it_undoably(doc: Document, qtbot,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The announcement starts 2026-12-01 09:00 Paris, a one-time journey: checked a day later it may not go live
    as it is; Start now moves the start to the next whole minute (one undoable edit) and it is ready again."""
    from datetime import datetime
    monkeypatch.setenv("JOURNEY_STUDIO_NOW", "2026-12-02T10:00Z")
    dialog = PackageDialog(doc)
    qtbot.addWidget(dialog)
    assert dialog.verdict.text().startswith("Not ready to go live")
    assert dialog.start_now_button.isVisibleTo(dialog)
    assert any("start" in child.lower() for _, children in rows(dialog) for child in children)
    shoot(dialog, "golive_start_passed")
    before = doc.current_journey.schedule
    assert dialog.start_now() is True
    after = doc.current_journey.schedule
    assert after.start == datetime(2026, 12, 2, 11, 1)  # 10:01 UTC is 11:01 in Paris
    assert after.end == before.end  # still after the new start: kept
    assert dialog.verdict.text().startswith("Ready to go live") and not dialog.start_now_button.isVisibleTo(dialog)
    doc.undo_stack.undo()
    assert doc.current_journey.schedule == before
