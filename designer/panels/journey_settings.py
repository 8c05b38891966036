"""The journey settings panel: name, target, audience, frequency, schedule, goal, exits and frequency cap of the
current journey. Every change is one UpdateJourney command; the check's findings show under their fields."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QSpinBox,
                               QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.model.attributes import CONSENT_LEVELS
from app.model.commands import UpdateJourney
from app.model.journey import DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, Change, Journey
from app.validation.findings import Finding
from designer.panels.common import (FieldNote, blocked, combo_box, combo_select_data, field_with_note, form_layout,
                                    hint_or_form, no_wheel, set_invalid)
from designer.panels.inputs import CommitOnLeave, DurationEdit, OptionalDateTime, finish_edit
from designer.panels.settings_fields import (NONE_TEXT, CapEdit, FrequencyEdit, QuietHoursEdit, SegmentChecklist,
                                             TimeZoneBox, TriggerEdit, TriggerList)

if TYPE_CHECKING:
    from designer.document import Document

# Findings name fields more finely or more coarsely than the panel has inputs: where each one is shown.
FIELD_ALIASES = {"audience": "audience.segments", "schedule": "schedule.start", "frequency_cap.messages":
                 "frequency_cap", "frequency_cap.per": "frequency_cap"}


def _words(name: str) -> str:
    return name.replace("_", " ")


MILESTONE_WORDS = {"created": "Created", "checked": "Checked for errors", "simulated": "Simulated",
                   "approved": "Simulation approved", "exported": "Package made", "imported": "Imported from a package"}


class JourneySettingsPanel(QWidget):
    """Settings of the document's current journey (it follows `currentJourneyChanged`)."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.journey_id: str | None = None
        self.notes: dict[str, FieldNote] = {}
        self.inputs: dict[str, QWidget] = {}
        self._labels: list[QLabel] = []
        self.hint, self.scroll, self.stack = hint_or_form(self, "Open or create a journey to edit its settings")
        self.scroll.setWidget(self._build())
        document.currentJourneyChanged.connect(self.show_journey)
        document.changed.connect(self._on_change)
        document.findingsChanged.connect(self.refresh_findings)
        document.milestonesChanged.connect(self._milestones_changed)  # methods: dropped with the panel
        document.runsChanged.connect(self._runs_changed)  # a saved run adds "simulated"
        self.show_journey(document.current_journey.id if document.current_journey else None)

    # --- public ---------------------------------------------------------------------------------------------
    @property
    def journey(self) -> Journey | None:
        """The journey shown, if it still exists."""
        return self.document.project.find_journey(self.journey_id) if self.journey_id else None

    def show_journey(self, journey_id: str | None) -> None:
        """Show a journey's settings (None: a hint)."""
        if journey_id != self.journey_id:
            finish_edit(self)
            for widget in (self.name, self.end.edit, self.timezone.lineEdit()):
                set_invalid(widget, False)  # refusals were about the journey shown before
            for note in self.notes.values():
                note.set_input_error(None)
                note.set_hint(None)
        self.journey_id = journey_id
        if self.journey is None:
            self.journey_id = None
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.show_timeline()  # another journey: its own milestones (when the timeline is unfolded)
        self._populate()
        self.refresh_findings()

    def focus_field(self, field: str | None) -> None:
        """Put the keyboard focus on the input of a settings field (a finding's field name)."""
        key = self._note_key(field)
        widget = self.inputs.get(key or "", self.name)
        self.scroll.ensureWidgetVisible(widget)
        widget.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- building -------------------------------------------------------------------------------------------
    def _note(self, key: str) -> FieldNote:
        self.notes[key] = FieldNote()
        return self.notes[key]

    def _row(self, form: Any, label: str, key: str, widget: QWidget, tip: str = "") -> None:
        self.inputs[key] = widget
        lbl = QLabel(label)
        self._labels.append(lbl)
        lbl.setBuddy(widget)
        if tip:
            lbl.setToolTip(tip)
            widget.setToolTip(widget.toolTip() or tip)
        form.addRow(lbl, field_with_note(widget, self.notes.get(key) or self._note(key)))

    def _group(self, title: str) -> tuple[QGroupBox, Any]:
        box = QGroupBox(title)
        form = form_layout()
        box.setLayout(form)
        return box, form

    def _build(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.setSpacing(10)
        self.general_note = FieldNote()
        outer.addWidget(self.general_note)
        project = self.document.project

        box, form = self._group("Journey")
        self.name = QLineEdit()
        self.name.editingFinished.connect(self._commit_name)
        self.name.textEdited.connect(lambda _t: self._clear_input_error("name", self.name))
        self._row(form, "&Name:", "name", self.name, "The journey's name, unique in the project")
        self.description = QPlainTextEdit()
        self.description.setTabChangesFocus(True)
        self.description.setFixedHeight(self.description.fontMetrics().lineSpacing() * 3 + 12)
        self.description.installEventFilter(CommitOnLeave(
            lambda: self._update(description=self.description.toPlainText()), self))
        self._row(form, "&Description:", "description", self.description, "What the journey is for (optional)")
        self.target = combo_box()
        self.target.addItem("Contacts", "contacts")
        self.target.addItem("Accounts", "accounts")
        self.target.activated.connect(lambda _i: self._update(target=self.target.currentData()))
        # the journey's place under the project's frequency caps (File > Frequency Caps), beside the target (the
        # settings have no room for another row in a narrow dock): priority 1 (first) .. 10, or Exempt (below 1)
        self.priority = QSpinBox()
        self.priority.setRange(MIN_PRIORITY - 1, MAX_PRIORITY)
        self.priority.setValue(DEFAULT_PRIORITY)
        self.priority.setPrefix("priority ")
        self.priority.setSpecialValueText("exempt")  # transactional: never held back by the caps, not counted
        self.priority.setKeyboardTracking(False)
        self.priority.setAccessibleName("Priority under the project's frequency caps")
        self.priority.setToolTip("Priority under the project's frequency caps (File > Frequency Caps): of the "
                                 "messages due to one contact at the same moment, priority 1 goes first and 10 last "
                                 "(default 5). Below 1, exempt: transactional messages that always go and do not "
                                 "count against the caps.")
        no_wheel(self.priority)
        self.priority.valueChanged.connect(self._commit_priority)
        both = QWidget()
        row = QHBoxLayout(both)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.target, 1)
        row.addWidget(self.priority)
        both.setFocusProxy(self.target)
        self._row(form, "&Target:", "target", both,
                  "Contacts: each contact goes through. Accounts: one path per account, messages to its contacts.")
        self.inputs["priority"] = self.inputs["cap_exempt"] = self.priority
        outer.addWidget(box)

        box, form = self._group("Audience")
        self.segments = SegmentChecklist()
        self.segments.edited.connect(lambda names: self._audience(segments=names))
        self._row(form, "&Segments:", "audience.segments", self.segments, "The segments whose members enter")
        self.new_segment = QToolButton()
        self.new_segment.setText("New segment…")
        self.new_segment.setAccessibleName("New audience segment")
        self.new_segment.setToolTip("Create a segment and add it to the audience (a project without segments "
                                    "starts here)")
        self.new_segment.clicked.connect(self.create_audience_segment)
        form.addRow("", self.new_segment)
        self.combine = combo_box()
        self.combine.addItem("Members of any (union)", "union")
        self.combine.addItem("Members of all (intersection)", "intersection")
        self.combine.activated.connect(lambda _i: self._audience(combine=self.combine.currentData()))
        self._row(form, "&Combine:", "audience.combine", self.combine, "How several audience segments combine")
        self.exclude = SegmentChecklist()
        self.exclude.edited.connect(lambda names: self._audience(exclude=names))
        self._row(form, "E&xclude:", "audience.exclude", self.exclude, "Members of these segments never enter")
        self.suppress = combo_box()
        self.suppress.activated.connect(lambda _i: self._audience(suppress=self.suppress.currentData()))
        self._row(form, "Su&ppress:", "audience.suppress", self.suppress,
                  "Members of this segment stay in the journey but get no messages")
        self.consent = combo_box()
        self.consent.addItem(NONE_TEXT, None)
        for level in CONSENT_LEVELS:
            self.consent.addItem(_words(level), level)
        self.consent.activated.connect(lambda _i: self._audience(min_consent=self.consent.currentData()))
        self._row(form, "Min. co&nsent:", "audience.min_consent", self.consent,
                  "Contacts below this consent level get no messages")
        outer.addWidget(box)

        box, form = self._group("When")
        self.frequency = FrequencyEdit(self._note("frequency"))
        self.frequency.edited.connect(lambda v: self._update(frequency=v))
        self._row(form, "&Frequency:", "frequency", self.frequency)
        self.start = OptionalDateTime(note=self._note("schedule.start"))
        self.start.edited.connect(lambda v: self._schedule(start=v))
        self._row(form, "&Start:", "schedule.start", self.start, "When the journey starts (local time)")
        self.end = OptionalDateTime(note=self._note("schedule.end"))
        self.end.edited.connect(self._commit_end)
        self._row(form, "&End:", "schedule.end", self.end, "When the journey ends (local time); optional")
        self.timezone = TimeZoneBox(self._note("schedule.timezone"))
        self.timezone.edited.connect(lambda v: self._schedule(timezone=v))
        self._row(form, "Time &zone:", "schedule.timezone", self.timezone)
        self.quiet = QuietHoursEdit()
        self.quiet.edited.connect(lambda v: self._schedule(quiet_hours=v))
        self._row(form, "&Quiet hours:", "schedule.quiet_hours", self.quiet)
        outer.addWidget(box)

        box, form = self._group("Goal and exits")
        self.goal = TriggerEdit(project, optional=True)
        self.goal.edited.connect(self._commit_goal)
        self._row(form, "&Goal:", "goal", self.goal, "What counts as success (reported, does not end the journey)")
        self.goal_within = DurationEdit(self._note("goal.within"), allow_zero=False)
        self.goal_within.setPlaceholderText("30d (the default)")
        self.goal_within.durationEdited.connect(self._commit_goal_within)
        self._row(form, "Goal &within:", "goal.within", self.goal_within,
                  "The goal counts when it happens within this long after entry, whether or not the contact has "
                  "left the journey by then (default 30 days)")
        self.exits = TriggerList(project)
        self.exits.edited.connect(lambda v: self._update(exit_when=v))
        self._row(form, "Exit &when:", "exit_when", self.exits, "Contacts leave the journey when one happens")
        self.cap = CapEdit(self._note("frequency_cap"))
        self.cap.edited.connect(lambda v: self._update(frequency_cap=v))
        self._row(form, "&Cap:", "frequency_cap", self.cap, "At most this many messages to one contact per period")
        outer.addWidget(box)
        box, form = self._group("")
        self.timeline_toggle = QToolButton()  # folded by default: the settings stay short in a small dock
        self.timeline_toggle.setText("Versions and milestones")
        self.timeline_toggle.setAccessibleName("Versions and milestones")
        self.timeline_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.timeline_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.timeline_toggle.setCheckable(True)
        self.timeline_toggle.setAutoRaise(True)
        form.addRow(self.timeline_toggle)
        self.timeline = QTreeWidget()
        self.timeline.setAccessibleName("Versions and milestones")
        self.timeline.setHeaderLabels(["When (UTC)", "What", "Detail"])
        self.timeline.setRootIsDecorated(False)
        self.timeline.setMinimumSize(120, 120)  # a narrow dock scrolls it sideways instead of widening
        self.timeline.setToolTip("What happened to this journey: versions frozen, checks, simulations, "
                                 "packages made and imported")
        form.addRow(self.timeline)
        self.timeline.setVisible(False)

        def unfold(shown: bool) -> None:
            self.timeline_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
            self.timeline.setVisible(shown)
            if shown:
                self.show_timeline()
        self.timeline_toggle.toggled.connect(unfold)
        outer.addWidget(box)
        outer.addStretch(1)
        width = max(label.sizeHint().width() for label in self._labels)
        for label in self._labels:  # one label column across the groups
            label.setMinimumWidth(width)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return page

    # --- showing the model ----------------------------------------------------------------------------------
    def _populate(self) -> None:
        j = self.journey
        if j is None:
            return
        project = self.document.project
        if not (self.name.hasFocus() and self.name.text().strip() == j.name) and not self.name.property("invalid"):
            self.name.setText(j.name)
        if self.description.toPlainText() != j.description:
            self.description.setPlainText(j.description)
        a = j.audience
        with blocked(self.target, self.combine, self.suppress, self.consent):
            combo_select_data(self.target, j.target)
            combo_select_data(self.combine, a.combine)
            self.suppress.clear()
            self.suppress.addItem(NONE_TEXT, None)
            for name in sorted(project.segments, key=str.lower):
                self.suppress.addItem(name, name)
            if not combo_select_data(self.suppress, a.suppress):
                self.suppress.addItem(f"{a.suppress} — missing", a.suppress)
                self.suppress.setCurrentIndex(self.suppress.count() - 1)
            if not combo_select_data(self.consent, a.min_consent):
                self.consent.addItem(f"{a.min_consent} — unknown", a.min_consent)
                self.consent.setCurrentIndex(self.consent.count() - 1)
        self.segments.set_segments(project, tuple(a.segments), j.target)
        self.exclude.set_segments(project, tuple(a.exclude), j.target)
        self.combine.setEnabled(len(a.segments) > 1)
        self.frequency.set_value(j.frequency)
        s = j.schedule
        self.start.set_value(s.start)
        self.end.set_value(s.end)
        self.end.default = s.start
        self.timezone.set_zone(s.timezone)
        self.quiet.set_value(s.quiet_hours)
        self.goal.set_value(j.goal)
        self.goal_within.set_duration(j.goal.within if j.goal else None)
        self.goal_within.setEnabled(j.goal is not None)
        self.exits.set_value(tuple(j.exit_when))
        self.cap.set_value(j.frequency_cap)
        with blocked(self.priority):
            self.priority.setValue(0 if j.cap_exempt else j.priority if isinstance(j.priority, int) else 5)
        self.scroll.widget().setEnabled(not self.document.readonly)

    def _commit_priority(self, value: int) -> None:
        """The priority spin box: 1..10, or 0 shown as exempt (one edit of the journey's priority and exemption)."""
        if value < MIN_PRIORITY:
            self._update(cap_exempt=True)
        else:
            self._update(priority=int(value), cap_exempt=False)

    def create_audience_segment(self) -> Any:
        """Open the segment editor on a new segment (of the journey's target); saved, it joins the audience."""
        from designer.segments import open_segment_editor
        j = self.journey
        if j is None:
            return None
        editor = open_segment_editor(self.document, entity=j.target, parent=self)
        if editor is not None:
            editor.accepted.connect(lambda: self._join_audience(editor.segment().name))
        return editor

    def _join_audience(self, name: str) -> None:
        j = self.journey
        if j is not None and name in self.document.project.segments and name not in j.audience.segments:
            self._audience(segments=(*j.audience.segments, name))

    def _milestones_changed(self, journey_id: str) -> None:
        if journey_id == self.journey_id:
            self.show_timeline()

    def _runs_changed(self) -> None:
        self.show_timeline()

    def show_timeline(self) -> None:
        """The journey's frozen versions and milestones, newest first, read from the project file when the
        timeline is unfolded (not on every edit of the journey)."""
        j = self.journey
        if j is None or not self.timeline_toggle.isChecked():
            return
        self.timeline.clear()
        try:
            events = [(at, f"Version {v} frozen", "") for v, at in self.document.file.versions(j.id)]
            events += [(at, MILESTONE_WORDS.get(kind, kind.capitalize()), detail)
                       for kind, at, detail in self.document.file.milestones(j.id)]
        except JourneyStudioError as e:
            events = []
            self.timeline.addTopLevelItem(QTreeWidgetItem(["", "Cannot be read", str(e)]))
        events.sort(key=lambda e: e[0], reverse=True)
        for at, what, detail in events:
            item = QTreeWidgetItem([at.strftime("%Y-%m-%d %H:%M"), what, detail])
            item.setToolTip(2, detail)
            self.timeline.addTopLevelItem(item)
        if not events:
            self.timeline.addTopLevelItem(QTreeWidgetItem(["", "Draft", f"version {j.version}, not frozen yet"]))
        for column in (0, 1):
            self.timeline.resizeColumnToContents(column)

    def _on_change(self, change: Change) -> None:
        if self.journey_id is None:
            return
        if change.kind == "journey-removed" and change.journey == self.journey_id:
            self.show_journey(None)
        elif (change.kind == "journey-changed" and change.journey == self.journey_id) \
                or change.kind == "segment-changed":
            self._populate()

    def _note_key(self, field: str | None) -> str | None:
        """The note (and input) that shows a finding about `field`."""
        key = FIELD_ALIASES.get(field or "", field)
        while key and key not in self.notes:
            key = key.rpartition(".")[0]
        return key or None

    def refresh_findings(self) -> None:
        """Show the journey-wide findings of the current journey under their fields."""
        if self.journey_id is None:
            return
        by_key: dict[str | None, list[Finding]] = {}
        for f in self.document.findings(self.journey_id):
            if f.step is None:
                by_key.setdefault(self._note_key(f.field), []).append(f)
        for key, note in self.notes.items():
            note.set_findings(by_key.get(key, []))
        self.general_note.set_findings(by_key.get(None, []))

    # --- committing -----------------------------------------------------------------------------------------
    def _update(self, **settings: Any) -> bool:
        j = self.journey
        if j is None:
            return False
        changed = {k: v for k, v in settings.items() if getattr(j, k) != v}
        if not changed:
            return True
        ok = self.document.run(UpdateJourney(j.id, **changed))
        if not ok:
            self._populate()
        return ok

    def _audience(self, **kw: Any) -> None:
        j = self.journey
        if j is not None:
            self._update(audience=replace(j.audience, **kw))

    def _commit_goal(self, goal: Any) -> None:
        j = self.journey
        if j is not None and goal is not None and j.goal is not None:
            goal = replace(goal, within=j.goal.within)  # the goal's window stays when its event changes
        self._update(goal=goal)

    def _commit_goal_within(self, within: Any) -> None:
        j = self.journey
        if j is not None and j.goal is not None:
            if within is not None and within > timedelta(days=366):
                self._refuse("goal.within", self.goal_within, "A goal's window is at most 366 days.")
                return
            self._update(goal=replace(j.goal, within=within))

    def _schedule(self, **kw: Any) -> None:
        j = self.journey
        if j is not None:
            self._update(schedule=replace(j.schedule, **kw))

    def _clear_input_error(self, key: str, widget: QWidget) -> None:
        set_invalid(widget, False)
        self.notes[key].set_input_error(None)

    def _refuse(self, key: str, widget: QWidget, message: str) -> None:
        set_invalid(widget, True)
        self.notes[key].set_input_error(message)

    def _commit_name(self) -> None:
        j = self.journey
        if j is None:
            return
        name = self.name.text().strip()
        if not name:
            self.name.setText(j.name)
            self._clear_input_error("name", self.name)
            self.notes["name"].set_hint(f"A journey needs a name: kept “{j.name}”.")
            return
        self.notes["name"].set_hint(None)
        taken = any(o.name == name and o.id != j.id for o in self.document.project.journeys)
        if taken:
            self._refuse("name", self.name, f"Another journey is named “{name}”: choose another name.")
            return
        self._clear_input_error("name", self.name)
        self._update(name=name)

    def _commit_end(self, end: datetime | None) -> None:
        j = self.journey
        if j is None:
            return
        start = j.schedule.start
        if end is not None and start is not None and end <= start:
            self._refuse("schedule.end", self.end.edit, "The end must be after the start "
                         f"({start.isoformat(' ', 'minutes')}).")
            self.end.set_committed(j.schedule.end)
            return
        self._clear_input_error("schedule.end", self.end.edit)
        self._schedule(end=end)

