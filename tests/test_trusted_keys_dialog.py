"""File > Trusted Keys: the project's keyring in the designer (add, list, remove; fingerprints in groups of four
hexadecimal digits); each change one undoable edit, kept in the project file, the same keys `keys list` shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox

from app.package.signing import generate_key_pair
from app.store import ProjectFile
from designer.document import Document
from designer.panels.trusted_keys import TrustedKeysDialog
from tests.cli_helpers import run
from tests.test_package import make_project

pytestmark = pytest.mark.gui


@pytest.fixture
def doc(tmp_path: Path, qtbot) -> Iterator[Document]:
    document = Document(ProjectFile.open(make_project(tmp_path / "p.jstudio")))
    yield document
    if not document.file.closed:
        document.close()


def _key(tmp_path: Path, name: str) -> Path:
    private = tmp_path / f"{name}.key"
    generate_key_pair(private)
    return Path(str(private) + ".pub")


def test_keys_are_added_listed_and_removed_undoably(doc: Document, qtbot, tmp_path: Path, monkeypatch,
                                                     capsys) -> None:
    dialog = TrustedKeysDialog(doc)
    qtbot.addWidget(dialog)
    assert dialog.tree.topLevelItemCount() == 0 and "No trusted keys" in dialog.note.text()
    assert dialog.add_key(str(_key(tmp_path, "team")), "Release team")
    assert dialog.add_key(str(_key(tmp_path, "ana")), "Ana")
    rows = [(dialog.tree.topLevelItem(i).text(0), dialog.tree.topLevelItem(i).text(1))
            for i in range(dialog.tree.topLevelItemCount())]
    assert [name for name, _ in rows] == ["Release team", "Ana"]
    assert all(len(fp.split(" ")) == 8 and all(len(g) == 4 for g in fp.split(" ")) for _, fp in rows)
    Path("/tmp/shots").mkdir(exist_ok=True)
    dialog.show()
    dialog.grab().save("/tmp/shots/trusted_keys.png")
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _p, _t, text: warned.append(text)))
    assert not dialog.add_key(str(_key(tmp_path, "again")), "ana")  # a name taken (case aside): one message
    assert "already named 'Ana'" in warned[-1] and dialog.tree.topLevelItemCount() == 2
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    assert not dialog.add_key(str(bad), "Bad") and "bad.pub" in warned[-1]
    dialog.tree.topLevelItem(1).setSelected(True)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    assert dialog.remove_selected()
    assert [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())] == ["Release team"]
    doc.undo_stack.undo()  # the removal comes back
    assert dialog.tree.topLevelItemCount() == 2
    doc.undo_stack.undo()  # and the second key goes
    assert [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())] == ["Release team"]
    path = doc.file.path
    doc.close()
    code, out, _ = run(capsys, "keys", "list", path, "--json")  # the same keyring, from the command line
    assert code == 0 and [k["name"] for k in json.loads(out)] == ["Release team"]
