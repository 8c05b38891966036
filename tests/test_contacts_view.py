"""The Contacts window: seed 004's walk-through starts by creating two contacts by hand with one e-mail address
(allowed, with a note), in a fictional city; every change is one undoable edit, deletions come back whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from sqlalchemy import insert, select

from app.audience import members as m
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from designer.contacts.commands import contact_row, contacts_page
from designer.contacts.view import PAGE, ContactsWindow
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
    assert window.model.rowCount() == 1 and window.model.text(0, 1) == "Bo"


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
    assert contacts_page(doc.file)[1] == 0 and window.model.rowCount() == 0
    doc.undo_stack.undo()  # the contact comes back with its static segment membership
    with doc.file.connection() as conn:
        assert conn.execute(select(t.segment_members.c.contact_id)).scalars().all() == [7]
    assert window.model.rowCount() == 1
    doc.undo_stack.redo()
    assert contacts_page(doc.file)[1] == 0


def test_a_contact_needs_a_name_or_an_address(doc: Document, qtbot) -> None:
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    form = window.form()
    form.accept()
    assert form.result() == 0 and "Give a name or an e-mail address" in form.email_note.plain_text()


def _links(doc: Document) -> dict[int, int | None]:
    with doc.file.connection() as conn:
        return {int(i): a for i, a in conn.execute(select(t.contacts.c.id, t.contacts.c.account_id))}


def _column(window: ContactsWindow, header: str, accounts: bool = False) -> list[str]:
    model = window.account_model if accounts else window.model
    c = model.headers.index(header)
    return [model.text(r, c) for r in range(model.rowCount())]


def test_accounts_are_added_edited_and_deleted_and_undo_links_their_contacts_again(doc: Document, qtbot) -> None:
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Contacts", "Accounts"]
    assert window.account_count.text() == "0 accounts"
    form = window.account_form()
    for key, text in (("name", "Contoso"), ("industry", "Retail"), ("size", "1,200"), ("city", "Atlantis")):
        qtbot.keyClicks(form.inputs[key], text)
    form.accept()
    assert form.result() == 1 and form.values() == {"name": "Contoso", "industry": "Retail", "size": 1200,
                                                    "city": "Atlantis"}
    assert window.save_account(form.values()) and doc.undo_stack.undoText() == "Add account Contoso"
    assert window.account_count.text() == "1 account" and _column(window, "Employees", True) == ["1,200"]
    contoso = window.account_model.row_id(0)
    with doc.file.connection(write=True) as conn:
        conn.execute(insert(t.accounts), [{"id": 9, "name": "Fabrikam", "size": 0}])
        conn.execute(insert(t.contacts), [{"id": 1, "first_name": "Ana", "account_id": contoso},
                                          {"id": 2, "first_name": "Bo", "account_id": 9},
                                          {"id": 3, "first_name": "Cy", "account_id": 9},
                                          {"id": 4, "first_name": "Di", "account_id": None}])
    window.refresh()
    assert _column(window, "Name", True) == ["Contoso", "Fabrikam"] and _column(window, "Contacts", True) == ["1", "2"]
    assert _column(window, "Employees", True) == ["1,200", "0"]  # none is not the same as zero employees
    assert _column(window, "Account") == ["Contoso", "Fabrikam", "Fabrikam", ""]
    assert window.save_account({"name": "Contoso Ltd", "industry": None, "size": 1300, "city": "Atlantis"}, contoso)
    assert doc.undo_stack.undoText() == "Edit account Contoso Ltd" and _column(window, "Account")[0] == "Contoso Ltd"
    doc.undo_stack.undo()
    assert _column(window, "Account")[0] == "Contoso" and _column(window, "Industry", True)[0] == "Retail"
    doc.undo_stack.redo()
    assert _column(window, "Name", True)[0] == "Contoso Ltd"
    before = _links(doc)
    window.account_search.setText("atlantis")  # the city
    window.accounts.refresh()
    assert window.account_count.text() == "1 of 2 accounts matches"
    window.account_search.setText("")
    window.accounts.refresh()
    window.account_table.selectAll()
    assert window.selected_account_ids() == [contoso, 9] and window.delete_accounts()
    assert doc.undo_stack.undoText() == "Delete 2 accounts" and window.account_count.text() == "0 accounts"
    assert set(_links(doc).values()) == {None} and _column(window, "Account") == ["", "", "", ""]
    assert window.count.text() == "4 contacts"  # the contacts stay
    doc.undo_stack.undo()
    assert _links(doc) == before and window.account_count.text() == "2 accounts"
    assert _column(window, "Account") == ["Contoso Ltd", "Fabrikam", "Fabrikam", ""]
    doc.undo_stack.redo()
    assert set(_links(doc).values()) == {None} and window.account_model.rowCount() == 0
    doc.undo_stack.undo()
    doc.undo_stack.undo()  # the edit, then the add: a new account's undo removes it
    assert _column(window, "Name", True) == ["Contoso", "Fabrikam"]


def test_a_contact_gets_an_account_in_the_form_is_shown_with_it_and_found_by_it(doc: Document, qtbot) -> None:
    with doc.file.connection(write=True) as conn:
        conn.execute(insert(t.accounts), [{"id": 1, "name": "Contoso"}, {"id": 2, "name": "Fabrikam"},
                                          {"id": 3, "name": "contoso"}])
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    form = window.form()
    box = form.inputs["account_id"]
    assert box is form.account and box.accessibleName() == "Account"
    assert [box.itemText(i) for i in range(box.count())] == ["(none)", "Contoso (1)", "contoso (3)", "Fabrikam"]
    assert form.values()["account_id"] is None
    qtbot.keyClicks(form.inputs["first_name"], "Ana")
    box.lineEdit().clear()
    qtbot.keyClicks(box.lineEdit(), "ntos")  # typing filters the accounts: any part of the name, any case
    assert box.completer().completionCount() == 2
    form.accept()
    assert form.result() == 0 and "No account is called “ntos”" in form.account_note.plain_text()
    box.lineEdit().clear()
    qtbot.keyClicks(box.lineEdit(), "FABRIKAM")
    assert form.account_note.plain_text() == "" and form.values()["account_id"] == 2
    form.accept()
    assert form.result() == 1 and window.save(form.values())
    assert _column(window, "Account") == ["Fabrikam"] and contact_row(doc.file, 1)["account_id"] == 2
    window.search.setText("fabri")  # the account's name finds the contact
    window.refresh()
    assert window.model.rowCount() == 1 and window.count.text() == "1 of 1 contact matches"
    window.search.setText("contoso")
    window.refresh()
    assert window.model.rowCount() == 0 and window.count.text() == "0 of 1 contact match"
    edit = window.form(contact_row(doc.file, 1), 1)  # the form of a linked contact shows its account
    assert edit.account.currentText() == "Fabrikam"
    edit.set("account_id", None)
    assert edit.values()["account_id"] is None and window.save(edit.values(), 1)
    assert contact_row(doc.file, 1)["account_id"] is None
    doc.undo_stack.undo()
    assert contact_row(doc.file, 1)["account_id"] == 2
    assert not window.save({"first_name": "Bo", "account_id": 99})  # no such account: refused, nothing saved
    assert not window.save({"first_name": "Bo", "account_id": "2"})
    assert contacts_page(doc.file)[1] == 1 and doc.undo_stack.count() == 2


def test_a_large_project_is_read_a_page_at_a_time_up_to_its_last_contact(doc: Document, qtbot) -> None:
    n = 1_200
    with doc.file.connection(write=True) as conn:
        conn.execute(insert(t.accounts), [{"id": 1, "name": "Contoso"}])
        conn.execute(insert(t.contacts), [{"id": i, "first_name": f"P{i}", "city": "Atlantis" if i % 3 else "Oz",
                                           "account_id": 1 if i % 2 else None} for i in range(1, n + 1)])
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    model = window.model
    assert window.count.text() == "1,200 contacts" and window.account_count.text() == "1 account"
    assert model.rowCount() == PAGE == 500 and model.canFetchMore()  # one page, not every row
    assert _column(window, "Contacts", True) == ["600"]
    window.show()
    qtbot.waitExposed(window)
    bar = window.table.verticalScrollBar()
    bar.setValue(bar.maximum())  # scrolled to the bottom: the view asks for the next page
    assert model.rowCount() == 2 * PAGE
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == n and model.complete and model.text(n - 1, 0) == str(n)
    assert model.text(n - 1, 1) == f"P{n}" and window.count.text() == "1,200 contacts"
    window.table.selectRow(n - 2)
    assert window.save({"first_name": "Last but one"}, n - 1)  # a refresh keeps the rows read and the selection
    assert model.rowCount() == n and window.selected_ids() == [n - 1] and model.text(n - 2, 1) == "Last but one"
    window.search.setText("oz")
    window.refresh()
    assert window.count.text() == "400 of 1,200 contacts match" and model.rowCount() == 400
    assert not model.canFetchMore()
    window.search.setText("atlantis")
    window.refresh()
    assert window.count.text() == "800 of 1,200 contacts match" and model.rowCount() == PAGE
    model.fetchMore()
    assert model.rowCount() == 800 and not model.canFetchMore() and model.text(799, 0) == str(n - 1)
    window.table.selectRow(0)
    window.table.selectionModel().select(model.index(1, 0), QItemSelectionModel.SelectionFlag.Select
                                         | QItemSelectionModel.SelectionFlag.Rows)
    assert window.selected_ids() == [1, 2] and window.edit_button.isEnabled() is False
    assert window.delete_contacts() and doc.undo_stack.undoText() == "Delete 2 contacts"
    assert window.count.text() == "798 of 1,198 contacts match" and window.model.text(0, 0) == "4"


def test_a_bad_account_size_is_said_under_the_field_and_nothing_is_saved(doc: Document, qtbot) -> None:
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    form = window.account_form()
    qtbot.keyClicks(form.inputs["name"], "Contoso")
    for typed, said in (("lots", "Employees is a whole number, e.g. 250 (not “lots”)"), ("2.5", "whole number"),
                        ("-5", "Employees cannot be negative"), ("20000000", "Employees is at most 10,000,000")):
        form.inputs["size"].setText(typed)
        form.accept()
        assert form.result() == 0 and said in form.notes["size"].plain_text(), typed
    assert "size" not in form.values()  # not a number: never passed on as one
    form.inputs["size"].setText("")
    form.inputs["name"].setText("  ")
    form.accept()
    assert form.result() == 0 and form.notes["name"].plain_text() == "An account needs a name."
    assert form.notes["size"].plain_text() == ""
    for values in ({"name": "Contoso", "size": -1}, {"name": "Contoso", "size": "12"}, {"name": ""},
                   {"name": "Contoso", "size": 10_000_001}, {"name": "x" * 201}, {"name": "a\x00b"},
                   {"name": "Contoso", "employees": 3}):
        assert not window.save_account(values), values
    assert window.account_count.text() == "0 accounts" and doc.undo_stack.count() == 0
    form.inputs["name"].setText("Contoso")
    form.inputs["size"].setText("10 000 000")
    form.accept()
    assert form.result() == 1 and form.values()["size"] == 10_000_000


def test_every_control_has_a_name_and_return_edits_the_current_row(doc: Document, qtbot, monkeypatch) -> None:
    with doc.file.connection(write=True) as conn:
        conn.execute(insert(t.contacts), [{"id": 5, "first_name": "Ana"}])
    window = ContactsWindow(doc)
    qtbot.addWidget(window)
    def unnamed(dialog: QWidget) -> list[str]:
        return [type(w).__name__ for w in dialog.findChildren(QWidget) if w.window() is dialog and not
                w.accessibleName() and w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.focusProxy() is None]

    assert unnamed(window) == []  # named by the window itself, before any is shown
    for form in (window.form(), window.account_form()):  # the forms' OK and Cancel are named as shown
        form.show()
        assert unnamed(form) == [], form.windowTitle()
        form.close()
    assert [window.accounts.search.accessibleName(), window.account_table.accessibleName(),
            window.accounts.new_button.accessibleName()] == ["Search accounts", "Accounts", "New account"]
    edits: list[int] = []
    monkeypatch.setattr(window, "edit_contact", lambda: edits.append(1))
    window.show()
    qtbot.waitExposed(window)
    window.table.setFocus()
    window.table.selectRow(0)
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert edits == [1] and window.selected_ids() == [5] and window.edit_button.isEnabled()
