"""The Contacts window: seed 004's walk-through starts by creating two contacts by hand with one e-mail address
(allowed, with a note), in a fictional city; every change is one undoable edit, deletions come back whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select

from app.audience import members as m
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from designer.contacts.commands import contacts_page
from designer.contacts.view import ContactsWindow
from designer.document import Document

pytestmark = pytest.mark.gui


@pytest.fixture
def doc(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = Document(ProjectFile.create(tmp_path / "p.jstudio"))
    yield d
    d.close()


def test_seed_004_two_contacts_with_one_address_then_a_segment_finds_them(doc: Document, qtbot) -> None:
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    assert window.count.text() == "0 contacts"
    form = window.form()
    for key, text in (("first_name", "Ana"), ("last_name", "Lima"), ("email", "me@example.org"), ("city", "Atlantis")):
        qtbot.keyClicks(form.inputs[key], text)
    form.accept()
    assert window.save(form.values())
    second = window.form()
    for key, text in (("first_name", "Bo"), ("last_name", "Berg"), ("email", "ME@example.org"), ("city", "Atlantis")):
        qtbot.keyClicks(second.inputs[key], text)
    second.inputs["email"].editingFinished.emit()
    assert "1 other contact already uses this address: allowed" in second.email_note.plain_text()  # a note
    assert window.save(second.values())
    assert window.count.text() == "2 contacts" and doc.undo_stack.undoText() == "Add contact Bo Berg"
    city = Segment("Atlantis", query={"blocks": [{"where": {"all": [
        {"attribute": "city", "op": "equals", "value": "atlantis"}]}}]})
    assert m.count(doc.file, city) == 2  # the segment of the tutorial finds both
    window.search.setText("berg")
    window.refresh()
    assert window.table.rowCount() == 1 and window.table.item(0, 1).text() == "Bo"


def test_edits_and_deletions_undo_and_redo(doc: Document, qtbot) -> None:
    with doc.file.connection(write=True) as conn:
        conn.execute(insert(t.contacts), [{"id": 7, "first_name": "Cy", "email": "cy@example.org"}])
        conn.execute(insert(t.segment_members), [{"segment": "Hand picked", "contact_id": 7}])
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    assert window.save({"first_name": "Cyrus", "city": "Paris"}, 7)
    assert contacts_page(doc.file, "cyrus")[1] == 1
    doc.undo_stack.undo()
    assert contacts_page(doc.file, "cyrus")[1] == 0 and contacts_page(doc.file, "cy@")[1] == 1
    window.table.selectRow(0)
    assert window.selected_ids() == [7] and window.delete_contacts()
    assert contacts_page(doc.file)[1] == 0 and window.table.rowCount() == 0
    doc.undo_stack.undo()  # the contact comes back with its static segment membership
    with doc.file.connection() as conn:
        assert conn.execute(select(t.segment_members.c.contact_id)).scalars().all() == [7]
    assert window.table.rowCount() == 1
    doc.undo_stack.redo()
    assert contacts_page(doc.file)[1] == 0


def test_a_contact_needs_a_name_or_an_address(doc: Document, qtbot) -> None:
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    form = window.form()
    form.accept()
    assert form.result() == 0 and "Give a name or an e-mail address" in form.email_note.plain_text()
