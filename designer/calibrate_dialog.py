"""Simulate > Calibrate from a Past Campaign…: the designer's face of `journey-studio calibrate`.

Pick the campaign's CSV file; its header fills the column choices (arm, outcomes, opened / clicked, attributes
to group by) and the arm column's values the control choice. The calibration runs on a thread of its own
(`CalibrateJob`) with progress and Cancel. The result: the predicted-vs-observed plot (each held-out group a
point at its observed share, its 95 % prediction interval as an error bar; inside the interval the bar crosses
the y = x line), coverage and mean absolute error in words, the table of groups, and the fitted behaviour to
save as a file or to use in the Simulate panel (the run panel's behaviour table: assumptions of the session,
not an edit of the project, so not on the undo stack).
"""

from __future__ import annotations

import csv
import html
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMessageBox, QProgressBar, QPushButton, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError, one_line
from app.model.attributes import CONTACT_EVENTS
from designer.simulation.plot_widgets import PlotColors, legend_html, plot_font, style_plot

NONE = "(none)"
OUTCOME_ROWS = 3
SCAN_ROWS = 200_000  # rows read (on the GUI thread) to list the arm column's values
INSIDE_COLORS = ("#1565c0", "#64b5f6")
OUTSIDE_COLORS = ("#c62828", "#ef9a9a")
EVENTS = tuple(e for e in CONTACT_EVENTS if e != "unsubscribed")
SYMBOLS = ("o", "s", "t")  # one marker per outcome
SYMBOL_TEXT = {"o": "&#9679;", "s": "&#9632;", "t": "&#9660;"}


def read_header(path: str) -> list[str]:
    """The CSV file's column names; ValueError (one line) if it cannot be read."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            line = f.readline(100_000)
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read the file: {getattr(e, 'strerror', None) or e}") from None
    if "\x00" in line:
        raise ValueError(f"{path}:1: the file holds a NUL character (not a CSV text file?)")
    row = next(csv.reader([line]), [])
    names = [h.strip() for h in row]
    if len(names) < 2:
        raise ValueError(f"{path}:1: expected a header line of column names separated by commas")
    return names


def column_values(path: str, column: int, limit: int = 100) -> list[str]:
    """The distinct values of a column among the first SCAN_ROWS rows (at most `limit`)."""
    seen: dict[str, None] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(line.replace("\x00", "") for line in f)
            next(reader, None)
            for i, row in enumerate(reader):
                if i >= SCAN_ROWS or len(seen) >= limit:
                    break
                if column < len(row) and row[column].strip():
                    seen.setdefault(row[column].strip(), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        pass
    return list(seen)


class CalibrateJob(QThread):
    """One calibration on a thread of its own; emits progressed, then exactly one of succeeded, failed,
    cancelled."""

    progressed = Signal(float, str)
    succeeded = Signal(object)  # simulator.calibrate.Calibration
    failed = Signal(str)  # one line, never a traceback
    cancelled = Signal()

    def __init__(self, path: str, spec: Any, base: Any = None) -> None:
        super().__init__()  # no parent: kept until its thread ends, whatever the dialog does
        self.path, self.spec, self.base = path, spec, base
        self.cancel_token = threading.Event()

    def start(self, *args: object) -> None:
        _KEPT.add(self)
        self.finished.connect(partial(_KEPT.discard, self))
        super().start(*args)  # type: ignore[arg-type]

    def cancel(self) -> None:
        self.cancel_token.set()

    def run(self) -> None:
        from simulator.calibrate import CancelledCalibration, calibrate, read_campaign
        from simulator.engine import Cancelled
        try:
            campaign = read_campaign(self.path, self.spec)
            result = calibrate(campaign, self.spec, base=self.base, cancel=self.cancel_token,
                               progress=lambda f, m: self.progressed.emit(f, m))
        except (Cancelled, CancelledCalibration):
            self.cancelled.emit()
        except MemoryError:
            self.failed.emit("not enough memory for this file: take a random sample of its rows")
        except (JourneyStudioError, ValueError) as e:
            self.failed.emit(one_line(e))
        except Exception as e:  # one line in the dialog, never a traceback
            self.failed.emit(f"the calibration failed: {one_line(e)}")
        else:
            if self.cancel_token.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)


_KEPT: set[CalibrateJob] = set()


def shutdown_all(wait_ms: int = 30_000) -> None:
    for job in list(_KEPT):
        job.cancel()
    for job in list(_KEPT):
        job.wait(wait_ms)


class CalibratePlot(QWidget):
    """Predicted against observed share per held-out group, with 95 % prediction intervals and the y = x line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.legend = QLabel()
        self.fitted = QLabel()
        self.fitted.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(360, 300)
        self.items: dict[str, Any] = {}
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.fitted)

    def show_result(self, doc: dict[str, Any]) -> None:
        colors = PlotColors(self.palette())
        font = plot_font(self)
        plot = self.plot
        plot.clear()
        style_plot(plot, colors, font)
        plot.showGrid(x=True, y=True, alpha=0.2)
        item = plot.getPlotItem()
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)
        item.setLabel("bottom", "Observed share of the group (%)", color=colors.text.name())
        item.setLabel("left", "Predicted share (%), 95% prediction interval", color=colors.text.name())
        groups = doc["groups"]
        obs = np.array([g["observed"] for g in groups]) * 100
        mean = np.array([g["predicted"]["mean"] for g in groups]) * 100
        low = np.array([g["predicted"]["low"] for g in groups]) * 100
        high = np.array([g["predicted"]["high"] for g in groups]) * 100
        inside = (low <= obs + 1e-9) & (obs <= high + 1e-9)
        top = float(max(obs.max(initial=0), high.max(initial=0))) * 1.08 or 1.0
        diag = pg.PlotDataItem([0, top], [0, top], pen=pg.mkPen(colors.muted, width=1.5, style=Qt.PenStyle.DashLine))
        plot.addItem(diag)
        self.items = {"diagonal": diag}
        outcomes = list(dict.fromkeys(g["outcome"] for g in groups))
        symbol_of = {o: SYMBOLS[i % len(SYMBOLS)] for i, o in enumerate(outcomes)}
        symbols = [symbol_of[g["outcome"]] for g in groups]
        for key, mask, pair in (("inside", inside, INSIDE_COLORS), ("outside", ~inside, OUTSIDE_COLORS)):
            if not mask.any():
                continue
            color = colors.pick(pair)
            bars = pg.ErrorBarItem(x=obs[mask], y=mean[mask], top=high[mask] - mean[mask],
                                   bottom=mean[mask] - low[mask], beam=top * 0.008, pen=pg.mkPen(color, width=1.2))
            points = pg.ScatterPlotItem(obs[mask], mean[mask], size=8, brush=pg.mkBrush(color),
                                        symbol=[s for s, m in zip(symbols, mask) if m],
                                        pen=pg.mkPen(colors.background, width=0.8))
            plot.addItem(bars)
            plot.addItem(points)
            self.items[f"{key}_bars"], self.items[f"{key}_points"] = bars, points
        item.setXRange(0, top, padding=0.02)
        item.setYRange(0, top, padding=0.02)
        n = len(groups)
        self.summary.setText(
            f"<b>{doc['coverage'] * 100:.0f}%</b> of the {n} held-out groups (arm × group × outcome) lie within "
            f"their 95% prediction interval; mean absolute error <b>{doc['mae'] * 100:.2f}</b> percentage points. "
            f"Fitted on {doc['rows']['fitted']:,} contacts, checked on the other {doc['rows']['held_out']:,}.")
        shapes = "&nbsp;&nbsp;&nbsp;".join(f"{SYMBOL_TEXT[symbol_of[o]]}&nbsp;{html.escape(o)}" for o in outcomes)
        self.legend.setText(legend_html([("observed within the interval", colors.pick(INSIDE_COLORS)),
                                         ("outside it", colors.pick(OUTSIDE_COLORS)),
                                         ("dashed: predicted = observed", colors.muted)])
                            + "&nbsp;&nbsp;&nbsp;&nbsp;" + shapes)
        fit = doc["fit"]
        lines = [f"{o}: background {r['per_day'] * 100:.3f}% a day ({r['low'] * 100:.3f} to {r['high'] * 100:.3f})"
                 for o, r in fit["background_rates"].items()]
        lines += [f"{arm}: {fit['conversion_outcome']} caused per delivered message "
                  f"{r['converted_per_delivered']['mean'] * 100:.2f}% ({r['converted_per_delivered']['low'] * 100:.2f}"
                  f" to {r['converted_per_delivered']['high'] * 100:.2f})" for arm, r in fit["arms"].items()]
        self.fitted.setText("Fitted (95% intervals): " + "; ".join(html.escape(x) for x in lines) + ".")


class CalibrateDialog(QDialog):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None, *, use_behaviour: Any = None, base: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate from a Past Campaign")
        self.use_behaviour = use_behaviour  # called with the fitted BehaviourModel, or None: no Simulate panel
        self.base = base
        self.job: CalibrateJob | None = None
        self.result: Any = None
        self.header: list[str] = []
        outer = QVBoxLayout(self)
        intro = QLabel("Fit the behaviour assumptions to what a past campaign's contacts did (one row per contact: "
                       "the arm it was in, 0/1 outcomes), then check the fit on contacts it was not fitted on.")
        intro.setWordWrap(True)
        outer.addWidget(intro)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)
        form_box = QWidget()
        form = QFormLayout(form_box)
        file_row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("past campaign .csv")
        self.path_edit.editingFinished.connect(lambda: self.load(self.path_edit.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        form.addRow("Campaign file", file_row)
        self.arm_combo = QComboBox()
        self.arm_combo.currentIndexChanged.connect(self._arm_changed)
        form.addRow("Arm column", self.arm_combo)
        self.control_combo = QComboBox()
        form.addRow("Control (sent nothing)", self.control_combo)
        self.outcome_rows: list[tuple[QComboBox, QComboBox]] = []
        for i in range(OUTCOME_ROWS):
            row = QHBoxLayout()
            event, column = QComboBox(), QComboBox()
            event.addItems(EVENTS)
            event.setCurrentText(("purchase", "web_visit", "registered")[i])
            event.setAccessibleName(f"Outcome {i + 1} event")
            column.setAccessibleName(f"Outcome {i + 1} column")
            row.addWidget(event)
            row.addWidget(QLabel("in column"))
            row.addWidget(column, 1)
            self.outcome_rows.append((event, column))
            form.addRow("Outcome" if i == 0 else "", row)
        self.opened_combo, self.clicked_combo = QComboBox(), QComboBox()
        form.addRow("Opened column", self.opened_combo)
        form.addRow("Clicked column", self.clicked_combo)
        self.by_list = QListWidget()
        self.by_list.setMaximumHeight(110)
        self.by_list.setToolTip("Attribute columns to fit multipliers for and to compare by (up to 4)")
        form.addRow("Group by", self.by_list)
        for combo in (*(c for _, c in self.outcome_rows), self.opened_combo, self.clicked_combo):
            combo.currentTextChanged.connect(self._offer_by)
        self.days_spin = QSpinBox()
        self.days_spin.setRange(1, 365)
        self.days_spin.setValue(14)
        self.days_spin.setSuffix(" days")
        form.addRow("Observed over", self.days_spin)
        self.holdout_spin = QDoubleSpinBox()
        self.holdout_spin.setRange(0.05, 0.95)
        self.holdout_spin.setSingleStep(0.05)
        self.holdout_spin.setValue(0.3)
        form.addRow("Held out", self.holdout_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2_000_000_000)
        self.seed_spin.setValue(1)
        form.addRow("Seed", self.seed_spin)
        split.addWidget(form_box)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.plot = CalibratePlot()
        self.table = QTableWidget(0, 8)
        self.table.setHorizontalHeaderLabels(["Arm", "Group", "Outcome", "Contacts", "Observed %", "Predicted %",
                                              "95% interval", ""])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.results = results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(self.plot)
        results.addWidget(self.table)
        results.setSizes([420, 200])
        right_layout.addWidget(results, 1)
        self.empty = QLabel("Pick the campaign file and its columns, then Calibrate. The held-out groups' "
                            "predicted and observed shares show here.")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        right_layout.addWidget(self.empty, 1)
        results.hide()
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 700])
        bottom = QGridLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.run_button = QPushButton("Calibrate")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.save_button = QPushButton("Save Behaviour File…")
        self.save_button.clicked.connect(lambda: self.save())
        self.use_button = QPushButton("Use in Simulate Panel")
        self.use_button.setToolTip("Set the Simulate panel's behaviour assumptions to the fitted ones")
        self.use_button.clicked.connect(self.use)
        self.use_button.setVisible(use_behaviour is not None)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom.addWidget(self.status, 0, 0, 1, 6)
        bottom.addWidget(self.progress, 1, 0)
        bottom.addWidget(self.run_button, 1, 1)
        bottom.addWidget(self.cancel_button, 1, 2)
        bottom.addWidget(self.save_button, 1, 3)
        bottom.addWidget(self.use_button, 1, 4)
        bottom.addWidget(close, 1, 5)
        bottom.setColumnStretch(0, 1)
        outer.addLayout(bottom)
        self._enable()
        self.resize(1180, 760)

    # --- the file and its columns ---------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Past campaign", "", "CSV files (*.csv);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str) -> bool:
        """Read the file's header into the column choices; False (said in the status line) if it cannot."""
        self.path_edit.setText(path)
        if not path:
            return False
        try:
            header = read_header(path)
        except ValueError as e:
            self.status.setText(str(e))
            self.header = []
            self._enable()
            return False
        self.header = header
        guess = {h.lower(): h for h in header}
        with_none = [NONE, *header]
        self.arm_combo.blockSignals(True)
        self.arm_combo.clear()
        self.arm_combo.addItems(header)
        self.arm_combo.setCurrentText(next((guess[k] for k in ("arm", "group", "variant") if k in guess), header[0]))
        self.arm_combo.blockSignals(False)
        for i, (_, column) in enumerate(self.outcome_rows):
            column.clear()
            column.addItems(with_none)
        for combo, names in ((self.opened_combo, ("opened", "open")), (self.clicked_combo, ("clicked", "click"))):
            combo.clear()
            combo.addItems(with_none)
            combo.setCurrentText(next((guess[k] for k in names if k in guess), NONE))
        self.by_list.clear()
        for h in header:
            it = QListWidgetItem(h)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
            self.by_list.addItem(it)
        self._arm_changed()
        self._offer_by()
        self.status.setText(f"{len(header)} columns. Choose the arm, the control, the outcomes and what to group by.")
        self._enable()
        return True

    def _offer_by(self) -> None:
        """Group by offers the attribute columns: not the arm's, nor the outcomes', opened's or clicked's (a column
        taken by one of those is unchecked and hidden)."""
        taken = {self.arm_combo.currentText(), self.opened_combo.currentText(), self.clicked_combo.currentText(),
                 *(c.currentText() for _, c in self.outcome_rows)}
        for i in range(self.by_list.count()):
            item = self.by_list.item(i)
            if item.text() in taken:
                item.setCheckState(Qt.CheckState.Unchecked)
            item.setHidden(item.text() in taken)

    def _arm_changed(self) -> None:
        self._offer_by()
        if not self.header:
            return
        values = column_values(self.path_edit.text(), self.arm_combo.currentIndex())
        self.control_combo.clear()
        self.control_combo.addItems(values)
        for v in values:
            if any(w in v.lower() for w in ("control", "no email", "no mail", "holdout", "none")):
                self.control_combo.setCurrentText(v)
                break

    def spec(self) -> Any:
        """The settings as a CalibrateSpec; ValueError (one line) if something is missing."""
        from simulator.calibrate import CalibrateSpec
        if not self.header:
            raise ValueError("pick the campaign file first")
        outcomes = tuple((e.currentText(), c.currentText()) for e, c in self.outcome_rows if c.currentText() != NONE)
        if not outcomes:
            raise ValueError("choose the column of at least one outcome")
        by = tuple(self.by_list.item(i).text() for i in range(self.by_list.count())
                   if self.by_list.item(i).checkState() == Qt.CheckState.Checked)
        opened = self.opened_combo.currentText()
        clicked = self.clicked_combo.currentText()
        spec = CalibrateSpec(arm=self.arm_combo.currentText(), control=self.control_combo.currentText(),
                             outcomes=outcomes, days=self.days_spin.value(), by=by,
                             holdout=round(self.holdout_spin.value(), 4), seed=self.seed_spin.value(),
                             opened=None if opened == NONE else opened, clicked=None if clicked == NONE else clicked)
        spec.check()
        return spec

    # --- running ------------------------------------------------------------------------------------------

    def _enable(self) -> None:
        running = self.job is not None
        self.run_button.setEnabled(bool(self.header) and not running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        self.save_button.setEnabled(self.result is not None and not running)
        self.use_button.setEnabled(self.result is not None and not running)

    def run(self) -> None:
        try:
            spec = self.spec()
        except (ValueError, JourneyStudioError) as e:
            self.status.setText(one_line(e))
            return
        job = CalibrateJob(self.path_edit.text(), spec, self.base)
        job.progressed.connect(self._progressed)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self.job = job
        self.progress.setValue(0)
        self.status.setText("Reading the file…")
        self._enable()
        job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _progressed(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.status.setText(message[:1].upper() + message[1:] + "…")  # e.g. "Simulating the 9,863 held-out ..."

    def _done(self) -> None:
        self.job = None
        self._enable()

    def _failed(self, message: str) -> None:
        self._done()
        self.status.setText(f"Not calibrated: {message}")

    def _cancelled(self) -> None:
        self._done()
        self.status.setText("Cancelled.")

    def _succeeded(self, result: Any) -> None:
        self.result = result
        self._done()
        doc = result.to_json()
        self.empty.hide()
        self.results.show()
        self.plot.show_result(doc)
        self._fill_table(doc)
        notes = "; ".join(result.assumptions[:2]).replace("--by group", "group")
        self.status.setText(f"Calibrated. Assumed: {notes}. Save the behaviour file to simulate with it.")

    def _fill_table(self, doc: dict[str, Any]) -> None:
        groups = doc["groups"]
        self.table.setRowCount(len(groups))
        for r, g in enumerate(groups):
            p = g["predicted"]
            inside = p["low"] <= g["observed"] <= p["high"]
            cells = [g["arm"], ", ".join(f"{k} = {v}" for k, v in g["by"].items()) or "everyone", g["outcome"],
                     f"{g['n']:,}", f"{g['observed'] * 100:.2f}", f"{p['mean'] * 100:.2f}",
                     f"{p['low'] * 100:.2f} – {p['high'] * 100:.2f}", "" if inside else "outside"]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if 3 <= c <= 6:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)

    # --- the fitted behaviour -----------------------------------------------------------------------------

    def save(self, path: str | None = None) -> bool:
        """Write the fitted behaviour file (atomically); `path` None asks where."""
        from app.files import write_atomically
        from simulator.behaviour_file import behaviour_file_text
        if self.result is None:
            return False
        if path is None:
            stem = Path(self.path_edit.text()).stem or "campaign"
            path, _ = QFileDialog.getSaveFileName(self, "Save the fitted behaviour", f"{stem}-behaviour.yaml",
                                                  "Behaviour files (*.yaml *.yml);;All files (*)")
            if not path:
                return False
        try:
            write_atomically(Path(path), behaviour_file_text(self.result.model))
        except (OSError, JourneyStudioError, ValueError) as e:
            QMessageBox.warning(self, "Not saved", one_line(e))
            return False
        self.status.setText(f"Saved {path}: simulate with it from the Simulate panel (Behaviour > Load…) or "
                            f"journey-studio simulate --behaviour {Path(path).name}.")
        return True

    def use(self) -> None:
        if self.result is not None and self.use_behaviour is not None:
            self.use_behaviour(self.result.model)
            self.status.setText("The Simulate panel now uses the fitted behaviour (its table shows each figure).")

    def done(self, r: int) -> None:  # closing: a running calibration is cancelled, and waited for
        if self.job is not None:
            job = self.job
            job.cancel()
            job.wait(30_000)
        super().done(r)


__all__ = ["CalibrateDialog", "CalibrateJob", "CalibratePlot", "shutdown_all"]
