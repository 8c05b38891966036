"""The members table of the segment editor: contacts fetched a page at a time, as the table is scrolled.

Qt's canFetchMore / fetchMore protocol asks for more rows when the view nears the bottom; each page is read
in a worker (designer.segments.jobs) by contact id after the last row shown, so the model never holds more
than what was scrolled through, and page 5,000 costs what page 1 does.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from designer.segments.jobs import JobRunner
from designer.segments.sources import MEMBER_COLUMNS, MemberSource, Row, member_page

PAGE_SIZE = 200
CHANNEL = "members-page"
Index = QModelIndex | QPersistentModelIndex


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "lifetime_value" and isinstance(value, (int, float)):
        return f"{value:,.2f}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).replace("_", " ") if name == "loyalty_tier" else str(value)


class MembersModel(QAbstractTableModel):
    """Members of a MemberSource, one page of PAGE_SIZE contacts at a time, in contact id order."""

    pageLoaded = Signal(int)  # how many rows are loaded now
    failed = Signal(str)      # why a page could not be read

    def __init__(self, runner: JobRunner, parent: QObject | None = None, *, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self.runner = runner
        self.page_size = page_size
        self.requests = 0  # pages asked for since the source was set (for the status line and tests)
        self._rows: list[Row] = []
        self._source: MemberSource | None = None
        self._ticket: int | None = None
        self._exhausted = True
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)

    # --- what is shown ------------------------------------------------------------------------------------
    def set_source(self, source: MemberSource | None) -> None:
        """Show the members of `source` from the first page (None: an empty table)."""
        self.beginResetModel()
        self._rows = []
        self._source = source
        self._ticket = None
        self._exhausted = source is None
        self.requests = 0
        self.endResetModel()
        if source is not None:
            self._request()

    @property
    def source(self) -> MemberSource | None:
        """The source shown."""
        return self._source

    @property
    def loading(self) -> bool:
        """Whether a page is being read."""
        return self._ticket is not None

    @property
    def complete(self) -> bool:
        """Whether every member is loaded."""
        return self._exhausted

    def contact_id(self, row: int) -> int:
        """The contact id shown in `row`."""
        return int(self._rows[row][0])

    # --- Qt's model protocol ------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(MEMBER_COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        name = MEMBER_COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(name, row[index.column() + 1])
        if role == Qt.ItemDataRole.TextAlignmentRole and name == "lifetime_value":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Contact {row[0]}"
        if role == Qt.ItemDataRole.UserRole:
            return row[0]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return MEMBER_COLUMNS[section][1] if 0 <= section < len(MEMBER_COLUMNS) else None
        return str(section + 1)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        return not parent.isValid() and self._source is not None and not self._exhausted and self._ticket is None

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._request()

    # --- pages --------------------------------------------------------------------------------------------
    def _request(self) -> None:
        assert self._source is not None
        after = int(self._rows[-1][0]) if self._rows else 0
        self.requests += 1
        self._ticket = self.runner.submit(CHANNEL, member_page(self._source, after, self.page_size))

    def _finished(self, channel: str, ticket: int, rows: Any) -> None:
        if channel != CHANNEL or ticket != self._ticket:
            return  # a page of a source no longer shown
        self._ticket = None
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        if len(rows) < self.page_size:
            self._exhausted = True
        self.pageLoaded.emit(len(self._rows))

    def _failed(self, channel: str, ticket: int, message: str) -> None:
        if channel != CHANNEL or ticket != self._ticket:
            return
        self._ticket = None
        self._exhausted = True
        self.failed.emit(message)


__all__ = ["MembersModel", "PAGE_SIZE"]
