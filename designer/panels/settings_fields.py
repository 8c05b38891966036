"""Inputs for journey settings: segment check lists, goal / exit triggers, time zone, quiet hours, frequency and
frequency cap. Each emits `edited` with a whole model value once per finished edit, or refuses at the field."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import time, timedelta

from PySide6.QtCore import QSize, Qt, QTime, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QCompleter, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QSpinBox, QTimeEdit, QToolButton, QVBoxLayout,
                               QWidget)

from app.model.attributes import CONTACT_EVENTS
from app.model.journey import Frequency, FrequencyCap, QuietHours, Trigger
from app.model.project import Project
from designer.panels.common import FieldNote, blocked, combo_box, combo_select_data, no_wheel, set_invalid
from designer.panels.inputs import DurationEdit

NONE_TEXT = "(none)"


@functools.lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name, UTC first."""
    names = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")
    return ("UTC", *[n for n in names if n != "UTC"])


class SegmentChecklist(QListWidget):
    """The project's segments, each with a check box; `edited` with the checked names (kept in their order)."""

    edited = Signal(tuple)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setUniformItemSizes(True)
        self.itemChanged.connect(self._changed)

    def sizeHint(self) -> QSize:
        rows = min(max(self.count(), 2), 6)
        row = max(self.sizeHintForRow(0) if self.count() else 0, self.fontMetrics().height() + 4)
        return QSize(160, row * rows + 2 * self.frameWidth() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(80, self.sizeHint().height())

    def set_segments(self, project: Project, checked: tuple[str, ...], target: str) -> None:
        """List the project's segments (and any checked name it lacks), ticking `checked`."""
        self._names = tuple(checked)
        with blocked(self):
            self.clear()
            names = sorted(project.segments, key=str.lower)
            for name in names + [n for n in checked if n not in project.segments]:
                segment = project.segments.get(name)
                label = name
                if segment is None:
                    label += " — missing"
                elif segment.entity != target:
                    label += f" · {segment.entity}"
                item = QListWidgetItem(label, self)
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
                item.setToolTip(f"{segment.kind} segment of {segment.entity}" + (f": {segment.description}"
                                if segment.description else "") if segment else "Not in the project")
        self.updateGeometry()

    def checked(self) -> tuple[str, ...]:
        """The ticked segment names: those ticked before in their order, then new ones."""
        ticked = {self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())
                  if self.item(i).checkState() == Qt.CheckState.Checked}
        kept = [n for n in self._names if n in ticked]
        return tuple(kept + sorted(ticked - set(kept), key=str.lower))

    def set_checked(self, name: str, on: bool) -> None:
        """Tick or untick a segment as a user would."""
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.item(i).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _changed(self, _item: QListWidgetItem) -> None:
        names = self.checked()
        if names != self._names:
            self._names = names
            self.edited.emit(names)


TRIGGER_KINDS = (("event", "Event"), ("joins", "Joins segment"), ("leaves", "Leaves segment"))


class TriggerEdit(QWidget):
    """A goal or exit condition: a contact event (editable list) or joining / leaving a segment."""

    edited = Signal(object)  # Trigger, or None for "no goal"

    def __init__(self, project: Project, *, optional: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self._value: Trigger | None = None
        self.kind = combo_box(4)
        if optional:
            self.kind.addItem(NONE_TEXT, None)
        for data, label in TRIGGER_KINDS:
            self.kind.addItem(label, data)
        self.event_box = combo_box(5)
        self.event_box.setEditable(True)
        self.event_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for e in CONTACT_EVENTS:
            self.event_box.addItem(e, e)
        self.event_box.setToolTip("A contact event; type another name if your runner sends it")
        self.segment_box = combo_box(5)
        self.segment_box.setToolTip("The segment")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.kind, 2)
        lay.addWidget(self.event_box, 3)
        lay.addWidget(self.segment_box, 3)
        self.setFocusProxy(self.kind)
        self.kind.activated.connect(lambda _i: self._emit())
        self.event_box.activated.connect(lambda _i: self._emit())
        self.event_box.lineEdit().editingFinished.connect(self._emit)
        self.segment_box.activated.connect(lambda _i: self._emit())
        self._show_kind(None)

    def value(self) -> Trigger | None:
        """The trigger shown."""
        return self._value

    def set_value(self, value: Trigger | None) -> None:
        """Show a model value without emitting."""
        self._value = value
        kind = None if value is None else ("event" if value.event is not None else value.when or "joins")
        with blocked(self.kind, self.event_box, self.segment_box):
            combo_select_data(self.kind, kind)
            self.segment_box.clear()
            for name in sorted(self.project.segments, key=str.lower):
                self.segment_box.addItem(name, name)
            if value is not None and value.event is not None:
                self.event_box.setEditText(value.event)
            elif value is not None and value.segment and not combo_select_data(self.segment_box, value.segment):
                self.segment_box.addItem(f"{value.segment} — missing", value.segment)
                self.segment_box.setCurrentIndex(self.segment_box.count() - 1)
        self._show_kind(kind)

    def _show_kind(self, kind: str | None) -> None:
        self.event_box.setVisible(kind in (None, "event"))
        self.event_box.setEnabled(kind == "event")
        self.segment_box.setVisible(kind in ("joins", "leaves"))

    def _emit(self) -> None:
        kind = self.kind.currentData()
        self._show_kind(kind)
        value: Trigger | None = None
        if kind == "event":
            event = self.event_box.currentText().strip().replace(" ", "_")
            value = Trigger(event=event or CONTACT_EVENTS[0])
            if not event:
                with blocked(self.event_box):
                    self.event_box.setEditText(CONTACT_EVENTS[0])
        elif kind in ("joins", "leaves"):
            name = self.segment_box.currentData()
            if name is None:
                return  # the project has no segment to choose yet: nothing to save
            value = Trigger(segment=name, when=kind)
        if value != self._value:
            self._value = value
            self.edited.emit(value)


class TriggerList(QWidget):
    """Exit conditions: one TriggerEdit per row with a remove button, and an Add button."""

    edited = Signal(tuple)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self._value: tuple[Trigger, ...] = ()
        self.rows: list[TriggerEdit] = []
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(4)
        self.empty = QLabel("No exit conditions: contacts leave at the end of a path.")
        self.empty.setWordWrap(True)
        self.add_button = QToolButton()
        self.add_button.setText("Add exit condition")
        self.add_button.setToolTip("Contacts leave the journey when this happens")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.empty)
        lay.addLayout(self.rows_box)
        lay.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.add_button.clicked.connect(self.add)

    def set_value(self, value: tuple[Trigger, ...]) -> None:
        """Show a model value without emitting."""
        self._value = tuple(value)
        while len(self.rows) > len(value):
            self.rows.pop()
            row = self.rows_box.takeAt(len(self.rows)).widget()
            row.hide()
            row.deleteLater()
        while len(self.rows) < len(value):
            self._add_row()
        for edit, trigger in zip(self.rows, value):
            if edit.value() != trigger:
                edit.set_value(trigger)
        self.empty.setVisible(not value)

    def _add_row(self) -> None:
        edit = TriggerEdit(self.project, optional=False)
        remove = QToolButton()
        remove.setText("\u2212")
        remove.setToolTip("Remove this exit condition")
        remove.setAccessibleName("Remove exit condition")
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(edit, 1)
        lay.addWidget(remove)
        self.rows.append(edit)
        self.rows_box.addWidget(row)
        edit.edited.connect(lambda _v: self._emit())
        remove.clicked.connect(lambda: self.remove(self.rows.index(edit)))

    def add(self) -> None:
        """Add an exit condition: the first contact event not used yet."""
        used = {t.event for t in self._value}
        event = next((e for e in CONTACT_EVENTS if e not in used), CONTACT_EVENTS[0])
        self._commit((*self._value, Trigger(event=event)))
        if self.rows:
            self.rows[-1].setFocus()

    def remove(self, index: int) -> None:
        """Remove the exit condition at `index`."""
        value = list(self._value)
        if 0 <= index < len(value):
            del value[index]
            self._commit(tuple(value))

    def _emit(self) -> None:
        self._commit(tuple(r.value() for r in self.rows if r.value() is not None))

    def _commit(self, value: tuple[Trigger, ...]) -> None:
        if value != self._value:
            self.set_value(value)
            self.edited.emit(value)


class TimeZoneBox(QComboBox):
    """An editable list of IANA time zones with completion; an unknown name is refused at the field."""

    edited = Signal(str)

    def __init__(self, note: FieldNote, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = note
        self._value = "UTC"
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.addItems(list(time_zones()))
        completer = QCompleter(list(time_zones()), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompleter(completer)
        no_wheel(self)
        self.setToolTip("The journey's dates and quiet hours are local times of this zone")
        self.lineEdit().editingFinished.connect(self._finish)
        self.activated.connect(lambda _i: self._finish())
        self.lineEdit().textEdited.connect(lambda _t: self._clear_error())

    def set_zone(self, name: str) -> None:
        """Show a time zone without emitting."""
        self._value = name
        self._clear_error()
        if self.currentText() != name:
            with blocked(self):
                self.setEditText(name)

    def _clear_error(self) -> None:
        if self.lineEdit().property("invalid"):
            set_invalid(self.lineEdit(), False)
            self.note.set_input_error(None)

    def _finish(self) -> None:
        text = self.currentText().strip()
        zones = {z.lower(): z for z in time_zones()}
        zone = zones.get(text.lower())
        if zone is None:
            set_invalid(self.lineEdit(), True)
            self.note.set_input_error(f"'{text}' is not a time zone. Pick one from the list, e.g. Europe/Paris."
                                      if text else "Choose a time zone, e.g. UTC or Europe/Paris.")
            return
        self._clear_error()
        if self.currentText() != zone:
            with blocked(self):
                self.setEditText(zone)
        if zone != self._value:
            self._value = zone
            self.edited.emit(zone)


def _time_edit() -> QTimeEdit:
    edit = QTimeEdit()
    edit.setDisplayFormat("HH:mm")
    edit.setKeyboardTracking(False)
    no_wheel(edit)
    return edit


def _qtime(t: time) -> QTime:
    return QTime(t.hour, t.minute)


def _pytime(t: QTime) -> time:
    return time(t.hour(), t.minute())


class QuietHoursEdit(QWidget):
    """Quiet hours: a check box, then from / to times (21:00 to 08:00 when first switched on)."""

    edited = Signal(object)  # QuietHours or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value: QuietHours | None = None
        self.check = QCheckBox()
        self.check.setAccessibleName("Quiet hours")
        self.check.setToolTip("Hold messages during these local hours; they go out when the quiet hours end")
        self.start, self.end = _time_edit(), _time_edit()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.check)
        lay.addWidget(self.start)
        lay.addWidget(QLabel("to"))
        lay.addWidget(self.end)
        lay.addStretch(1)
        self.setFocusProxy(self.check)
        self.check.toggled.connect(lambda _on: self._emit())
        self.start.timeChanged.connect(lambda _t: self._emit())
        self.end.timeChanged.connect(lambda _t: self._emit())
        self.set_value(None)

    def set_value(self, value: QuietHours | None) -> None:
        """Show a model value without emitting."""
        self._value = value
        shown = value or QuietHours(time(21, 0), time(8, 0))
        with blocked(self.check, self.start, self.end):
            self.check.setChecked(value is not None)
            self.start.setTime(_qtime(shown.start))
            self.end.setTime(_qtime(shown.end))
        self.start.setEnabled(value is not None)
        self.end.setEnabled(value is not None)

    def _emit(self) -> None:
        on = self.check.isChecked()
        self.start.setEnabled(on)
        self.end.setEnabled(on)
        value = QuietHours(_pytime(self.start.time()), _pytime(self.end.time())) if on else None
        if value != self._value:
            self._value = value
            self.edited.emit(value)


def _count_spin(maximum: int, unset: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, maximum)
    spin.setSpecialValueText(unset)  # 0 shows as "not set"
    spin.setKeyboardTracking(False)
    no_wheel(spin)
    return spin


class FrequencyEdit(QWidget):
    """One-time, ongoing or repeating; the interval and count are enabled only for repeating."""

    edited = Signal(object)  # Frequency
    KINDS = (("one-time", "One time", "Members of the audience when the journey starts go through once"),
             ("ongoing", "Ongoing", "Contacts enter as they join the audience, until the journey ends"),
             ("repeating", "Repeating", "The audience goes through again every interval, count times"))

    def __init__(self, note: FieldNote, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = Frequency()
        self.kind = combo_box(6)
        for data, label, tip in self.KINDS:
            self.kind.addItem(label, data)
            self.kind.setItemData(self.kind.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.interval = DurationEdit(note, allow_zero=False)
        self.interval.setPlaceholderText("e.g. 30d")
        self.count = _count_spin(10_000, "not set")
        self.count.setSuffix(" times")
        every = QLabel("Every")
        every.setBuddy(self.interval)
        repeat = QHBoxLayout()
        repeat.setSpacing(4)
        repeat.addWidget(every)
        repeat.addWidget(self.interval, 1)
        repeat.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.kind)
        lay.addLayout(repeat)
        self.setFocusProxy(self.kind)
        self.kind.activated.connect(lambda _i: self._emit())
        self.interval.durationEdited.connect(lambda _v: self._emit())
        self.count.valueChanged.connect(lambda _v: self._emit())

    def set_value(self, value: Frequency) -> None:
        """Show a model value without emitting."""
        self._value = value
        with blocked(self.kind, self.count):
            combo_select_data(self.kind, value.kind)
            self.count.setValue(value.count if isinstance(value.count, int) else 0)
        self.interval.set_duration(value.interval if isinstance(value.interval, timedelta) else None)
        self._enable(value.kind == "repeating")

    def _enable(self, on: bool) -> None:
        self.interval.setEnabled(on)
        self.count.setEnabled(on)

    def _emit(self) -> None:
        kind = self.kind.currentData()
        self._enable(kind == "repeating")
        value = Frequency(kind, self.interval.duration(), self.count.value() or None)
        if value != self._value:
            self._value = value
            self.edited.emit(value)


class CapEdit(QWidget):
    """A frequency cap: at most N messages per period (a check box switches it on, 3 per 7d at first)."""

    edited = Signal(object)  # FrequencyCap or None

    def __init__(self, note: FieldNote, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value: FrequencyCap | None = None
        self.check = QCheckBox()
        self.check.setAccessibleName("Limit messages")
        self.messages = _count_spin(1000, "0")
        self.messages.setMinimum(1)
        self.messages.setSuffix(" messages")
        self.per = DurationEdit(note, allow_zero=False)
        self.per.setPlaceholderText("e.g. 7d")
        self.per.setClearButtonEnabled(False)
        per = QLabel("per")
        per.setBuddy(self.per)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        for w, stretch in ((self.check, 0), (self.messages, 0), (per, 0), (self.per, 1)):
            lay.addWidget(w, stretch)
        self.setFocusProxy(self.check)
        self.check.setToolTip("Limit how many messages one contact gets from this journey in a period")
        self.check.toggled.connect(lambda _on: self._emit())
        self.messages.valueChanged.connect(lambda _v: self._emit())
        self.per.durationEdited.connect(lambda _v: self._emit())
        self.set_value(None)

    def set_value(self, value: FrequencyCap | None) -> None:
        """Show a model value without emitting."""
        self._value = value
        shown = value or FrequencyCap(3, timedelta(days=7))
        with blocked(self.check, self.messages):
            self.check.setChecked(value is not None)
            self.messages.setValue(shown.messages if isinstance(shown.messages, int) else 1)
        self.per.set_duration(shown.per if isinstance(shown.per, timedelta) else None)
        self._enable(value is not None)

    def _enable(self, on: bool) -> None:
        self.messages.setEnabled(on)
        self.per.setEnabled(on)

    def _emit(self) -> None:
        on = self.check.isChecked()
        self._enable(on)
        value = FrequencyCap(self.messages.value(), self.per.duration() or timedelta(days=7)) if on else None
        if value != self._value:
            self._value = value
            self.edited.emit(value)

