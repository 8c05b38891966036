"""The problems panel: the current journey's findings, live; activating one shows its step and field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from app.validation.findings import Finding
from designer.panels.common import MutedLabel, bold, counts_text, severity_icon, status_icon

if TYPE_CHECKING:
    from designer.document import Document

FINDING_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Where", "Problem", "How to fix")


class ProblemsPanel(QWidget):
    """A table of the current journey's findings: severity, step, message and fix."""

    fieldRequested = Signal(str, str)   # step id, property name: the properties panel focuses that field
    settingsRequested = Signal(str)     # a journey-wide finding's field: the settings panel focuses it

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.findings: list[Finding] = []
        self.icon = QLabel()
        self.summary = QLabel()
        self.summary.setFont(bold(self.font()))
        self.journey_label = MutedLabel()
        head = QHBoxLayout()
        head.setContentsMargins(6, 4, 6, 0)
        head.addWidget(self.icon)
        head.addWidget(self.summary)
        head.addWidget(self.journey_label, 1)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setAccessibleName("Problems")
        self.tree.setIconSize(QSize(16, 16))
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 180)
        header.resizeSection(1, 420)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addWidget(self.tree, 1)
        self.setFocusProxy(self.tree)
        self.tree.itemClicked.connect(lambda item, _c: self.activate(item))
        self.tree.itemActivated.connect(lambda item, _c: self.activate(item))
        document.findingsChanged.connect(self.refresh)
        document.currentJourneyChanged.connect(self.refresh)
        self.refresh()

    def refresh(self, _journey_id: object = None) -> None:
        """Re-read the current journey's findings (keeps the selected problem selected when it is still there)."""
        journey = self.document.current_journey
        selected = self._selected_key()
        self.findings = self.document.findings(journey.id) if journey is not None else []
        self.tree.clear()
        keep: QTreeWidgetItem | None = None
        for f in self.findings:
            step = journey.steps.get(f.step) if journey is not None and f.step else None
            where = step.display_name if step is not None else (f.step or "Journey settings")
            if f.field and f.field not in ("entry",):
                where += f" · {f.field.replace('_', ' ')}"
            item = QTreeWidgetItem([where, f.message, f.fix])
            item.setIcon(0, severity_icon(f.severity))
            item.setData(0, FINDING_ROLE, f)
            tip = f"{f.severity.value.capitalize()}: {f.message}\nFix: {f.fix}"
            for col in range(len(COLUMNS)):
                item.setToolTip(col, tip)
            item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{f.severity.value}, {where}")
            self.tree.addTopLevelItem(item)
            if self._key(f) == selected:
                keep = item
        if keep is not None:
            self.tree.setCurrentItem(keep)
        text = counts_text(self.findings) if journey is not None else "No journey open"
        self.summary.setText(text)
        self.journey_label.setText(f"in {journey.name}" if journey is not None else "")
        errors = any(f.is_error for f in self.findings)
        kind = "error" if errors else ("warning" if self.findings else "ok")
        self.icon.setPixmap(status_icon(kind).pixmap(QSize(16, 16), self.devicePixelRatioF()))
        self.icon.setVisible(journey is not None)

    @staticmethod
    def _key(f: Finding) -> tuple[str, str | None, str | None, str]:
        return (f.code, f.step, f.field, f.message)

    def _selected_key(self) -> tuple[str, str | None, str | None, str] | None:
        item = self.tree.currentItem()
        finding = item.data(0, FINDING_ROLE) if item is not None else None
        return self._key(finding) if isinstance(finding, Finding) else None

    def activate(self, item: QTreeWidgetItem) -> None:
        """Show where a problem is: select its step (or the journey) and ask for its field."""
        finding = item.data(0, FINDING_ROLE)
        journey = self.document.current_journey
        if not isinstance(finding, Finding) or journey is None:
            return
        step = finding.step if finding.step in journey.steps else None
        self.document.selectRequested.emit(journey.id, step)
        if step is not None:
            self.fieldRequested.emit(step, finding.field or "")
        else:
            self.settingsRequested.emit(finding.field or "")

    def row_count(self) -> int:
        """How many problems are listed."""
        return self.tree.topLevelItemCount()
