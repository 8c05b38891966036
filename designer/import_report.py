"""The report of a journey imported from another tool: what became of each source step, and why a step did not
map (placeholders are named 'Unmapped: ...' on the canvas; the check for errors lists them)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app import APP_NAME
from app.importers import FORMAT_LABELS, ImportResult

OUTCOME_WORDS = {"mapped": "Mapped", "approximated": "Approximated", "placeholder": "Placeholder",
                 "not-mapped": "Not mapped"}
OUTCOME_COLOURS = {"approximated": "#fef3c7", "placeholder": "#fee2e2", "not-mapped": "#fecaca"}
COLUMNS = ("Result", "Source step", "Type", "Became", "What to know")
COLUMN_WIDTHS = (100, 200, 180, 190)  # the last column takes the rest (long step ids are elided; tooltips)


class ImportReportDialog(QDialog):
    """Every source step with its result (mapped, approximated, placeholder, not mapped), our steps and why."""

    def __init__(self, result: ImportResult, imported_as: str, changes: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.setWindowTitle(f"Import report - {APP_NAME}")
        self.resize(1100, 640)
        layout = QVBoxLayout(self)
        attention = result.needs_attention()
        counts = ", ".join(f"{result.count(o)} {OUTCOME_WORDS[o].lower()}" for o in OUTCOME_WORDS if result.count(o))
        head = QLabel(f"<b>Imported '{_esc(imported_as)}'</b> from {_esc(FORMAT_LABELS[result.format])}"
                      f" ({'detected' if result.detected else 'as chosen'}).<br>"
                      f"{len(result.steps)} source steps: {counts}.")
        head.setTextFormat(Qt.TextFormat.RichText)
        head.setWordWrap(True)
        layout.addWidget(head)
        if attention:
            why = QLabel(f"{len(attention)} of them need your attention. Placeholders do nothing until you set them "
                         "up: they are named 'Unmapped: ...' on the canvas, and Check for Errors lists them. The "
                         "content is imported as drafts and the segments without a query.")
        else:
            why = QLabel("Every step mapped. The content is imported as drafts and the segments without a query.")
        why.setWordWrap(True)
        layout.addWidget(why)
        notes = result.notes + [c for c in changes if not c.startswith(("Imported journey", "Added "))]
        if notes:
            box = QLabel("<br>".join(f"&bull; {_esc(n)}" for n in notes))
            box.setTextFormat(Qt.TextFormat.RichText)
            box.setWordWrap(True)
            box.setObjectName("importNotes")
            layout.addWidget(box)
        self.only_attention = QCheckBox("Show only the steps that need attention")
        self.only_attention.toggled.connect(self._filter)
        layout.addWidget(self.only_attention)
        self.table = QTableWidget(len(result.steps), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        for row, r in enumerate(result.steps):
            cells = (OUTCOME_WORDS[r.outcome], f"#{r.source_id} {r.name}", r.source_type,
                     ", ".join(r.steps) or "(no step)", r.note)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if r.outcome in OUTCOME_COLOURS:
                    item.setBackground(QBrush(QColor(OUTCOME_COLOURS[r.outcome])))
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        for col, width in enumerate(COLUMN_WIDTHS):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(col, width)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.resizeRowsToContents()
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy Report")
        copy.clicked.connect(self.copy_report)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.table.resizeRowsToContents()  # once the last column has its width: rows as tall as their text

    def _filter(self, only: bool) -> None:
        for row, r in enumerate(self.result.steps):
            self.table.setRowHidden(row, only and r.outcome == "mapped")

    def report_text(self) -> str:
        return "\n".join(self.result.lines())

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def show_import_report(parent: QWidget, result: ImportResult, imported_as: str, changes: list[str]) -> None:
    """Show the report of an import from another tool (modal: the user reads it before going on)."""
    ImportReportDialog(result, imported_as, changes, parent).exec()


__all__ = ["ImportReportDialog", "show_import_report"]
