"""The Contacts window: search the project's contacts and accounts, add, edit and delete them (every change undoable).

Seed 004's walk-through starts here: two contacts created by hand, with the same e-mail address (allowed: a
note says the address is shared, it does not refuse), in a fictional city a segment can then find.

Both tabs show a ListModel: the rows of one table read a page at a time as the list is scrolled (by id, after
the last id shown), so that every one of 100,000 contacts can be reached without reading them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import (QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, QObject,
                            QPersistentModelIndex, Qt, QTimer, Signal)
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QCompleter, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QTableView, QTabWidget, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.model.attributes import CONSENT_LEVELS
from designer.contacts.commands import (ACCOUNT_FIELDS, ACCOUNTS, CONTACTS, EDITABLE, MAX_SIZE, MAX_TEXT, Listing,
                                        PutAccount, PutContact, RemoveAccounts, RemoveContacts, account_choices,
                                        account_row, contact_row, others_with_email)
from designer.panels.common import Dialog, FieldNote

if TYPE_CHECKING:
    from designer.document import Document

LABELS = {"first_name": "First name", "last_name": "Last name", "email": "E-mail", "mobile_phone": "Mobile phone",
          "city": "City", "country": "Country", "consent_level": "Consent", "account_id": "Account"}
ACCOUNT_LABELS = {"name": "Name", "industry": "Industry", "size": "Employees", "city": "City"}
CONTACT_HEADERS = ("Id", *(LABELS[k] for k in EDITABLE), "Account")
ACCOUNT_HEADERS = ("Id", *(ACCOUNT_LABELS[k] for k in ACCOUNT_FIELDS), "Contacts")
PAGE = 500  # rows read at a time
_NUMBERS = frozenset({"id", "size", "contacts"})
Index = QModelIndex | QPersistentModelIndex


def parse_size(text: str) -> int | None:
    """Employees as typed ('1,200' and '1 200' too; empty: None); ValueError says what is wrong, in a sentence."""
    plain = re.sub(r"[\s,_'\u00a0\u202f]", "", text)
    if not plain:
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", plain):
        shown = text.strip() if len(text.strip()) <= 30 else text.strip()[:29] + "…"
        raise ValueError(f"Employees is a whole number, e.g. 250 (not “{shown}”).")
    n = int(plain)
    if n < 0:
        raise ValueError("Employees cannot be negative.")
    if n > MAX_SIZE:
        raise ValueError(f"Employees is at most {MAX_SIZE:,}.")
    return n


def _text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in ("size", "contacts") and isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("_", " ") if key == "consent_level" else str(value)


# --- the lists -------------------------------------------------------------------------------------------------
class ListModel(QAbstractTableModel):
    """The rows of one Listing (contacts or accounts) that match a search, by id, read a page at a time as the view
    asks for more (Qt's canFetchMore / fetchMore): only what was scrolled through is held."""

    failed = Signal(str)  # why the next page could not be read

    def __init__(self, document: Document, listing: Listing, headers: Sequence[str], parent: QObject | None = None,
                 *, page_size: int = PAGE) -> None:
        super().__init__(parent)
        assert len(headers) == len(listing.fields) + 1
        self.document, self.listing, self.headers, self.page_size = document, listing, tuple(headers), page_size
        self.keys = ("id", *listing.fields)
        self.search = ""
        self.matches = 0  # rows that match the search
        self.total = 0  # rows in the table
        self.error: str | None = None  # why the rows could not be read
        self._rows: list[dict[str, Any]] = []
        self._index: dict[int, int] = {}  # id -> row
        self._exhausted = True

    # --- what is shown --------------------------------------------------------------------------------------
    def reset(self, search: str = "", keep: int = 0) -> bool:
        """Show the rows that match `search` from the first page, at least `keep` rows of them when there are
        (a refresh keeps what was scrolled to); False when they cannot be read (`error` says why)."""
        limit = max(1, -(-max(keep, 1) // self.page_size)) * self.page_size
        self.beginResetModel()
        self.search = search
        try:
            rows = self.listing.rows(self.document.file, search, 0, limit)
            self.total = self.listing.count(self.document.file)
            self.matches = self.listing.count(self.document.file, search) if search.strip() else self.total
            self.error = None
        except JourneyStudioError as e:
            rows, self.total, self.matches, self.error = [], 0, 0, str(e)
        self._rows = rows
        self._index = {int(r["id"]): i for i, r in enumerate(rows)}
        self._exhausted = self.error is not None or len(rows) < limit
        self.endResetModel()
        return self.error is None

    def count_text(self) -> str:
        """'12,000 contacts', '3 of 12,000 contacts match' when searching, or why they could not be read."""
        return self.error or self.listing.count_text(self.matches, self.total, self.search)

    @property
    def complete(self) -> bool:
        """Whether every matching row is loaded."""
        return self._exhausted

    def row_id(self, row: int) -> int:
        """The id of the row shown in `row`."""
        return int(self._rows[row]["id"])

    def row_of(self, row_id: int) -> int | None:
        """Where the row with this id is shown (None: not loaded, or not a match)."""
        return self._index.get(row_id)

    def row_values(self, row: int) -> dict[str, Any]:
        """The values read for `row` (id and columns; a contact's also its account_id)."""
        return dict(self._rows[row])

    def text(self, row: int, column: int) -> str:
        """What the cell shows."""
        return _text(self.keys[column], self._rows[row].get(self.keys[column]))

    # --- Qt's model protocol --------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.keys)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.UserRole:
            return self.row_id(index.row())
        if role == Qt.ItemDataRole.TextAlignmentRole and self.keys[index.column()] in _NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        return str(section + 1)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if not self.canFetchMore(parent):
            return
        after = self.row_id(len(self._rows) - 1) if self._rows else 0
        try:
            rows = self.listing.rows(self.document.file, self.search, after, self.page_size)
        except JourneyStudioError as e:
            self.error, self._exhausted = str(e), True
            self.failed.emit(self.error)
            return
        if len(rows) < self.page_size:
            self._exhausted = True
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self._index.update((int(r["id"]), first + i) for i, r in enumerate(rows))
        self.endInsertRows()


class ListPanel(QWidget):
    """One tab of the window: a search, the list, New…/Edit…/Delete and how many rows there are."""

    def __init__(self, document: Document, listing: Listing, headers: Sequence[str], *, placeholder: str,
                 search_name: str, table_name: str, button_names: tuple[str, str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.search = QLineEdit()
        self.search.setPlaceholderText(placeholder)
        self.search.setAccessibleName(search_name)
        self.search.setClearButtonEnabled(True)
        self.model = ListModel(document, listing, headers, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName(table_name)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.count = QLabel()
        self.new_button = QPushButton("New…")
        self.edit_button = QPushButton("Edit…")
        self.delete_button = QPushButton("Delete")
        buttons = QHBoxLayout()
        for b, name in zip((self.new_button, self.edit_button, self.delete_button), button_names):
            b.setAccessibleName(name)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.delete_key = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table,
                                    context=Qt.ShortcutContext.WidgetShortcut)
        self.delete_key.activated.connect(self.delete_button.click)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._typed)
        self.search.returnPressed.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.failed.connect(self.count.setText)
        self.new_button.setEnabled(not document.readonly)

    def _typed(self, _text: str) -> None:
        self._timer.start()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Return in the search (searches now) or the list (edits the row: the view's `activated`) goes no further:
        # the window would press its default button, New…
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_buttons()

    def refresh(self) -> None:
        """Read the rows again: the same search keeps the rows loaded, the selection and the place scrolled to."""
        self._timer.stop()
        search = self.search.text()
        same = search == self.model.search and self.model.error is None and self.model.rowCount() > 0
        ids = self.selected_ids() if same else []
        current = self.table.currentIndex()
        current_id = self.model.row_id(current.row()) if same and current.isValid() else None
        scroll = self.table.verticalScrollBar().value()
        self.model.reset(search, self.model.rowCount() if same else 0)
        self.select_ids(ids, current_id)
        if same:
            self.table.doItemsLayout()  # the scroll bar's range for the rows read, then the place it was at
            self.table.verticalScrollBar().setValue(scroll)
        else:
            self.table.resizeColumnsToContents()
        self.count.setText(self.model.count_text())
        self.update_buttons()

    def selected_ids(self) -> list[int]:
        """The ids of the rows selected, in order."""
        return sorted({self.model.row_id(i.row()) for i in self.table.selectionModel().selectedRows()})

    def select_ids(self, ids: Iterable[int], current: int | None = None) -> None:
        """Select the rows with these ids that are loaded (and make `current` the current row)."""
        rows = sorted(r for r in (self.model.row_of(i) for i in ids) if r is not None)
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        start = prev = None
        for r in [*rows, None]:  # contiguous rows as one range
            if r is not None and prev is not None and r == prev + 1:
                prev = r
                continue
            if start is not None and prev is not None:
                selection.select(self.model.index(start, 0), self.model.index(prev, last))
            start = prev = r
        model = self.table.selectionModel()
        row = None if current is None else self.model.row_of(current)
        if row is not None:
            model.setCurrentIndex(self.model.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
                     | QItemSelectionModel.SelectionFlag.Rows)

    def update_buttons(self) -> None:
        ids = self.selected_ids()
        writable = not self.document.readonly
        self.edit_button.setEnabled(writable and len(ids) == 1)
        self.delete_button.setEnabled(writable and bool(ids))


# --- the forms -------------------------------------------------------------------------------------------------
class ContactForm(Dialog):
    """One contact's fields, its account among them; OK saves them (as one undoable edit, done by the caller)."""

    def __init__(self, document: Document, values: dict[str, Any] | None = None, contact_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document, self.contact_id = document, contact_id
        self.setWindowTitle("New contact" if contact_id is None else "Edit contact")
        self.setMinimumWidth(380)
        form = QFormLayout(self)
        self.inputs: dict[str, QWidget] = {}
        for key in EDITABLE:
            if key == "consent_level":
                box = QComboBox()
                box.addItem("(not set)", None)
                for level in CONSENT_LEVELS:
                    box.addItem(level.replace("_", " "), level)
                widget: QWidget = box
            else:
                widget = QLineEdit()
                widget.setMaxLength(MAX_TEXT)
            self._row(form, key, widget)
        self.email_note = FieldNote()
        form.addRow("", self.email_note)
        self.account = self._account_box()
        self._row(form, "account_id", self.account)
        self.account_note = FieldNote()
        form.addRow("", self.account_note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for key, value in (values or {}).items():
            if key in self.inputs:
                self.set(key, value)
        email = self.inputs["email"]
        assert isinstance(email, QLineEdit)
        email.editingFinished.connect(self._check_email)
        self.account.editTextChanged.connect(self._account_typed)
        self.inputs["first_name"].setFocus()

    def _row(self, form: QFormLayout, key: str, widget: QWidget) -> None:
        widget.setAccessibleName(LABELS[key])
        label = QLabel(f"{LABELS[key]}:")
        label.setBuddy(widget)
        form.addRow(label, widget)
        self.inputs[key] = widget

    def _account_box(self) -> QComboBox:
        """'(none)' and the project's accounts by name; typing filters them (any part of the name, any case)."""
        box = QComboBox()
        box.setEditable(True)
        box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        box.addItem("(none)", None)
        try:
            choices = account_choices(self.document.file)
        except JourneyStudioError:
            choices = []
        for account_id, label in choices:
            box.addItem(label, account_id)
        completer = QCompleter(box.model(), box)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        box.setCompleter(completer)
        line = box.lineEdit()
        if line is not None:
            line.setMaxLength(MAX_TEXT)
            line.setPlaceholderText("(none)")
        return box

    def set(self, key: str, value: Any) -> None:
        widget = self.inputs[key]
        if isinstance(widget, QComboBox):
            i = widget.findData(value) if value is not None else 0
            widget.setCurrentIndex(max(i, 0))
        elif isinstance(widget, QLineEdit):
            widget.setText("" if value is None else str(value))

    def account_choice(self) -> tuple[bool, int | None]:
        """Whether the account field names an account (or none), and its id."""
        text = self.account.currentText().strip()
        if not text:
            return True, None
        i = self.account.findText(text, Qt.MatchFlag.MatchFixedString)  # any case
        return (True, self.account.itemData(i)) if i >= 0 else (False, None)

    def values(self) -> dict[str, Any]:
        """The fields as typed; an account field that names no account is left out (it keeps the contact's)."""
        out: dict[str, Any] = {}
        for key, widget in self.inputs.items():
            if key == "account_id":
                known, account_id = self.account_choice()
                if known:
                    out[key] = account_id
            elif isinstance(widget, QComboBox):
                out[key] = widget.currentData()
            elif isinstance(widget, QLineEdit):
                out[key] = widget.text().strip()[:MAX_TEXT] or None  # bounded where it enters
        return out

    def _check_email(self) -> None:
        email = self.values().get("email")
        shared = others_with_email(self.document.file, email, self.contact_id) if email else 0
        self.email_note.set_hint(f"{shared} other contact{'s' * (shared != 1)} already use{'s' * (shared == 1)} "
                                 "this address: allowed (people can share one), just so you know." if shared else None)

    def _account_typed(self, _text: str) -> None:
        self.account_note.set_input_error(None)

    def accept(self) -> None:
        v = self.values()
        if not any(v.get(k) for k in ("first_name", "last_name", "email")):
            self.email_note.set_input_error("Give a name or an e-mail address.")
            return
        if any("\x00" in str(x) for x in v.values() if x):
            self.email_note.set_input_error("A field holds a NUL character.")
            return
        if not self.account_choice()[0]:
            self.account_note.set_input_error(f"No account is called “{self.account.currentText().strip()[:60]}”: "
                                              "pick one from the list, or (none).")
            return
        super().accept()


class AccountForm(Dialog):
    """One account's fields; OK saves them (as one undoable edit, done by the caller)."""

    def __init__(self, document: Document, values: dict[str, Any] | None = None, account_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document, self.account_id = document, account_id
        self.setWindowTitle("New account" if account_id is None else "Edit account")
        self.setMinimumWidth(360)
        form = QFormLayout(self)
        self.inputs: dict[str, QLineEdit] = {}
        self.notes: dict[str, FieldNote] = {}
        for key in ACCOUNT_FIELDS:
            edit = QLineEdit()
            edit.setMaxLength(MAX_TEXT)
            edit.setAccessibleName(ACCOUNT_LABELS[key])
            label = QLabel(f"{ACCOUNT_LABELS[key]}:")
            label.setBuddy(edit)
            form.addRow(label, edit)
            note = FieldNote()
            form.addRow("", note)
            self.inputs[key], self.notes[key] = edit, note
            edit.textEdited.connect(self._edited)
        self.inputs["size"].setPlaceholderText("e.g. 250")
        self.inputs["size"].editingFinished.connect(self._check_size)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for key, value in (values or {}).items():
            if key in self.inputs:
                self.inputs[key].setText("" if value is None else str(value))
        self.inputs["name"].setFocus()

    def _edited(self, _text: str) -> None:  # a field's error goes once it is edited
        for key, edit in self.inputs.items():
            if edit is self.sender():
                self.notes[key].set_input_error(None)

    def _check_size(self) -> bool:
        try:
            parse_size(self.inputs["size"].text())
        except ValueError as e:
            self.notes["size"].set_input_error(str(e))
            return False
        self.notes["size"].set_input_error(None)
        return True

    def values(self) -> dict[str, Any]:
        """The fields as typed; a size that is not a number of employees is left out (it keeps the account's)."""
        out: dict[str, Any] = {}
        for key, edit in self.inputs.items():
            if key != "size":
                out[key] = edit.text().strip()[:MAX_TEXT] or None  # bounded where it enters
                continue
            try:
                out[key] = parse_size(edit.text())
            except ValueError:
                pass
        return out

    def accept(self) -> None:
        ok = self._check_size()
        for key, edit in self.inputs.items():
            if "\x00" in edit.text():
                self.notes[key].set_input_error("This field holds a NUL character.")
                ok = False
        if not self.inputs["name"].text().strip():
            self.notes["name"].set_input_error("An account needs a name.")
            ok = False
        if ok:
            super().accept()


# --- the window ------------------------------------------------------------------------------------------------
class ContactsWindow(Dialog):
    """Search, add, edit and delete the project's contacts (first tab) and accounts (second tab)."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.setWindowTitle("Contacts")
        self.resize(900, 560)
        self.contacts = ListPanel(document, CONTACTS, CONTACT_HEADERS,
                                  placeholder="Search by name, e-mail, city or account…",
                                  search_name="Search contacts", table_name="Contacts",
                                  button_names=("New contact", "Edit contact", "Delete contacts"))
        self.accounts = ListPanel(document, ACCOUNTS, ACCOUNT_HEADERS,
                                  placeholder="Search by name, industry or city…",
                                  search_name="Search accounts", table_name="Accounts",
                                  button_names=("New account", "Edit account", "Delete accounts"))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.contacts, "Contacts")
        self.tabs.addTab(self.accounts, "Accounts")
        self.tabs.tabBar().setAccessibleName("Tabs: Contacts, Accounts")
        # the contacts' controls under the names they had before the window had tabs
        self.search, self.table, self.model, self.count = (self.contacts.search, self.contacts.table,
                                                           self.contacts.model, self.contacts.count)
        self.new_button, self.edit_button, self.delete_button = (self.contacts.new_button, self.contacts.edit_button,
                                                                 self.contacts.delete_button)
        self.account_search, self.account_table, self.account_model, self.account_count = (
            self.accounts.search, self.accounts.table, self.accounts.model, self.accounts.count)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        close_button = close.button(QDialogButtonBox.StandardButton.Close)
        if close_button is not None:
            close_button.setAccessibleName("Close")
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(close)
        self.contacts.new_button.clicked.connect(self.new_contact)
        self.contacts.edit_button.clicked.connect(self.edit_contact)
        self.contacts.delete_button.clicked.connect(self.delete_contacts)
        self.contacts.table.activated.connect(self._contact_activated)
        self.accounts.new_button.clicked.connect(self.new_account)
        self.accounts.edit_button.clicked.connect(self.edit_account)
        self.accounts.delete_button.clicked.connect(self.delete_accounts)
        self.accounts.table.activated.connect(self._account_activated)
        # undo and redo show at once (a method, not a lambda: Qt drops the connection with the window)
        self._listening = False
        self._listen(True)
        self.refresh()

    # --- the lists ------------------------------------------------------------------------------------------
    def _listen(self, on: bool) -> None:
        """Follow the undo stack while the window is in use (a closed window kept by its parent does not)."""
        if on and not self._listening:
            self.document.undo_stack.indexChanged.connect(self._stack_moved)
        elif not on and self._listening:
            self.document.undo_stack.indexChanged.disconnect(self._stack_moved)
        self._listening = on

    def showEvent(self, event: QShowEvent) -> None:
        if not self._listening:
            self._listen(True)
            self.refresh()
        super().showEvent(event)

    def done(self, result: int) -> None:
        self._listen(False)
        super().done(result)

    def _stack_moved(self, _index: int) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read both lists again (each keeps its search, selection and the place scrolled to)."""
        self.contacts.refresh()
        self.accounts.refresh()

    def selected_ids(self) -> list[int]:
        """The ids of the contacts selected."""
        return self.contacts.selected_ids()

    def selected_account_ids(self) -> list[int]:
        """The ids of the accounts selected."""
        return self.accounts.selected_ids()

    def _run(self, make: Any) -> bool:
        try:
            command = make()
        except JourneyStudioError as e:  # values the command refuses: said like a refused edit
            self.document.message.emit(str(e))
            return False
        return self.document.run(command)

    def _open_form(self, make_form: Callable[..., Any], read_row: Callable[[Any, int], dict[str, Any] | None],
                   save: Callable[..., bool], ids: list[int] | None) -> None:
        """A new record's form (ids None), or the form of the one record selected; OK saves it."""
        if ids is not None and (len(ids) != 1 or self.document.readonly):
            return
        row = read_row(self.document.file, ids[0]) if ids is not None else None
        if ids is not None and row is None:
            return
        record_id = ids[0] if ids is not None else None
        form = make_form(row, record_id)
        if form.exec():
            save(form.values(), record_id)

    # --- contacts -------------------------------------------------------------------------------------------
    def form(self, values: dict[str, Any] | None = None, contact_id: int | None = None) -> ContactForm:
        """The form for a contact (tests drive it instead of exec())."""
        return ContactForm(self.document, values, contact_id, self)

    def new_contact(self) -> None:
        self._open_form(self.form, contact_row, self.save, None)

    def save(self, values: dict[str, Any], contact_id: int | None = None) -> bool:
        """Add (or change) a contact as one undoable edit."""
        return self._run(lambda: PutContact(self.document.file, values, contact_id))

    def _contact_activated(self, _index: QModelIndex) -> None:
        self.edit_contact()

    def edit_contact(self) -> None:
        self._open_form(self.form, contact_row, self.save, self.selected_ids())

    def delete_contacts(self) -> bool:
        ids = self.selected_ids()
        return bool(ids) and self.document.run(RemoveContacts(self.document.file, ids))

    # --- accounts -------------------------------------------------------------------------------------------
    def account_form(self, values: dict[str, Any] | None = None, account_id: int | None = None) -> AccountForm:
        """The form for an account (tests drive it instead of exec())."""
        return AccountForm(self.document, values, account_id, self)

    def new_account(self) -> None:
        self._open_form(self.account_form, account_row, self.save_account, None)

    def save_account(self, values: dict[str, Any], account_id: int | None = None) -> bool:
        """Add (or change) an account as one undoable edit."""
        return self._run(lambda: PutAccount(self.document.file, values, account_id))

    def _account_activated(self, _index: QModelIndex) -> None:
        self.edit_account()

    def edit_account(self) -> None:
        self._open_form(self.account_form, account_row, self.save_account, self.selected_account_ids())

    def delete_accounts(self) -> bool:
        """Delete the accounts selected; their contacts stay, with no account (undo links them again)."""
        ids = self.selected_account_ids()
        return bool(ids) and self.document.run(RemoveAccounts(self.document.file, ids))
