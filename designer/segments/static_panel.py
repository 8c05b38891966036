"""The definition of a static segment in the editor: find contacts by name, email or id and add them.

Members are removed from the members table below it. Additions and removals are staged here and written
only when the editor saves, as part of the save's one undoable command (see member_commands).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from designer.panels.common import MutedLabel
from designer.segments.jobs import JobRunner
from designer.segments.sources import MEMBER_COLUMNS, SEARCH_LIMIT, Row, search_contacts

CHANNEL = "contact-search"
SEARCH_DELAY_MS = 250
_SHOWN = ("full_name", "email", "city", "country")  # the columns of the search results


class StaticMembersPanel(QWidget):
    """Search contacts and add them; `changed` when the staged additions or removals change."""

    changed = Signal()

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.added: set[int] = set()
        self.removed: set[int] = set()
        self._ticket: int | None = None
        self.intro = MutedLabel("A static segment holds the contacts you add to it, one by one. Find contacts "
                                "here and add them; remove members from the table below.")
        self.intro.setWordWrap(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find contacts by name, email or id")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Find contacts")
        self.results = QTableWidget(0, len(_SHOWN))
        self.results.setHorizontalHeaderLabels([dict(MEMBER_COLUMNS)[c] for c in _SHOWN])
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.verticalHeader().hide()
        self.results.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.results.setAccessibleName("Contacts found")
        self.add_button = QPushButton("Add selected")
        self.add_button.setEnabled(False)
        self.status = MutedLabel()
        self.pending = MutedLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.pending)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.intro)
        lay.addWidget(self.search)
        lay.addWidget(self.results, 1)
        lay.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.find)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.search.returnPressed.connect(self.find)
        self.results.itemSelectionChanged.connect(
            lambda: self.add_button.setEnabled(bool(self.results.selectionModel().selectedRows())))
        self.results.doubleClicked.connect(lambda _i: self.add_selected())
        self.add_button.clicked.connect(self.add_selected)
        runner.finished.connect(self._found)
        runner.failed.connect(self._failed)
        self._show_pending()

    # --- staging ------------------------------------------------------------------------------------------
    def add(self, ids: Iterable[int]) -> None:
        """Stage contacts to add (a staged removal of one of them is undone instead)."""
        for i in ids:
            if i in self.removed:
                self.removed.discard(i)
            else:
                self.added.add(i)
        self._show_pending()
        self.changed.emit()

    def remove(self, ids: Iterable[int]) -> None:
        """Stage members to remove (a staged addition of one of them is dropped instead)."""
        for i in ids:
            if i in self.added:
                self.added.discard(i)
            else:
                self.removed.add(i)
        self._show_pending()
        self.changed.emit()

    def add_selected(self) -> None:
        """Add the contacts selected in the search results."""
        rows = sorted({index.row() for index in self.results.selectionModel().selectedRows()})
        ids = [int(self.results.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]
        if ids:
            self.add(ids)
            self.status.setText(f"Added {len(ids):,} contact{'s' if len(ids) != 1 else ''}.")

    def _show_pending(self) -> None:
        parts = []
        if self.added:
            parts.append(f"{len(self.added):,} to add")
        if self.removed:
            parts.append(f"{len(self.removed):,} to remove")
        self.pending.setText(" · ".join(parts) + " when saved" if parts else "")

    # --- searching ----------------------------------------------------------------------------------------
    def find(self) -> None:
        """Look for contacts matching the search text (in a worker)."""
        self._timer.stop()
        text = self.search.text().strip()
        if not text:
            self._ticket = None
            self.results.setRowCount(0)
            self.status.setText("")
            return
        self.status.setText("Searching…")
        self._ticket = self.runner.submit(CHANNEL, search_contacts(text))

    def _found(self, channel: str, ticket: int, rows: Any) -> None:
        if channel != CHANNEL or ticket != self._ticket:
            return
        self._ticket = None
        self.results.setRowCount(0)
        columns = [name for name, _ in MEMBER_COLUMNS]
        for r, row in enumerate(rows):
            self._put_row(r, row, columns)
        n = len(rows)
        self.status.setText("No contact matches." if not n else
                            f"First {n} matches; narrow the search for others." if n >= SEARCH_LIMIT else
                            f"{n} match{'es' if n != 1 else ''}.")

    def _put_row(self, r: int, row: Row, columns: list[str]) -> None:
        self.results.insertRow(r)
        for c, name in enumerate(_SHOWN):
            value = row[columns.index(name) + 1]
            item = QTableWidgetItem("" if value is None else str(value))
            item.setData(Qt.ItemDataRole.UserRole, row[0])
            item.setToolTip(f"Contact {row[0]}")
            self.results.setItem(r, c, item)

    def _failed(self, channel: str, ticket: int, message: str) -> None:
        if channel == CHANNEL and ticket == self._ticket:
            self._ticket = None
            self.status.setText(f"Could not search: {message}")


__all__ = ["StaticMembersPanel"]
