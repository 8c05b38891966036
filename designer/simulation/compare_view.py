"""Two saved runs side by side: per-step changes (with whether their 95 % intervals overlap), the assumptions
that differ, and both funnels on one plot. A view over `simulator.compare.Comparison`."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from simulator.compare import (BOTH, Comparison, MetricDelta, change_text, compare_records, figure_text,
                               share_text, signed_text)

if TYPE_CHECKING:
    from simulator.runs import RunRecord

COLUMNS = ("Step", "Figure", "A", "B", "Change", "Change %", "Intervals")
NUMERIC = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class CompareWindow(QWidget):
    """A window comparing run A with run B."""

    def __init__(self, a: RunRecord, b: RunRecord, labels: tuple[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        from designer.simulation.plots import ComparePlot

        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"Compare runs — {labels[0]} / {labels[1]}")
        self.comparison: Comparison = compare_records(a, b, labels=labels)
        c = self.comparison
        conv = c.conversion
        head = QLabel(f"{html.escape(labels[0])}<br>{html.escape(labels[1])}<br>"
                      f"Conversion: {share_text(conv.a)} → {share_text(conv.b)}"
                      + (f" ({conv.delta * 100:+.2f} points; {conv.note})" if conv.delta is not None else ""))
        head.setTextFormat(Qt.TextFormat.RichText)
        head.setWordWrap(True)
        self.table = self._step_table(c)
        self.assumptions = self._assumption_table(c)
        self.plot = ComparePlot()
        self.plot.set_records(a, b, ("A", "B"))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Per step")
        self.tabs.addTab(self.plot, "Funnels")
        self.tabs.addTab(self.assumptions, f"Assumptions that differ ({len(c.assumptions)})")
        export = QPushButton("Export CSV…")
        export.clicked.connect(self._export_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(export)
        box = QVBoxLayout(self)
        box.addWidget(head)
        box.addWidget(self.tabs, 1)
        box.addLayout(buttons)
        self.resize(980, 640)

    def _step_table(self, c: Comparison) -> QTableWidget:
        rows = [(r, m) for r in c.rows for m in r.metrics]
        table = QTableWidget(len(rows), len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        bold = QFont(table.font())
        bold.setBold(True)
        muted = QBrush(QColor(table.palette().color(table.palette().ColorRole.PlaceholderText)))
        previous = None
        for i, (r, m) in enumerate(rows):
            title = "" if r.step == previous else (r.name if r.type == "end" else f"{r.name} ({r.type})")
            if title and r.status != BOTH:
                title += f" [{r.status}]"
            previous = r.step
            cells = [title, m.metric, figure_text(m.a), figure_text(m.b), signed_text(m.delta), change_text(m),
                     m.note]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 2 <= j <= 5:
                    item.setTextAlignment(NUMERIC)
                if m.a is not None:
                    item.setToolTip(_interval_tip(m))
                if m.disjoint:
                    item.setFont(bold)
                if r.status != BOTH:
                    item.setForeground(muted)
                table.setItem(i, j, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return table

    def _assumption_table(self, c: Comparison) -> QWidget:
        if not c.assumptions:
            label = QLabel("Both runs made the same assumptions (population, behaviour, seed, replicas, horizon "
                           "and journey version).")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            return label
        table = QTableWidget(len(c.assumptions), 3)
        table.setHorizontalHeaderLabels(["Assumption", "A", "B"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (path, va, vb) in enumerate(c.assumptions):
            for j, v in enumerate((path, va, vb)):
                table.setItem(i, j, QTableWidgetItem("(none)" if v is None else str(v)))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def export_csv(self, path: str | Path) -> None:
        """Write the per-step comparison (exact figures) as CSV."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(self.comparison.to_csv_rows())

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "comparison.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)


def _interval_tip(m: MetricDelta) -> str:
    def one(label: str, f: object) -> str:
        if f is None:
            return f"{label}: not in this run"
        low, high, mean = getattr(f, "low"), getattr(f, "high"), getattr(f, "mean")
        return f"{label}: {mean:,.1f}" + ("" if low == high else f" (95% interval {low:,.1f}–{high:,.1f})")
    return f"{one('A', m.a)}\n{one('B', m.b)}"
