"""The run panel: choose who is simulated, for how long, how many times and under which behaviour assumptions,
then run the current journey in a worker thread with a progress bar and Cancel, and save the run in the project.

Population: synthetic contacts (how many, where they live, drawn from a population profile: the default, one
fitted to the project's contacts, or a profile file; each replica draws its own unless one population is kept),
the project's contacts who may enter the journey (its segments evaluated over the simulated period), or the
members of a segment (read at the journey's start or a chosen moment). A journey the check for errors finds
errors in runs only when "Simulate despite the errors" is ticked.
Run snapshots the inputs and the journey on the UI thread and hands them to a `RunJob`
(designer.simulation.worker); the window keeps repainting and taking input while it runs. A finished run is
saved with `Document.save_run` (not in a read-only project) and announced with `runCompleted`. Anything that
stops a run is one red line under the buttons, never a traceback.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, QTimeZone, Qt, QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from app.model.journey import Journey
from designer.document import Document
from designer.panels.common import (ERROR_COLORS, FieldNote, MutedLabel, blocked, bold, combo_box, form_layout,
                                    no_wheel, tone)
from designer.panels.inputs import DateTimeLine
from designer.simulation.behaviour_model import message_steps
from designer.simulation.behaviour_table import BehaviourTable
from designer.simulation.job_panel import JobPanel
from designer.simulation.worker import RunJob
from app.semantics.plan import DEFAULT_HORIZON_DAYS
from simulator.population import LOCALES, MIXED
from simulator.request import (MAX_CONTACTS, MAX_HORIZON_DAYS, MAX_REPLICAS, RunError, RunOutcome, RunRequest,
                               compile_for, snapshot)
from simulator.runs import RunRecord

DEFAULT_CONTACTS = 20_000
DEFAULT_REPLICAS = 3
DEFAULT_HORIZON = 30
PROGRESS_STEPS = 1000
CHECK_DELAY_MS = 200


def _cancel(holder: list[RunJob | None]) -> None:
    """Cancel the job a destroyed panel was running (its thread then ends on its own, kept by the worker)."""
    job = holder[0]
    if job is not None:
        job.cancel()


class RunPanel(JobPanel[RunJob], QWidget):
    """Simulate the current journey (see the module docstring)."""

    runCompleted = Signal(object, object)  # RunRecord, run id (None: not saved)
    runStarted = Signal()
    runEnded = Signal(str)  # "completed", "failed" or "cancelled"
    cancelled_text = "Run cancelled: nothing was saved."

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._job_holder: list[RunJob | None] = [None]
        self._request: RunRequest | None = None
        self._save_path: Path | None = None
        self._started = 0.0
        self._plan_error: str | None = None
        self._errors = 0  # errors the check for errors finds in the journey
        self._about_journey = False  # the status line says why the journey cannot be simulated
        self._segment_chosen = False  # the user picked a segment (else it follows the journey's audience)
        self._steps: list[tuple[str, str, str]] = []
        self.last_save_seconds = 0.0
        self.last_outcome: RunOutcome | None = None
        self._build()
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self._refresh)
        document.currentJourneyChanged.connect(self._journey_changed)
        document.changed.connect(self._model_changed)
        self.destroyed.connect(partial(_cancel, self._job_holder))
        self._refresh()

    # --- building -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.journey_label = QLabel()
        self.journey_label.setFont(bold(self.font(), 1.1))
        self.journey_label.setWordWrap(True)
        self.schedule_label = MutedLabel()
        self.schedule_label.setWordWrap(True)

        # population
        self.synthetic_radio = QRadioButton("Synthetic contacts")
        self.synthetic_radio.setToolTip("Contacts generated from the seed, with the segments the journey uses")
        self.project_radio = QRadioButton("Project contacts in the journey's audience")
        self.project_radio.setToolTip("The project's own contacts who would enter the journey: its audience "
                                      "segments, minus exclusions, with enough consent")
        self.segment_radio = QRadioButton("Members of a segment")
        self.segment_radio.setToolTip("The members of one segment, all counted as the journey's audience (its "
                                      "exclusion, suppression and minimum consent still apply)")
        self.population_group = QButtonGroup(self)
        for i, b in enumerate((self.synthetic_radio, self.project_radio, self.segment_radio)):
            self.population_group.addButton(b, i)
        self.synthetic_radio.setChecked(True)

        self.contacts_spin = QSpinBox()
        self.contacts_spin.setRange(1, MAX_CONTACTS)
        self.contacts_spin.setGroupSeparatorShown(True)
        self.contacts_spin.setSingleStep(1000)
        self.contacts_spin.setValue(DEFAULT_CONTACTS)
        self.contacts_spin.setSuffix(" contacts")
        self.contacts_spin.setAccessibleName("Number of synthetic contacts")
        self.locale_combo = combo_box(22)
        for key, loc in LOCALES.items():
            self.locale_combo.addItem(loc.label, key)
        self.locale_combo.setToolTip("Where the synthetic contacts live: their time zones, country and language")
        self.locale_combo.setAccessibleName("Locale of the synthetic contacts")
        self.profile_combo = combo_box(22)
        self.profile_combo.addItem("Default profile", "default")
        self.profile_combo.addItem("Fitted to this project's contacts", "project")
        self.profile_combo.addItem("From a profile file…", "file")
        self.profile_combo.setToolTip("The distributions synthetic contacts are drawn from (engagement, consent, "
                                      "value, recency, lists...): the default ones, fitted to the project's own "
                                      "contacts (aggregates only, no row copied), or a file (journey-studio "
                                      "profile --out FILE writes one to edit)")
        self.profile_combo.setAccessibleName("Population profile")
        self.profile_file: Path | None = None
        self.profile_data: Any = None
        self.shared_check = QCheckBox("Same population in every replica")
        self.shared_check.setToolTip("By default each replica draws its own contacts, so that the 95 % intervals "
                                     "include who happens to be in the population. Ticked, one population serves "
                                     "every replica and the intervals are conditional on it.")
        self.segment_combo = combo_box(12)
        self.segment_combo.setAccessibleName("Segment whose members are simulated")

        self.as_of_start = QCheckBox("the journey's start")
        self.as_of_start.setChecked(True)
        self.as_of_start.setToolTip("When the segment's members are read: the journey's start, or (unticked) the "
                                    "moment below. The journey's other segments are evaluated over the simulated "
                                    "period, as the live runner does.")
        self.as_of_note = FieldNote()
        self.as_of_edit = DateTimeLine(self.as_of_note)  # typed over, a date is replaced whole (UTC: the CLI's --as-of)
        self.as_of_edit.setPlaceholderText("yyyy-mm-dd hh:mm UTC")
        self.as_of_edit.setAccessibleName("Moment the segments are evaluated (UTC)")
        self.as_of_edit.set_value(datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0))

        self.contacts_spin.setMaximumWidth(220)
        self.locale_combo.setMaximumWidth(320)
        self.segment_combo.setMaximumWidth(360)
        self.as_of_edit.setMaximumWidth(220)
        self.contacts_spin.setMinimumWidth(self.fontMetrics().horizontalAdvance("20,000,000 contacts") + 40)
        synthetic_row = QGridLayout()  # two lines, so that the panel fits a narrow dock
        synthetic_row.setContentsMargins(24, 0, 0, 0)
        synthetic_row.setVerticalSpacing(2)
        synthetic_row.addWidget(self.contacts_spin, 0, 0)
        synthetic_row.addWidget(self.locale_combo, 1, 0)
        synthetic_row.addWidget(self.profile_combo, 2, 0)
        synthetic_row.addWidget(self.shared_check, 3, 0)
        synthetic_row.setColumnStretch(1, 1)
        self.profile_combo.setMaximumWidth(320)
        segment_row = QHBoxLayout()
        segment_row.setContentsMargins(24, 0, 0, 0)
        segment_row.addWidget(self.segment_combo, 1)
        segment_row.addStretch(0)
        self.as_of_label = QLabel("Members as of:")
        as_of_row = QGridLayout()
        as_of_row.setContentsMargins(24, 0, 0, 0)
        as_of_row.setVerticalSpacing(2)
        as_of_row.addWidget(self.as_of_label, 0, 0)
        as_of_row.addWidget(self.as_of_start, 1, 0)
        as_of_row.addWidget(self.as_of_edit, 2, 0)
        as_of_row.addWidget(self.as_of_note, 3, 0, 1, 2)
        as_of_row.setColumnStretch(1, 1)
        population = QVBoxLayout()
        population.setSpacing(4)
        population.addWidget(self.synthetic_radio)
        population.addLayout(synthetic_row)
        population.addWidget(self.project_radio)
        population.addWidget(self.segment_radio)
        population.addLayout(segment_row)
        population.addLayout(as_of_row)

        # seed, horizon, replicas, name
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.seed_spin.setValue(random.randrange(1, 100_000))
        self.seed_spin.setToolTip("The same seed and inputs give the same figures, bit for bit")
        self.seed_spin.setAccessibleName("Seed")
        self.new_seed_button = QPushButton("New seed")
        self.new_seed_button.setAutoDefault(False)
        self.new_seed_button.setToolTip("Draw another seed (another equally likely outcome)")
        self.seed_spin.setMinimumWidth(120)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin)
        seed_row.addWidget(self.new_seed_button)
        seed_row.addStretch(1)

        self.until_end_radio = QRadioButton("Until the end")
        self.days_radio = QRadioButton("For")
        self.until_end_radio.setChecked(True)
        self.horizon_group = QButtonGroup(self)
        self.horizon_group.addButton(self.until_end_radio, 0)
        self.horizon_group.addButton(self.days_radio, 1)
        self.days_spin = QSpinBox()
        self.days_spin.setRange(1, MAX_HORIZON_DAYS)
        self.days_spin.setValue(DEFAULT_HORIZON)
        self.days_spin.setSuffix(" days")
        self.days_spin.setAccessibleName("Simulated days")
        horizon = QGridLayout()
        horizon.setContentsMargins(0, 0, 0, 0)
        horizon.addWidget(self.until_end_radio, 0, 0, 1, 3)
        horizon.addWidget(self.days_radio, 1, 0)
        horizon.addWidget(self.days_spin, 1, 1)
        horizon.setColumnStretch(2, 1)

        self.replicas_spin = QSpinBox()
        self.replicas_spin.setRange(1, MAX_REPLICAS)
        self.replicas_spin.setValue(DEFAULT_REPLICAS)
        self.replicas_spin.setToolTip("Runs with derived seeds; figures come as means with 95 % intervals")
        self.replicas_spin.setAccessibleName("Replicas")
        self.replicas_spin.setMinimumWidth(90)
        replicas_hint = MutedLabel("figures get 95 % intervals")
        replicas_hint.setToolTip(self.replicas_spin.toolTip())
        replicas_row = QHBoxLayout()
        replicas_row.addWidget(self.replicas_spin)
        replicas_row.addWidget(replicas_hint, 1)
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Run name")
        no_wheel(self.contacts_spin, self.seed_spin, self.days_spin, self.replicas_spin)

        form = form_layout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # labels above the fields: fits a narrow dock
        form.addRow("Population:", population)
        form.addRow("Seed:", seed_row)
        form.addRow("Horizon:", horizon)
        form.addRow("Replicas:", replicas_row)
        form.addRow("Run name:", self.name_edit)

        # behaviour (collapsible)
        self.behaviour_toggle = QToolButton()
        self.behaviour_toggle.setCheckable(True)
        self.behaviour_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.behaviour_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.behaviour_toggle.setAutoRaise(True)
        self.behaviour_toggle.setAccessibleName("Show the behaviour assumptions")
        self.behaviour_table = BehaviourTable(parent=self)
        self.behaviour_table.setVisible(False)
        self.behaviour_table.setMinimumHeight(260)

        # run
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Simulate the journey with these inputs and save the run in the project")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setAutoDefault(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Ready")
        self.progress.setAccessibleName("Simulation progress")
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()
        self.allow_errors = QCheckBox("Simulate despite the errors")
        self.allow_errors.setToolTip("The check for errors finds errors in this journey: a run would simulate it "
                                     "as it is, reading what is wrong its own way (the run says how). Fixing the "
                                     "errors first is better.")
        self.allow_errors.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.addWidget(self.journey_label)
        layout.addWidget(self.schedule_label)
        layout.addLayout(form)
        layout.addWidget(line)
        layout.addWidget(self.behaviour_toggle)
        layout.addWidget(self.behaviour_table, 1)
        layout.addWidget(self.allow_errors)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self._stretch = QWidget()
        self._stretch.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout.addWidget(self._stretch, 1)

        self.population_group.idToggled.connect(self._population_changed)
        self.segment_combo.activated.connect(lambda *_: setattr(self, "_segment_chosen", True))
        self.horizon_group.idToggled.connect(lambda *_: self._sync_enabled())
        self.as_of_start.toggled.connect(lambda *_: self._sync_enabled())
        self.profile_combo.activated.connect(self._profile_chosen)
        self.allow_errors.toggled.connect(lambda *_: self._sync_enabled())
        self.new_seed_button.clicked.connect(self.new_seed)
        self.seed_spin.valueChanged.connect(lambda *_: self._name_hint())
        self.replicas_spin.valueChanged.connect(lambda *_: self._name_hint())
        self.behaviour_toggle.toggled.connect(self.show_behaviour)
        self.behaviour_table.changed.connect(self._behaviour_title)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self._behaviour_title()
        self._name_hint()
        self._sync_enabled()

    # --- state ----------------------------------------------------------------------------------------------
    def population_kind(self) -> str:
        """'synthetic', 'project' or 'segment', as chosen."""
        return ("synthetic", "project", "segment")[max(0, self.population_group.checkedId())]

    def set_population_kind(self, kind: str) -> None:
        {"synthetic": self.synthetic_radio, "project": self.project_radio,
         "segment": self.segment_radio}[kind].setChecked(True)

    def set_locale(self, locale: str) -> None:
        self.locale_combo.setCurrentIndex(max(0, self.locale_combo.findData(locale)))

    def set_segment(self, name: str) -> None:
        self.segment_combo.setCurrentIndex(self.segment_combo.findData(name))
        self._segment_chosen = True

    def show_behaviour(self, shown: bool = True) -> None:
        """Open (or close) the behaviour assumptions section."""
        with_signals = self.behaviour_toggle.isChecked() != shown
        if with_signals:
            self.behaviour_toggle.setChecked(shown)  # comes back here through `toggled`
            return
        self.behaviour_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.behaviour_table.setVisible(shown)
        self._stretch.setVisible(not shown)

    def new_seed(self) -> None:
        """Draw a new seed."""
        old = self.seed_spin.value()
        seed = old
        while seed == old:
            seed = random.randrange(1, 100_000)
        self.seed_spin.setValue(seed)

    def request(self) -> RunRequest:
        """The inputs as a RunRequest (message overrides kept for this journey's steps only)."""
        journey = self.document.current_journey
        kind = self.population_kind()
        behaviour = self.behaviour_table.behaviour()
        steps = {sid for sid, _, _ in message_steps(journey)}
        behaviour = replace(behaviour, messages={k: v for k, v in behaviour.messages.items() if k in steps})
        as_of = None
        if kind == "segment" and not self.as_of_start.isChecked():
            typed = self.as_of_edit.value()
            as_of = typed.replace(tzinfo=timezone.utc) if typed is not None else None
        profile_kind = self.profile_combo.currentData()
        return RunRequest(
            journey_id=journey.id if journey is not None else "", population=kind,
            contacts=self.contacts_spin.value(), locale=str(self.locale_combo.currentData() or MIXED),
            seed=self.seed_spin.value(), segment=self.segment_combo.currentData() if kind == "segment" else None,
            as_of=as_of, horizon_days=self.days_spin.value() if self.days_radio.isChecked() else None,
            replicas=self.replicas_spin.value(), behaviour=behaviour, name=self.name_edit.text().strip(),
            profile=self.profile_data if profile_kind == "file" else None,
            fit_profile=profile_kind == "project", shared_population=self.shared_check.isChecked(),
            allow_errors=self.allow_errors.isChecked() and self.allow_errors.isVisible())

    def _profile_chosen(self, *_: Any) -> None:
        """'From a profile file…': ask for the file and read it (a wrong one goes back to the default)."""
        self._sync_enabled()
        if self.profile_combo.currentData() != "file":
            return
        from PySide6.QtWidgets import QFileDialog
        start = str(self.profile_file or self.document.file.path.parent)
        chosen, _ = QFileDialog.getOpenFileName(self, "Population profile", start,
                                                "Profiles (*.yaml *.yml *.json);;All files (*)")
        if chosen:
            self.load_profile(chosen)
        elif self.profile_data is None:
            self.profile_combo.setCurrentIndex(0)

    def load_profile(self, path: str | Path) -> bool:
        """Use the profile in `path` for synthetic runs; False (and why, on the status line) if it is wrong."""
        from app.audience.profile import read_profile_file
        from app.errors import JourneyStudioError
        try:
            self.profile_data = read_profile_file(path)
        except JourneyStudioError as e:
            self.profile_data = None
            self.profile_combo.setCurrentIndex(0)
            self._say(str(e), error=True)
            return False
        self.profile_file = Path(path)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData("file"))
        self.profile_combo.setItemText(self.profile_combo.currentIndex(), f"Profile: {Path(path).name}")
        self.profile_combo.setToolTip(f"{path}\n{self.profile_data.source}")
        self._say("")
        return True

    # --- running --------------------------------------------------------------------------------------------
    def run(self) -> bool:
        """Start a run with the current inputs; False (and the reason on the status line) if it cannot start."""
        if self.job is not None:
            return False
        journey = self.document.current_journey
        if journey is None:
            self._say("Open a journey to simulate it.", error=True)
            return False
        request = self.request()
        try:
            request.validate()
        except RunError as e:
            self._say(str(e), error=True)
            return False
        try:
            compile_for(request, journey)  # a journey the simulator cannot compile: say so before starting
        except RunError as e:
            self._say(str(e), error=True, about_journey=True)
            return False
        source = snapshot(self.document.project, journey.id)
        path = self.document.file.path
        self._save_path = None if self.document.readonly else path
        reads = request.population != "synthetic" or request.fit_profile
        job = RunJob(request, source, path if reads else None, save_to=self._save_path)
        job.progressed.connect(self._progressed)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self._job_holder[0] = job
        self._request = request
        self._started = time.perf_counter()
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self._say("")
        self._sync_enabled()
        self.runStarted.emit()
        job.start()
        return True

    def shutdown(self, wait_ms: int = 30_000) -> None:
        job = self.job
        super().shutdown(wait_ms)
        if job is not None and job.run_id is not None:  # cancelled while the run was stored: it is in the project
            self.document.run_saved(job.run_id)

    def _ended(self, how: str) -> None:
        self.runEnded.emit(how)

    def _progressed(self, fraction: float, message: str) -> None:
        if not self._ours():
            return
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * PROGRESS_STEPS))
        self.progress.setFormat(f"{message} — %p%")

    def _succeeded(self, outcome: RunOutcome, run_id: int | None, why: str) -> None:
        if not self._ours():
            return
        request = self._request
        assert request is not None
        self._finish()
        elapsed = time.perf_counter() - self._started
        self.progress.setValue(PROGRESS_STEPS)
        self.progress.setFormat(f"Done in {elapsed:.1f} s")
        self.last_outcome = outcome
        started = time.perf_counter()
        if run_id is not None and self.document.file.path == self._save_path:
            # stored by the job (too slow for this thread): tell the views, as Document.save_run would
            self.document.run_saved(run_id)
        else:  # read-only (refused at once), the job could not store it, or the project was saved as another file
            run_id = self.document.save_run(outcome.record, name=request.name)
        self.last_save_seconds = time.perf_counter() - started
        self._say(self._summary(outcome, run_id, why))
        self.runCompleted.emit(outcome.record, run_id)
        self.runEnded.emit("completed")

    def _summary(self, outcome: RunOutcome, run_id: int | None, why: str = "") -> str:
        from simulator.effect_text import headline
        record: RunRecord = outcome.record
        figures = headline(record.results)
        notes = record.results.get("notes") or []
        if notes:
            figures += " " + " ".join(f"Note: {n}." for n in notes)
        if run_id is not None:
            saved = f"Saved as run {run_id}"
        elif self.document.readonly:
            saved = f"Not saved ({self.document.file.readonly_reason})"
        else:
            saved = f"Not saved ({why})" if why else "Not saved"
        return f"{saved}: {outcome.population}. {figures}"

    # --- following the document -----------------------------------------------------------------------------
    def _journey_changed(self, *_: Any) -> None:
        self._refresh()

    def _model_changed(self, *_: Any) -> None:
        self._check_timer.start()

    def _refresh(self) -> None:
        """Follow the current journey and the project's segments; check that the journey can be simulated."""
        journey = self.document.current_journey
        self._show_journey(journey)
        self._fill_segments(journey)
        steps = message_steps(journey)
        if steps != self._steps or journey is None:
            self._steps = steps
            self.behaviour_table.set_journey(journey)
        error = None
        errors = 0
        if journey is not None:
            from app.validation.checks import check_journey
            errors = sum(f.is_error for f in check_journey(journey, self.document.project))
            try:
                compile_for(RunRequest(journey.id), journey)
            except RunError as e:
                error = str(e)
        self._plan_error = error
        self._errors = errors
        self.allow_errors.setVisible(error is None and errors > 0)
        if error is not None:
            self._say(error, error=True, about_journey=True)
        elif errors:
            self._say(f"The check for errors finds {errors} error{'s' if errors != 1 else ''} in this journey (see "
                      "Problems): fix them first, or simulate it as it is.", error=True, about_journey=True)
        elif self._about_journey:
            self._say("")
        self._sync_enabled()

    def _show_journey(self, journey: Journey | None) -> None:
        if journey is None:
            self.journey_label.setText("No journey open")
            self.schedule_label.setText("Open a journey in the project to simulate it.")
            return
        self.journey_label.setText(f"Simulate “{journey.name}” (version {journey.version})")
        s = journey.schedule
        if s.start is None:
            self.schedule_label.setText("No start date yet: set one in the journey settings to simulate it.")
        else:
            end = f"until {s.end:%Y-%m-%d %H:%M}" if s.end else "with no end date"
            self.schedule_label.setText(f"Starts {s.start:%Y-%m-%d %H:%M} {s.timezone}, {end}.")
            zone = QTimeZone(s.timezone.encode())
            if self.as_of_start.isChecked() and zone.isValid():
                utc = QDateTime(s.start.date(), s.start.time(), zone).toUTC()
                self.as_of_edit.set_value(utc.toPython().replace(tzinfo=None))
        self.until_end_radio.setText("Until the end" + (f" ({s.end:%Y-%m-%d})" if s.end else
                                                         f" ({DEFAULT_HORIZON_DAYS} days: no end date)"))

    def _fill_segments(self, journey: Journey | None) -> None:
        """The project's segments of contacts; the journey's first audience segment until one is chosen."""
        names = sorted(n for n, seg in self.document.project.segments.items() if seg.entity == "contacts")
        current = self.segment_combo.currentData() if self._segment_chosen else None
        if current is None and journey is not None:
            current = next((n for n in journey.audience.segments if n in names), None)
        if [self.segment_combo.itemData(i) for i in range(self.segment_combo.count())] == names:
            if current is not None and current != self.segment_combo.currentData():
                with blocked(self.segment_combo):
                    self.segment_combo.setCurrentIndex(self.segment_combo.findData(current))
            return
        self.segment_combo.blockSignals(True)
        self.segment_combo.clear()
        for n in names:
            self.segment_combo.addItem(n, n)
        if not names:
            self.segment_combo.setPlaceholderText("The project has no segments of contacts")
        index = self.segment_combo.findData(current)
        self.segment_combo.setCurrentIndex(index if index >= 0 else (0 if names else -1))
        self.segment_combo.blockSignals(False)

    # --- view helpers ---------------------------------------------------------------------------------------
    def _population_changed(self, *_: Any) -> None:
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        kind = self.population_kind()
        self.contacts_spin.setEnabled(kind == "synthetic")
        self.locale_combo.setEnabled(kind == "synthetic" and self.profile_combo.currentData() == "default")
        self.profile_combo.setEnabled(kind == "synthetic")
        self.shared_check.setEnabled(kind == "synthetic")
        self.segment_combo.setEnabled(kind == "segment")
        for w in (self.as_of_label, self.as_of_start):
            w.setEnabled(kind == "segment")
        self.as_of_edit.setEnabled(kind == "segment" and not self.as_of_start.isChecked())
        self.days_spin.setEnabled(self.days_radio.isChecked())
        job = self.job
        blocked_by_errors = getattr(self, "_errors", 0) > 0 and not self.allow_errors.isChecked()
        self.run_button.setEnabled(job is None and self._plan_error is None and not blocked_by_errors
                                   and self.document.current_journey is not None)
        self.cancel_button.setEnabled(job is not None and not job.cancel_token.is_set())

    def _name_hint(self) -> None:
        n = self.replicas_spin.value()
        self.name_edit.setPlaceholderText(f"seed {self.seed_spin.value()}, {n} replica{'s' if n != 1 else ''}")

    def _behaviour_title(self) -> None:
        n = self.behaviour_table.model.edited_count()
        state = "published defaults" if n == 0 else f"{n} figure{'s' if n != 1 else ''} edited"
        self.behaviour_toggle.setText(f"Behaviour assumptions ({state})")

    def _say(self, text: str, *, error: bool = False, about_journey: bool = False) -> None:
        """One line under the buttons: red for what stopped a run (`about_journey`: why it cannot start)."""
        self._about_journey = about_journey
        text = text[:1].upper() + text[1:]
        self.status.setText(text)
        self.status.setToolTip(text if len(text) > 80 else "")
        self.status.setStyleSheet(f"color: {tone(self, ERROR_COLORS)}" if error else "")
        self.status.setProperty("error", error)
        self.status.setVisible(bool(text))

    def status_text(self) -> str:
        """The status line as plain text ('' when hidden)."""
        return "" if self.status.isHidden() else self.status.text()

    def is_error_shown(self) -> bool:
        return bool(self.status.property("error")) and not self.status.isHidden()


__all__ = ["RunPanel"]
