"""The Sweep panel (Simulate > What-if Sweep…): a grid of what-ifs over a journey, each point a paired run against
the journey as it is (simulator/sweep.py, the same as `journey-studio sweep`).

The user picks the journey and adds the properties to vary, each from a list of what the journey's steps and
tiles offer (a wait's duration, an if/then's time limit, a split's shares, the send hours, behaviour figures;
simulator/sweep_targets.py), with its values typed as the command line takes them (`2d,5d,7d`). A field is
read and checked as it is typed: a value its tile refuses is said in red under the field, never in a dialog.
Contacts, replicas, seed and the worker processes complete it; the number of points and runs is shown.

Run snapshots the journey and a copy of what the check for errors reads of the project, and hands them to a
`SweepJob` (a QThread) that checks every point (seconds for a thousand: not on the UI thread) and runs them in
worker processes (spawned, see sweep.run_points) with progress;
Cancel sets the job's token, which ends the worker processes at once (no process outlives a cancel, a closed
panel or the application's quit). The results: the best point in words with how sure it beats the current
settings, a plot per varied property (sweep_plot.py) and the table of points. "Apply best values" sets the best
point's step properties and send hours on the journey as ONE undoable command (behaviour figures are
assumptions about the contacts, not settings of the journey: they are left out, and it says so).
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QMenu, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QToolButton, QVBoxLayout,
                               QWidget)

from app.errors import JourneyStudioError, one_line
from designer.document import Document
from designer.simulation.job_panel import JobPanel
from designer.panels.common import ERROR_COLORS, FieldNote, MutedLabel, bold, combo_box, form_layout, tone

if TYPE_CHECKING:
    from app.model.journey import Journey
    from app.model.project import Project
    from designer.main_window import MainWindow
    from simulator.behaviour import BehaviourModel
    from simulator.sweep import Sweep

DEFAULT_CONTACTS = 20_000
DEFAULT_REPLICAS = 5
DEFAULT_SEED = 1
MAX_CONTACTS = 2_000_000  # a sweep runs every point at this size: the command line takes more
MODEL_DELAY_MS = 200


# --- the job ------------------------------------------------------------------------------------------------

class SweepJob(QThread):
    """One sweep in a thread of its own (its points in worker processes); emits progressed, then exactly one of
    succeeded, failed, cancelled."""

    progressed = Signal(int, int)   # points done, points in all
    succeeded = Signal(object)      # the sweep's document (run_sweep)
    failed = Signal(str)            # one line, never a traceback
    cancelled = Signal()

    def __init__(self, sweep: Sweep, workers: int, check: Callable[[Journey], Any] | None = None) -> None:
        """`check` is the check for errors each point must pass, over a project of this thread's own (a
        thousand points take seconds to check: not on the UI thread)."""
        super().__init__()  # no parent: kept until its thread ends, whatever the panel does
        self.sweep, self.workers, self.check = sweep, workers, check
        self.cancel_token = threading.Event()

    def start(self, *args: object) -> None:
        _KEPT.add(self)
        self.finished.connect(partial(_KEPT.discard, self))
        _watch_quit()
        super().start(*args)  # type: ignore[arg-type]

    def cancel(self) -> None:
        """Stop the sweep (safe from the UI thread at any time): its worker processes are ended."""
        self.cancel_token.set()

    def run(self) -> None:
        from simulator.engine import Cancelled
        from simulator.sweep import run_sweep
        try:
            doc = run_sweep(self.sweep, workers=self.workers, cancel=self.cancel_token, check=self.check,
                            progress=lambda done, total: self.progressed.emit(done, total))
        except Cancelled:
            self.cancelled.emit()
        except MemoryError:
            self.failed.emit("not enough memory for this sweep: use fewer contacts or worker processes")
        except Exception as e:  # one line in the panel, never a traceback
            if self.cancel_token.is_set():
                self.cancelled.emit()
            elif isinstance(e, (JourneyStudioError, ValueError)):
                self.failed.emit(one_line(e))
            else:
                self.failed.emit(f"the sweep failed: {one_line(e)}")
        else:
            if self.cancel_token.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(doc)


_KEPT: set[SweepJob] = set()
_QUIT_WATCHED: list[bool] = []


def _watch_quit() -> None:
    app = QCoreApplication.instance()
    if app is not None and not _QUIT_WATCHED:
        _QUIT_WATCHED.append(True)
        app.aboutToQuit.connect(shutdown_all)


def running_sweeps() -> list[SweepJob]:
    """Sweep jobs whose thread is still running."""
    return [j for j in _KEPT if not j.isFinished()]


def shutdown_all(wait_ms: int = 30_000) -> None:
    """Cancel every sweep and wait for its thread (its worker processes end with it)."""
    for job in list(_KEPT):
        job.cancel()
    for job in list(_KEPT):
        job.wait(wait_ms)


def _cancel(holder: list[SweepJob | None]) -> None:
    if holder[0] is not None:
        holder[0].cancel()


# --- one varied property ----------------------------------------------------------------------------------

class VariedRow(QWidget):
    """A property to vary (picked from what the journey offers) and its values, typed as `2d,5d,7d`, checked as
    they are typed; its note under the values says what is wrong."""

    changed = Signal()
    removeRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target_combo = combo_box(24)
        self.target_combo.setAccessibleName("Property to vary")
        self.values_edit = QLineEdit()
        self.values_edit.setAccessibleName("Values to try, separated by commas")
        self.values_edit.setMaxLength(2000)
        self.current = MutedLabel()
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Stop varying this property")
        self.remove_button.setAccessibleName("Remove this property")
        self.remove_button.setAutoRaise(True)
        self.note = FieldNote()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 4)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.target_combo, 0, 0, 1, 2)
        grid.addWidget(self.remove_button, 0, 2)
        grid.addWidget(self.values_edit, 1, 0)
        grid.addWidget(self.current, 1, 1, 1, 2)
        grid.addWidget(self.note, 2, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        self.error: str | None = None
        self.target_combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.values_edit.textChanged.connect(lambda *_: self.changed.emit())
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))

    def target(self) -> str:
        return str(self.target_combo.currentData() or "")

    def text(self) -> str:
        """The row as a `--vary`: TARGET=v1,v2."""
        return f"{self.target()}={self.values_edit.text().strip()}"

    def set_error(self, error: str | None) -> None:
        self.error = error
        self.note.set_input_error(error)


# --- the panel ----------------------------------------------------------------------------------------------

class SweepPanel(JobPanel[SweepJob], QWidget):
    """What-if sweeps over a journey (see the module docstring)."""

    sweepEnded = Signal(str)  # "completed", "failed" or "cancelled"
    cancelled_text = "Sweep cancelled: its worker processes were stopped; nothing was changed."

    def __init__(self, document: Document, behaviour: Callable[[], BehaviourModel | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._behaviour_source = behaviour
        self._job_holder: list[SweepJob | None] = [None]
        self._targets: list[Any] = []
        self._labels: dict[str, str] = {}
        self.rows: list[VariedRow] = []
        self.doc: dict[str, Any] | None = None
        self._doc_journey: str | None = None
        self._started = 0.0
        self._build()
        self._model_timer = QTimer(self)  # edits come in bursts (a drag, typing): the fields are read again once
        self._model_timer.setSingleShot(True)
        self._model_timer.setInterval(MODEL_DELAY_MS)
        self._model_timer.timeout.connect(self._follow_model)
        document.currentJourneyChanged.connect(self._current_journey_changed)
        document.changed.connect(self._model_changed)
        self.destroyed.connect(partial(_cancel, self._job_holder))
        self._fill_journeys()
        self.add_row()

    # --- building -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.journey_combo = combo_box(18)
        self.journey_combo.setAccessibleName("Journey to sweep")
        self.rows_box = QVBoxLayout()
        self.rows_box.setContentsMargins(0, 0, 0, 0)
        self.rows_box.setSpacing(4)
        self.add_button = QPushButton("+ Vary another property")
        self.add_button.setToolTip("Every combination of the values is a point (at most 1,000)")
        self.contacts_spin = QSpinBox()
        self.contacts_spin.setRange(100, MAX_CONTACTS)
        self.contacts_spin.setGroupSeparatorShown(True)
        self.contacts_spin.setSingleStep(1000)
        self.contacts_spin.setValue(DEFAULT_CONTACTS)
        self.contacts_spin.setSuffix(" contacts")
        self.replicas_spin = QSpinBox()
        self.replicas_spin.setRange(1, 100)
        self.replicas_spin.setValue(DEFAULT_REPLICAS)
        self.replicas_spin.setToolTip("Runs per point with derived seeds, the same at every point (paired): more "
                                      "replicas, surer comparisons")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(DEFAULT_SEED)
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, 64)
        self.workers_spin.setValue(os.cpu_count() or 1)
        self.workers_spin.setSuffix(" processes")
        self.workers_spin.setToolTip("Worker processes that run points at once (the results are the same, bit "
                                     "for bit)")
        self.size_label = MutedLabel()
        self.size_label.setWordWrap(True)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not run")
        self.progress.setValue(0)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        setup = QWidget()
        col = QVBoxLayout(setup)
        form = form_layout()
        form.addRow("Journey", self.journey_combo)
        col.addLayout(form)
        heading = QLabel("Properties to vary")
        heading.setFont(bold(self.font()))
        col.addWidget(heading)
        hint = MutedLabel("Values as the command line takes them, separated by commas: durations 2d,5d; shares "
                          "70/30; send hours 21:00-08:00 or none; figures 0.2,0.3.")
        hint.setWordWrap(True)
        col.addWidget(hint)
        col.addLayout(self.rows_box)
        col.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        form2 = form_layout()
        form2.addRow("Population", self.contacts_spin)
        form2.addRow("Replicas", self.replicas_spin)
        form2.addRow("Seed", self.seed_spin)
        form2.addRow("Run on", self.workers_spin)
        col.addLayout(form2)
        col.addWidget(self.size_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        col.addLayout(buttons)
        col.addWidget(self.progress)
        col.addWidget(self.status)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(setup)
        scroll.setMinimumWidth(380)

        from designer.simulation.sweep_plot import SweepPlots, SweepTable
        self.summary = QLabel("Run a sweep to see each point's effect here.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.apply_button = QPushButton("Apply best values to the journey")
        self.save_button = QPushButton("Save as JSON…")
        self.save_button.setToolTip("The sweep as `journey-studio sweep --json` writes it: every point, how it was "
                                    "compared and what it assumed")
        self.apply_note = MutedLabel()
        self.apply_note.setWordWrap(True)
        self.plots = SweepPlots()
        self.table = SweepTable()
        results = QWidget()
        rcol = QVBoxLayout(results)
        rcol.setContentsMargins(4, 0, 0, 0)
        rcol.addWidget(self.summary)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.apply_button)
        apply_row.addWidget(self.apply_note, 1)
        apply_row.addWidget(self.save_button)
        rcol.addLayout(apply_row)
        inner = QSplitter(Qt.Orientation.Vertical)
        inner.addWidget(self.plots)
        inner.addWidget(self.table)
        inner.setStretchFactor(0, 3)
        inner.setStretchFactor(1, 2)
        inner.setSizes([500, 220])
        rcol.addWidget(inner, 1)
        self.results = results

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(results)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 900])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(splitter)

        self.journey_combo.currentIndexChanged.connect(lambda *_: self._journey_picked())
        self.add_button.clicked.connect(lambda: self.add_row())
        for spin in (self.contacts_spin, self.replicas_spin):
            spin.valueChanged.connect(lambda *_: self._size())
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.apply_button.clicked.connect(self.apply_best)
        self.save_button.clicked.connect(self._ask_save)
        self._sync_enabled()

    # --- state ----------------------------------------------------------------------------------------------
    def journey_id(self) -> str | None:
        data = self.journey_combo.currentData()
        return str(data) if data else None

    def set_journey(self, journey_id: str) -> None:
        self.journey_combo.setCurrentIndex(max(0, self.journey_combo.findData(journey_id)))

    def behaviour(self, journey: Journey | None = None) -> BehaviourModel:
        """The behaviour assumptions every point starts from: the Simulate panel's, else the defaults. Its
        message overrides are the Simulate panel's journey's (the canvas's): kept only for that journey's
        message steps, when `journey` is it."""
        from dataclasses import replace

        from simulator.behaviour import BehaviourModel
        model = self._behaviour_source() if self._behaviour_source is not None else None
        if model is None:
            return BehaviourModel()
        current = self.document.current_journey
        same = journey is not None and current is not None and current.id == journey.id
        steps = {s.id for s in journey} if same and journey is not None else set()
        return replace(model, messages={k: v for k, v in model.messages.items() if k in steps})

    def add_row(self, target: str | None = None, values: str = "") -> VariedRow | None:
        """Add a property to vary (the next one the journey offers that is not varied yet, or `target`)."""
        from simulator.sweep import MAX_VARIED
        if len(self.rows) >= MAX_VARIED:
            return None
        row = VariedRow()
        self._fill_targets(row)
        taken = {r.target() for r in self.rows}
        if target is not None:
            index = row.target_combo.findData(target)
            if index < 0:
                row.target_combo.addItem(target, target)
                index = row.target_combo.count() - 1
            row.target_combo.setCurrentIndex(index)
        else:
            free = [i for i in range(row.target_combo.count()) if row.target_combo.itemData(i) not in taken]
            row.target_combo.setCurrentIndex(free[0] if free else 0)
        row.values_edit.setText(values)
        row.changed.connect(partial(self._row_changed, row))
        row.removeRequested.connect(self.remove_row)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._row_changed(row)
        self._sync_enabled()
        return row

    def remove_row(self, row: VariedRow) -> None:
        if row in self.rows and len(self.rows) > 1:
            self.rows.remove(row)
            self.rows_box.removeWidget(row)
            row.hide()
            row.setParent(None)
            row.deleteLater()
            self._size()
            self._sync_enabled()

    # --- running --------------------------------------------------------------------------------------------
    def run(self) -> bool:
        """Check the inputs and every point, then start the sweep; False (and why, in red) if it cannot start."""
        from app.validation.checks import check_journey
        from simulator.request import RunError, RunRequest, snapshot
        from simulator.sweep import Sweep, SweepError, parse_grid, workers_for
        if self.job is not None:
            return False
        jid = self.journey_id()
        if jid is None or jid not in {j.id for j in self.document.project.journeys}:
            self._say("Pick a journey to sweep.", error=True)
            return False
        for row in self.rows:
            self._row_changed(row)
        if any(r.error for r in self.rows):
            self._say("Fix the values marked in red first.", error=True)
            return False
        project = self.document.project
        source = snapshot(project, jid)
        if any(f.is_error for f in source.findings):
            n = sum(f.is_error for f in source.findings)
            self._say(f"'{source.journey.name}' has {n} error{'s' if n != 1 else ''} (see the Problems panel): "
                      "fix them before sweeping it.", error=True)
            return False
        try:
            varied = parse_grid([r.text() for r in self.rows])
            sweep = Sweep(source.journey, self.behaviour(source.journey), source.content, source.segments,
                          source.custom_attributes, varied, self.contacts_spin.value(), self.seed_spin.value(),
                          self.replicas_spin.value())
            RunRequest(jid, contacts=sweep.contacts, seed=sweep.seed, replicas=sweep.replicas).validate()
        except (SweepError, RunError) as e:
            self._say(str(e), error=True)
            return False
        points = math.prod(len(v.values) for v in varied)
        workers = workers_for(self.workers_spin.value(), sweep.contacts, points + 1)
        detached = detached_project(project)  # the points are checked in the job's thread, over this copy
        job = SweepJob(sweep, workers, lambda j: check_journey(j, detached))
        job.progressed.connect(self._progressed)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self._job_holder[0] = job
        self._doc_journey = jid
        self._started = time.perf_counter()
        self.progress.setRange(0, points + 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"Checking {points:,} point{'s' if points != 1 else ''}, then starting {workers} "
                                f"worker process{'es' if workers != 1 else ''}…")
        self._say("")
        self._sync_enabled()
        job.start()
        return True

    def _ended(self, how: str) -> None:
        self.sweepEnded.emit(how)

    def _progressed(self, done: int, total: int) -> None:
        if not self._ours():
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"Point {done} of {total} ({time.perf_counter() - self._started:.0f} s)")

    def _succeeded(self, doc: dict[str, Any]) -> None:
        if not self._ours():
            return
        self._finish()
        took = time.perf_counter() - self._started
        self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"Done: {len(doc['points'])} points and the current settings in {took:.1f} s")
        self.show_doc(doc)
        self.sweepEnded.emit("completed")

    # --- results --------------------------------------------------------------------------------------------
    def show_doc(self, doc: dict[str, Any]) -> None:
        """Show a sweep's document: the summary, the plots, the table."""
        from designer.simulation.sweep_plot import summary_html
        self.doc = doc
        self.summary.setText(summary_html(doc, self._labels) + "<br><span style='color:gray'>Effect: the "
                             f"journey's incremental share of {doc['outcome']} among the contacts who entered, in "
                             "percentage points (with minus without the journey, paired twins); bars: 95% "
                             "intervals.</span>")
        self.plots.set_doc(doc, self._labels)
        self.table.set_doc(doc, self._labels)
        self.apply_note.setText("")
        self._sync_enabled()

    def best_point(self) -> dict[str, Any] | None:
        if self.doc is None:
            return None
        return next((p for p in self.doc["points"] if p["best"]), None)

    def apply_best(self) -> bool:
        """Set the best point's step properties and send hours on the swept journey, as one undoable edit."""
        from app.model.commands import MacroCommand, SetProps, UpdateJourney
        from simulator.sweep import SweepError
        from simulator.sweep_targets import journey_changes
        best = self.best_point()
        jid = self._doc_journey
        if best is None or jid is None or jid not in {j.id for j in self.document.project.journeys}:
            self.apply_note.setText("Nothing to apply: run a sweep of a journey first.")
            return False
        from designer.simulation.sweep_plot import beats_current
        if self.doc is not None and beats_current(self.doc, best) == "worse":
            self.apply_note.setText("Not applied: the best point is surely worse than the current settings.")
            return False
        journey = self.document.project.journey(jid)
        try:
            steps, schedule, left_out = journey_changes(journey, best["values"])
        except SweepError as e:
            self.apply_note.setText(f"Not applied: {e}")
            return False
        commands: list[Any] = [SetProps(jid, sid, changes) for sid, changes in steps.items()]
        if schedule is not None:
            commands.append(UpdateJourney(jid, schedule=schedule))
        said = (" Behaviour figures are assumptions about the contacts, not settings of the journey: "
                f"{', '.join(left_out)} left out.") if left_out else ""
        if not commands:
            self.apply_note.setText("The journey already has the best point's values." + said)
            return False
        if not self.document.run(MacroCommand("Apply the sweep's best values", commands)):
            self.apply_note.setText("Not applied (see the status bar).")
            return False
        self.apply_note.setText("Applied as one edit (Undo takes it back)." + said)
        return True

    def save_json(self, path: str | Path) -> bool:
        """Write the shown sweep as JSON (atomically, as the command line's --json); False and why on failure."""
        import json

        from app.files import OutputFileError, check_output_path, os_error_text, write_atomically
        if self.doc is None:
            return False
        try:
            check_output_path(path)  # a device, a FIFO, a folder, a read-only file: said, nothing written
            write_atomically(path, json.dumps(self.doc, indent=1) + "\n")
        except OSError as e:
            self.apply_note.setText(f"Not saved: {e if isinstance(e, OutputFileError) else os_error_text(path, e)}")
            return False
        self.apply_note.setText(f"Saved {Path(path).name}.")
        return True

    def _ask_save(self) -> None:
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getSaveFileName(self, "Save the sweep as JSON", "sweep.json", "JSON (*.json)")
        if path:
            self.save_json(path)

    # --- following the document -----------------------------------------------------------------------------
    def _fill_journeys(self) -> None:
        current = self.journey_id() or (self.document.current_journey.id if self.document.current_journey else None)
        self.journey_combo.blockSignals(True)
        self.journey_combo.clear()
        for j in self.document.project.journeys:
            self.journey_combo.addItem(j.name, j.id)
        index = self.journey_combo.findData(current) if current else -1
        self.journey_combo.setCurrentIndex(max(0, index) if self.journey_combo.count() else -1)
        self.journey_combo.blockSignals(False)
        self._load_targets()

    def _current_journey_changed(self, journey_id: str | None) -> None:
        if journey_id and self.job is None and not any(r.values_edit.text().strip() for r in self.rows):
            self.set_journey(journey_id)  # follows the canvas until the user has typed values

    def _model_changed(self, *_: Any) -> None:
        self._model_timer.start()

    def _follow_model(self) -> None:
        names = [(j.id, j.name) for j in self.document.project.journeys]
        if names != [(self.journey_combo.itemData(i), self.journey_combo.itemText(i))
                     for i in range(self.journey_combo.count())]:
            self._fill_journeys()
        else:
            self._load_targets()

    def _journey_picked(self) -> None:
        self._load_targets()

    def _journey(self) -> Any:
        jid = self.journey_id()
        if jid is None or jid not in {j.id for j in self.document.project.journeys}:
            return None
        return self.document.project.journey(jid)

    def _load_targets(self) -> None:
        from simulator.sweep_targets import targets_for
        journey = self._journey()
        self._targets = targets_for(journey, self.behaviour(journey)) if journey is not None else []
        self._labels = {t.target: t.label for t in self._targets}
        for row in self.rows:
            self._fill_targets(row)
            self._row_changed(row)

    def _fill_targets(self, row: VariedRow) -> None:
        keep = row.target()
        combo = row.target_combo
        combo.blockSignals(True)
        combo.clear()
        group = None
        for t in self._targets:
            if t.group != group and group is not None:
                combo.insertSeparator(combo.count())
            group = t.group
            combo.addItem(t.label, t.target)
            combo.setItemData(combo.count() - 1, f"{t.target}  ({t.example})", Qt.ItemDataRole.ToolTipRole)
        if keep:
            index = combo.findData(keep)
            if index < 0:
                combo.addItem(keep, keep)
                index = combo.count() - 1
            combo.setCurrentIndex(index)
        combo.blockSignals(False)

    def _row_changed(self, row: VariedRow) -> None:
        """Read and check the row's values as typed; say what is wrong under them."""
        from app.validation.checks import check_journey
        from simulator.sweep import SweepError, current_value
        from simulator.sweep_targets import check_values
        journey = self._journey()
        target = row.target()
        example = next((t.example for t in self._targets if t.target == target), "v1,v2,...")
        row.values_edit.setPlaceholderText(example)
        if journey is None or not target:
            row.current.setText("")
            row.set_error(None)
            self._size()
            return
        behaviour = self.behaviour(journey)
        try:
            row.current.setText(f"now {current_value(journey, behaviour, target)}")
        except SweepError:
            row.current.setText("")
        error = None
        if row.values_edit.text().strip():
            try:
                check_values(journey, behaviour, row.text(), lambda j: check_journey(j, self.document.project))
            except SweepError as e:
                error = _without_prefix(str(e), target)
        else:
            error = "Type the values to try, separated by commas"
        if sum(r.target() == target for r in self.rows) > 1:
            error = "This property is varied twice: put all its values on one row"
        row.set_error(error)
        self._size()

    def _size(self) -> None:
        import math
        counts = [len([v for v in r.values_edit.text().split(",") if v.strip()]) for r in self.rows]
        points = math.prod(counts) if counts else 0
        replicas = self.replicas_spin.value()
        self.size_label.setText(f"{points:,} point{'s' if points != 1 else ''} and the current settings, each "
                                f"{replicas} replica{'s' if replicas != 1 else ''} of "
                                f"{self.contacts_spin.value():,} contacts.")
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        from designer.simulation.sweep_plot import beats_current
        running = self.job is not None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.add_button.setEnabled(not running and len(self.rows) < 6)
        for w in (self.journey_combo, self.contacts_spin, self.replicas_spin, self.seed_spin, self.workers_spin):
            w.setEnabled(not running)
        for r in self.rows:
            r.setEnabled(not running)
            r.remove_button.setEnabled(not running and len(self.rows) > 1)
        best = self.best_point()
        worse = best is not None and self.doc is not None and beats_current(self.doc, best) == "worse"
        self.save_button.setEnabled(not running and self.doc is not None)
        self.apply_button.setEnabled(not running and best is not None and not worse and any(
            not k.startswith("behaviour.") for k in best["values"]))
        self.apply_button.setToolTip("The best point is surely worse than the current settings: nothing to apply"
                                     if worse else "Set the best point's step properties and send hours on the "
                                     "journey (one undoable edit)")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {tone(self, ERROR_COLORS)}" if error else "")
        self.status.setText(text)

    def status_text(self) -> str:
        return self.status.text()


def detached_project(project: Project) -> Project:
    """A copy of what the check for errors reads of a project (settings, content, segments; no journeys), for
    another thread: the live project is the UI thread's."""
    from app.model.project import Project
    out = Project(project.name)
    out.settings = copy.deepcopy(project.settings)
    for content in project.content.values():
        out.put_content(content)  # frozen: shared
    for segment in project.segments.values():
        out.put_segment(copy.deepcopy(segment))
    return out


def _without_prefix(message: str, target: str) -> str:
    """A SweepError's line without the `--vary TARGET` the field already shows."""
    for prefix in (f"--vary {target}: ", f"--vary {target}="):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message.removeprefix("--vary ")


# --- in the main window -------------------------------------------------------------------------------------

class SweepDock(QObject):
    """The Sweep dock of a main window: built empty, its panel made on first show (it imports the simulator and
    pyqtgraph); Simulate > What-if Sweep… shows it."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._panel: SweepPanel | None = None
        self.holder = QWidget()
        self.holder_layout = QVBoxLayout(self.holder)
        self.holder_layout.setContentsMargins(0, 0, 0, 0)
        self.dock: QDockWidget = window._dock("Sweep", self.holder, Qt.DockWidgetArea.BottomDockWidgetArea,
                                              name="What-if sweep")
        self.dock.hide()
        self.dock.visibilityChanged.connect(lambda shown: shown and self.panel)
        actions: Any = getattr(window, "actions")  # the window's Actions (the attribute hides QWidget.actions)
        self.action = actions._action("What-if S&weep…", self.show)
        self.action.setToolTip("Simulate a journey over a grid of property values, each against it as it is")
        for menu_action in window.menuBar().actions():
            menu = menu_action.menu()
            if isinstance(menu, QMenu) and menu_action.text().replace("&", "") == "Simulate":
                after = actions.run_simulation
                acts = menu.actions()
                index = acts.index(after) if after in acts else -1
                before = acts[index + 1] if 0 <= index < len(acts) - 1 else None
                if before is not None:
                    menu.insertAction(before, self.action)
                else:
                    menu.addAction(self.action)

    @property
    def panel(self) -> SweepPanel:
        if self._panel is None:
            sim = self.window.simulation

            def behaviour() -> BehaviourModel | None:
                run_panel = getattr(sim, "_run_panel", None)  # the Simulate panel's assumptions, once it is built
                return run_panel.behaviour_table.behaviour() if run_panel is not None else None
            self._panel = SweepPanel(self.window.document, behaviour)
            self.holder_layout.addWidget(self._panel)
            self._panel.show()
        return self._panel

    def shutdown(self) -> None:
        """Cancel a running sweep and wait for it (the window is closing)."""
        if self._panel is not None:
            self._panel.shutdown()

    def show(self) -> None:
        """Show the panel: the first time as a window of its own beside the main window (its setup, plots and
        table need more room than a dock beside the others has; it docks again by its title bar)."""
        first = self._panel is None and not self.dock.isVisible()
        self.panel  # noqa: B018 - built now
        if first and not self.dock.isFloating():
            self.dock.setFloating(True)
            screen = self.window.screen().availableGeometry() if self.window.screen() else None
            width = min(1400, screen.width() - 40) if screen is not None else 1400
            height = min(860, screen.height() - 60) if screen is not None else 860
            self.dock.resize(width, height)
            if screen is not None:
                self.dock.move(screen.x() + (screen.width() - width) // 2, screen.y() + (screen.height() - height) // 2)
        self.dock.show()
        self.dock.raise_()


def install(window: MainWindow) -> SweepDock:
    """Add the Sweep dock and its menu entry to a main window."""
    return SweepDock(window)


__all__ = ["SweepDock", "SweepJob", "SweepPanel", "install", "running_sweeps", "shutdown_all"]
