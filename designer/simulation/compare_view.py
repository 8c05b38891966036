"""Two saved runs side by side: per-step counts and rates, whether each difference is more than noise (the 95 %
interval of the difference), the journey's own effect in each, warnings (different journeys or population
sizes, assumptions that differ), the assumptions as people write them, and both funnels on one plot. A view over
`simulator.compare.Comparison`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.files import write_csv
from designer.panels.common import WARNING_COLORS, tone
from simulator.compare import (BOTH, Comparison, MetricDelta, assumption_label, assumption_value, compare_records,
                               difference_text, figure_text, rate_text, share_text)

if TYPE_CHECKING:
    from simulator.runs import RunRecord

COLUMNS = ("Step", "Figure", "A", "B", "A per entered", "B per entered", "Change (95% interval)", "Verdict")
NUMERIC = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class CompareWindow(QWidget):
    """A window comparing run A with run B."""

    def __init__(self, a: RunRecord, b: RunRecord, labels: tuple[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        from designer.simulation.plots import ComparePlot

        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"Compare runs — {labels[0]} / {labels[1]}")
        self.comparison: Comparison = compare_records(a, b, labels=labels, different_journeys=True)
        c = self.comparison
        head = QLabel(self._head_html(c, labels))
        head.setTextFormat(Qt.TextFormat.RichText)
        head.setWordWrap(True)
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = QLabel("<br>".join(f"\u26a0 {html.escape(w)}" for w in c.warnings))
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet(f"color: {tone(self, WARNING_COLORS)}")
        self.warnings.setVisible(bool(c.warnings))
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
        box.addWidget(self.warnings)
        box.addWidget(self.tabs, 1)
        box.addLayout(buttons)
        self.resize(1100, 680)

    @staticmethod
    def _head_html(c: Comparison, labels: tuple[str, str]) -> str:
        lines = [html.escape(labels[0]), html.escape(labels[1])]
        for e in c.effects:
            fa = f"{e.a.mean * 100:+.2f} pt" if e.a else "—"
            fb = f"{e.b.mean * 100:+.2f} pt" if e.b else "—"
            verdict = ""
            if e.difference is not None:
                verdict = (f" — change {difference_text(e.difference)}, "
                           + ("<b>differs</b>" if e.difference.significant else "within noise"))
            lines.append(f"Caused by the journey, {html.escape(e.event)}: A {fa}, B {fb}{verdict}")
        conv = c.conversion
        lines.append(f"Goal reached: {share_text(conv.a)} → {share_text(conv.b)}"
                     + (f" ({difference_text(conv.difference)}; {conv.note})" if conv.difference else ""))
        method = "paired replica by replica (same seed, replicas and population)" if c.paired else "unpaired"
        lines.append(f"<i>Rates are per contact who entered the journey; a difference counts when the 95% interval "
                     f"of the difference excludes 0 ({method}).</i>")
        return "<br>".join(lines)

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
            cells = [title, m.metric, figure_text(m.a), figure_text(m.b), rate_text(m.rate_a), rate_text(m.rate_b),
                     difference_text(m.difference), m.note]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 2 <= j <= 6:
                    item.setTextAlignment(NUMERIC)
                if m.a is not None:
                    item.setToolTip(_interval_tip(m))
                if m.significant:
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
            for j, text in enumerate((assumption_label(path), assumption_value(path, va),
                                      assumption_value(path, vb))):
                item = QTableWidgetItem(text)
                item.setToolTip(path)
                table.setItem(i, j, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def export_csv(self, path: str | Path) -> None:
        """Write the per-step comparison (exact figures) as CSV, atomically, formulas defused (app.files)."""
        write_csv(path, self.comparison.to_csv_rows())

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "comparison.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except JourneyStudioError as e:  # a folder, a device, a full disk...: one line, the old file untouched
                QMessageBox.warning(self, "Export comparison", f"Could not export: {e}")


def _interval_tip(m: MetricDelta) -> str:
    def one(label: str, f: object) -> str:
        if f is None:
            return f"{label}: not in this run"
        low, high, mean = getattr(f, "low"), getattr(f, "high"), getattr(f, "mean")
        return f"{label}: {mean:,.1f}" + ("" if low == high else f" (95% interval {low:,.1f}–{high:,.1f})")
    method = "" if m.difference is None else f"\nDifference of rates: {m.difference.method}"
    return f"{one('A', m.a)}\n{one('B', m.b)}{method}"
