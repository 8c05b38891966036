"""The Contacts window: search the project's contacts, add, edit and delete them (every change undoable).

Seed 004's walk-through starts here: two contacts created by hand, with the same e-mail address (allowed: a
note says the address is shared, it does not refuse), in a fictional city a segment can then find.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.model.attributes import CONSENT_LEVELS
from designer.contacts.commands import (EDITABLE, PutContact, RemoveContacts, contact_row, contacts_page,
                                       others_with_email)
from designer.panels.common import Dialog, FieldNote

if TYPE_CHECKING:
    from designer.document import Document

LABELS = {"first_name": "First name", "last_name": "Last name", "email": "E-mail", "mobile_phone": "Mobile phone",
          "city": "City", "country": "Country", "consent_level": "Consent"}
PAGE = 500


class ContactForm(Dialog):
    """One contact's fields; OK saves them (as one undoable edit, done by the caller)."""

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
            widget.setAccessibleName(LABELS[key])
            label = QLabel(f"{LABELS[key]}:")
            label.setBuddy(widget)
            form.addRow(label, widget)
            self.inputs[key] = widget
        self.email_note = FieldNote()
        form.addRow("", self.email_note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for key, value in (values or {}).items():
            self.set(key, value)
        email = self.inputs["email"]
        assert isinstance(email, QLineEdit)
        email.editingFinished.connect(self._check_email)
        self.inputs["first_name"].setFocus()

    def set(self, key: str, value: Any) -> None:
        widget = self.inputs[key]
        if isinstance(widget, QComboBox):
            i = widget.findData(value)
            widget.setCurrentIndex(max(i, 0))
        elif isinstance(widget, QLineEdit):
            widget.setText("" if value is None else str(value))

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, widget in self.inputs.items():
            if isinstance(widget, QComboBox):
                out[key] = widget.currentData()
            elif isinstance(widget, QLineEdit):
                out[key] = widget.text().strip()[:200] or None  # bounded where it enters
        return out

    def _check_email(self) -> None:
        email = self.values().get("email")
        shared = others_with_email(self.document.file, email, self.contact_id) if email else 0
        self.email_note.set_hint(f"{shared} other contact{'s' * (shared != 1)} already use{'s' * (shared == 1)} "
                                 "this address: allowed (people can share one), just so you know." if shared else None)

    def accept(self) -> None:
        v = self.values()
        if not any(v.get(k) for k in ("first_name", "last_name", "email")):
            self.email_note.set_input_error("Give a name or an e-mail address.")
            return
        if any("\x00" in str(x) for x in v.values() if x):
            self.email_note.set_input_error("A field holds a NUL character.")
            return
        super().accept()


class ContactsWindow(Dialog):
    """Search, add, edit and delete the project's contacts."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.setWindowTitle("Contacts")
        self.resize(820, 520)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name, e-mail or city…")
        self.search.setAccessibleName("Search contacts")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(EDITABLE) + 1)
        self.table.setAccessibleName("Contacts")
        self.table.setHorizontalHeaderLabels(["Id", *(LABELS[k] for k in EDITABLE)])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.count = QLabel()
        self.new_button = QPushButton("New…")
        self.edit_button = QPushButton("Edit…")
        self.delete_button = QPushButton("Delete")
        for b, name in ((self.new_button, "New contact"), (self.edit_button, "Edit contact"),
                        (self.delete_button, "Delete contacts")):
            b.setAccessibleName(name)
        buttons = QHBoxLayout()
        for b in (self.new_button, self.edit_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.count)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        lay.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.new_button.clicked.connect(self.new_contact)
        self.edit_button.clicked.connect(self.edit_contact)
        self.delete_button.clicked.connect(self.delete_contacts)
        self.table.itemActivated.connect(lambda _i: self.edit_contact())
        self.table.itemSelectionChanged.connect(self._buttons)
        # undo and redo show at once (a method, not a lambda: Qt drops the connection with the window)
        document.undo_stack.indexChanged.connect(self._stack_moved)
        readonly = document.readonly
        for b in (self.new_button, self.edit_button, self.delete_button):
            b.setEnabled(not readonly)
        self.refresh()

    # --- the list -------------------------------------------------------------------------------------------
    def _stack_moved(self, _index: int) -> None:
        self.refresh()

    def refresh(self) -> None:
        try:
            rows, total = contacts_page(self.document.file, self.search.text(), PAGE)
        except JourneyStudioError as e:
            self.count.setText(str(e))
            return
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [str(row["id"]), *("" if row.get(k) is None else str(row[k]) for k in EDITABLE)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        shown = f"{len(rows):,} of {total:,}" if total > len(rows) else f"{total:,}"
        self.count.setText(f"{shown} contact{'s' * (total != 1)}" + (" (search to narrow)" if total > len(rows)
                                                                          else ""))
        self._buttons()

    def selected_ids(self) -> list[int]:
        return sorted({int(self.table.item(i.row(), 0).data(Qt.ItemDataRole.UserRole))
                       for i in self.table.selectionModel().selectedRows()})

    def _buttons(self) -> None:
        ids = self.selected_ids()
        writable = not self.document.readonly
        self.edit_button.setEnabled(writable and len(ids) == 1)
        self.delete_button.setEnabled(writable and bool(ids))

    # --- edits ----------------------------------------------------------------------------------------------
    def form(self, values: dict[str, Any] | None = None, contact_id: int | None = None) -> ContactForm:
        """The form for a contact (tests drive it instead of exec())."""
        return ContactForm(self.document, values, contact_id, self)

    def new_contact(self) -> None:
        form = self.form()
        if form.exec():
            self.save(form.values())

    def save(self, values: dict[str, Any], contact_id: int | None = None) -> bool:
        """Add (or change) a contact as one undoable edit."""
        return self.document.run(PutContact(self.document.file, values, contact_id))

    def edit_contact(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        row = contact_row(self.document.file, ids[0])
        if row is None:
            return
        form = self.form(row, ids[0])
        if form.exec():
            self.save(form.values(), ids[0])

    def delete_contacts(self) -> bool:
        ids = self.selected_ids()
        return bool(ids) and self.document.run(RemoveContacts(self.document.file, ids))
