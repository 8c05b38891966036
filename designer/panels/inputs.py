"""Inputs that refuse bad text at the field: durations ('5d', '2h30m') and optional date-times; and the
helpers that commit an edit when the user leaves a field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from PySide6.QtCore import QDate, QDateTime, QEvent, QObject, Qt, QTime, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QCheckBox, QDateTimeEdit, QHBoxLayout, QLineEdit, QWidget

from app.model.values import format_duration, parse_duration
from designer.panels.common import FieldNote, blocked, no_wheel, set_invalid

DURATION_HINT = "Write a duration such as 30m, 12h, 1d, 2w or 1d12h."


def read_duration(text: str, *, allow_zero: bool = True) -> timedelta:
    """A duration typed by a user; ValueError with a message fit for the note under the field."""
    try:
        value = parse_duration(text)
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not a duration. {DURATION_HINT}") from None
    if value < timedelta(0):
        raise ValueError("A duration cannot be negative.")
    if value == timedelta(0) and not allow_zero:
        raise ValueError("The duration must be above zero.")
    return value


class DurationEdit(QLineEdit):
    """A line edit for durations ('5d', '2h30m'): `durationEdited` on Return / leaving with a valid value;
    garbage and negatives get a red border and a message in `note`, and nothing is emitted."""

    durationEdited = Signal(object)  # timedelta, or None when cleared

    def __init__(self, note: FieldNote, parent: QWidget | None = None, *, allow_zero: bool = True) -> None:
        super().__init__(parent)
        self.note = note
        self.allow_zero = allow_zero
        self._value: timedelta | None = None
        self.setPlaceholderText("e.g. 1d or 2h30m")
        self.setClearButtonEnabled(True)
        self.setToolTip(DURATION_HINT)
        self.editingFinished.connect(self._finish)
        self.textEdited.connect(self._typing)

    def duration(self) -> timedelta | None:
        """The duration last accepted (None: empty)."""
        return self._value

    def set_duration(self, value: timedelta | None) -> None:
        """Show a duration (keeps the user's spelling when it means the same, and the cursor)."""
        self._value = value
        self._clear_error()
        try:
            same = (read_duration(self.text()) if self.text().strip() else None) == value
        except ValueError:
            same = False
        if not same:
            cursor = self.cursorPosition()
            self.setText(format_duration(value) if value is not None else "")
            self.setCursorPosition(min(cursor, len(self.text())) if self.hasFocus() else len(self.text()))

    def _typing(self, text: str) -> None:
        if self.property("invalid"):
            try:
                if text.strip():
                    read_duration(text, allow_zero=self.allow_zero)
                self._clear_error()
            except ValueError:
                pass

    def _clear_error(self) -> None:
        if self.property("invalid"):
            set_invalid(self, False)
            self.note.set_input_error(None)

    def _finish(self) -> None:
        text = self.text()
        try:
            value = read_duration(text, allow_zero=self.allow_zero) if text.strip() else None
        except ValueError as e:
            set_invalid(self, True)
            self.note.set_input_error(str(e))
            return
        self._clear_error()
        if value != self._value:
            self._value = value
            self.durationEdited.emit(value)
        if value is not None and not self.hasFocus():
            self.setText(format_duration(value))


def to_qdatetime(value: datetime) -> QDateTime:
    """A naive datetime as a QDateTime."""
    return QDateTime(QDate(value.year, value.month, value.day), QTime(value.hour, value.minute, value.second))


def from_qdatetime(value: QDateTime) -> datetime:
    """A QDateTime as a naive datetime."""
    d, t = value.date(), value.time()
    return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), t.second())


class OptionalDateTime(QWidget):
    """A date and time that may be 'not set': a check box and a QDateTimeEdit; `edited` on each commit."""

    edited = Signal(object)  # datetime or None

    def __init__(self, parent: QWidget | None = None, *, default: datetime | None = None) -> None:
        super().__init__(parent)
        self._value: datetime | None = None
        self.default = default
        self.check = QCheckBox()
        self.check.setToolTip("Set a date and time (unchecked: not set)")
        self.edit = QDateTimeEdit()
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd  HH:mm")
        self.edit.setKeyboardTracking(False)  # commit on Return / leaving, not on every digit
        self.edit.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
        self.edit.setSpecialValueText("")
        no_wheel(self.edit)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.check)
        lay.addWidget(self.edit, 1)
        self.setFocusProxy(self.edit)
        self.check.toggled.connect(self._toggled)
        self.edit.dateTimeChanged.connect(self._changed)
        self.edit.editingFinished.connect(self._left)
        self._show()

    def value(self) -> datetime | None:
        """The date-time shown (None: not set)."""
        return self._value

    def set_value(self, value: datetime | None) -> None:
        """Show a date-time (None: not set), without emitting."""
        self._value = value
        self._show()

    def _show(self) -> None:
        with blocked(self.check, self.edit):
            self.check.setChecked(self._value is not None)
            self.edit.setEnabled(self._value is not None)
            shown = self._value or self.default or datetime.now().replace(hour=9, minute=0, second=0,
                                                                           microsecond=0)
            if from_qdatetime(self.edit.dateTime()) != shown:
                self.edit.setDateTime(to_qdatetime(shown))
            self.edit.setToolTip("" if self._value else "Not set: tick the box to set a date and time")

    def _toggled(self, on: bool) -> None:
        """Ticked: the field opens for a date (focused, all selected); the date is committed when it is left or
        on Return, not at once. Unticked: not set."""
        self.edit.setEnabled(on)
        if on:
            self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.edit.selectAll()
        else:
            self._emit(None)

    def _left(self) -> None:
        if self.check.isChecked():
            self._emit(from_qdatetime(self.edit.dateTime()))

    def set_committed(self, value: datetime | None) -> None:
        """Record what the model holds without changing what is shown (after a refused input)."""
        self._value = value

    def _changed(self, _value: QDateTime) -> None:
        if self.check.isChecked():
            self._emit(from_qdatetime(self.edit.dateTime()))

    def _emit(self, value: datetime | None) -> None:
        if value != self._value:
            self._value = value
            self.edited.emit(value)


class CommitOnLeave(QObject):
    """Commits a plain-text edit when it loses focus or on Ctrl+Return."""

    def __init__(self, commit: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self.commit = commit

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusOut:
            self.commit()
        elif (isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress
              and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
              and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.commit()
            return True
        return False


def finish_edit(panel: QWidget) -> None:
    """Commit an edit in progress inside `panel` (to what it was editing) before the panel shows something else:
    taking the focus away makes line edits, spin boxes and text boxes commit as when the user leaves them."""
    focused = QApplication.focusWidget()
    if focused is not None and panel.isAncestorOf(focused):
        focused.clearFocus()
