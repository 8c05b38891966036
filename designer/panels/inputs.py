"""Inputs that refuse bad text at the field: durations ('5d', '2h30m') and optional date-times; and the
helpers that commit an edit when the user leaves a field."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Callable

from PySide6.QtCore import QDate, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent
from PySide6.QtWidgets import QApplication, QCalendarWidget, QCheckBox, QHBoxLayout, QLineEdit, QStyle, QWidget

from app.model.values import format_duration, parse_duration
from designer.panels.common import FieldNote, blocked, set_invalid

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


class _CheckedLine(QLineEdit):
    """A line edit whose text is read (`_read`) on Return and on leaving: what cannot be read gets a red border
    and its message in `note`, and nothing is accepted; correcting it clears both as soon as it reads."""

    def __init__(self, note: FieldNote | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = note
        self.editingFinished.connect(self._finish)
        self.textEdited.connect(self._typing)

    def _read(self, text: str) -> Any:
        raise NotImplementedError

    def _accept(self, value: Any) -> None:
        raise NotImplementedError

    def _typing(self, text: str) -> None:
        if self.property("invalid"):
            try:
                self._read(text)
                self._clear_error()
            except ValueError:
                pass

    def _clear_error(self) -> None:
        if self.property("invalid"):
            set_invalid(self, False)
            if self.note is not None:
                self.note.set_input_error(None)

    def _finish(self) -> None:
        try:
            value = self._read(self.text())
        except ValueError as e:
            set_invalid(self, True)
            if self.note is not None:
                self.note.set_input_error(str(e))
            return
        self._clear_error()
        self._accept(value)


class DurationEdit(_CheckedLine):
    """A line edit for durations ('5d', '2h30m'): `durationEdited` on Return / leaving with a valid value;
    garbage and negatives get a red border and a message in `note`, and nothing is emitted."""

    durationEdited = Signal(object)  # timedelta, or None when cleared

    def __init__(self, note: FieldNote, parent: QWidget | None = None, *, allow_zero: bool = True) -> None:
        super().__init__(note, parent)
        self.allow_zero = allow_zero
        self._value: timedelta | None = None
        self.setPlaceholderText("e.g. 1d or 2h30m")
        self.setClearButtonEnabled(True)
        self.setToolTip(DURATION_HINT)

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

    def _read(self, text: str) -> timedelta | None:
        return read_duration(text, allow_zero=self.allow_zero) if text.strip() else None

    def _accept(self, value: timedelta | None) -> None:
        if value != self._value:
            self._value = value
            self.durationEdited.emit(value)
        if value is not None and not self.hasFocus():
            self.setText(format_duration(value))


DATETIME_FORMAT = "%Y-%m-%d %H:%M"
DATETIME_HINT = "Write a date and time such as 2026-12-10 09:00 (a date alone keeps the time shown)."
_DATETIME_TEXT = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:\s+|T)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?)?\s*$")


def read_datetime(text: str, time_of_day: datetime | None = None) -> datetime:
    """A local date and time typed by a user: '2026-12-10 09:00', '2026-12-10T9:00' or '2026-12-10' (which keeps
    the time of day of `time_of_day`, else 09:00). ValueError with a message fit for the note under the field."""
    m = _DATETIME_TEXT.match(text[:64])
    if m is None:
        raise ValueError(f"'{text.strip()[:40]}' is not a date and time. {DATETIME_HINT}")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        hour, minute, second = (time_of_day.hour, time_of_day.minute, 0) if time_of_day else (9, 0, 0)
    else:
        hour, minute, second = int(m[4]), int(m[5] or 0), int(m[6] or 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as e:  # 2026-02-30, 25:00 ...
        raise ValueError(f"'{text.strip()[:40]}' is not a date and time: {e}. {DATETIME_HINT}") from None


def format_datetime_text(value: datetime) -> str:
    """How a date and time reads in a field: '2026-12-10 09:00' (seconds only when set)."""
    return value.strftime(DATETIME_FORMAT + (":%S" if value.second else ""))


class _CalendarPopup(QCalendarWidget):
    """The day picker under a date field: Return or a click picks, Escape or a click elsewhere closes."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowFlags(Qt.WindowType.Popup)
        self.setGridVisible(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.deleteLater()  # later: a key or click event may still be on its way through it


class DateTimeLine(_CheckedLine):
    """A date and time typed as text, so that what is typed over a selection replaces it (a QDateTimeEdit keeps
    sections, such as the old year); Alt+Down, F4 or the calendar button pick the day from a calendar.
    `dateTimeEdited` on Return or leaving with a valid value; garbage gets a red border and a message in `note`,
    and nothing is emitted."""

    dateTimeEdited = Signal(object)  # datetime: a new value
    committed = Signal(object)  # datetime: Return, leaving or a day picked with a valid value, new or not

    def __init__(self, note: FieldNote | None = None, parent: QWidget | None = None) -> None:
        super().__init__(note, parent)
        self._value: datetime | None = None
        self.setPlaceholderText("yyyy-mm-dd hh:mm")
        self.setMaxLength(64)
        self.setToolTip(DATETIME_HINT)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView)
        self.calendar_action = self.addAction(icon, QLineEdit.ActionPosition.TrailingPosition)
        self.calendar_action.setToolTip("Pick the day from a calendar (Alt+Down)")
        self.calendar_action.triggered.connect(self.show_calendar)
        self.calendar: QCalendarWidget | None = None

    def value(self) -> datetime | None:
        """The date and time last accepted or shown."""
        return self._value

    def set_value(self, value: datetime) -> None:
        """Show a date and time, without emitting."""
        self._value = value
        self._clear_error()
        self.setText(format_datetime_text(value))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_F4 or (event.key() == Qt.Key.Key_Down
                                            and event.modifiers() & Qt.KeyboardModifier.AltModifier):
            self.show_calendar()
            return
        super().keyPressEvent(event)

    def show_calendar(self) -> None:
        """A calendar under the field; choosing a day keeps the time of day."""
        if not self.isEnabled():
            return
        cal = _CalendarPopup(self)
        try:
            shown = read_datetime(self.text(), self._value)
        except ValueError:
            shown = self._value or datetime.now()
        cal.setSelectedDate(QDate(shown.year, shown.month, shown.day))
        cal.activated.connect(lambda d: self._day_picked(cal, d, shown))
        cal.clicked.connect(lambda d: self._day_picked(cal, d, shown))
        cal.move(self.mapToGlobal(self.rect().bottomLeft()))
        self.calendar = cal
        cal.show()
        cal.setFocus(Qt.FocusReason.PopupFocusReason)

    def _day_picked(self, cal: QCalendarWidget, day: QDate, shown: datetime) -> None:
        cal.close()
        self.setText(format_datetime_text(shown.replace(year=day.year(), month=day.month(), day=day.day())))
        self.setFocus(Qt.FocusReason.PopupFocusReason)
        self._finish()

    def _read(self, text: str) -> datetime:
        return read_datetime(text, self._value)

    def _accept(self, value: datetime) -> None:
        if not self.hasFocus():
            self.setText(format_datetime_text(value))
        if value != self._value:
            self._value = value
            self.dateTimeEdited.emit(value)
        self.committed.emit(value)


class OptionalDateTime(QWidget):
    """A date and time that may be 'not set': a check box and a DateTimeLine; `edited` on each commit."""

    edited = Signal(object)  # datetime or None

    def __init__(self, parent: QWidget | None = None, *, default: datetime | None = None,
                 note: FieldNote | None = None) -> None:
        super().__init__(parent)
        self._value: datetime | None = None
        self.default = default
        self.check = QCheckBox()
        self.check.setToolTip("Set a date and time (unchecked: not set)")
        self.edit = DateTimeLine(note)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.check)
        lay.addWidget(self.edit, 1)
        self.check.toggled.connect(self._toggled)
        self.edit.committed.connect(self._left)
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
            self.setFocusProxy(self.edit if self._value is not None else self.check)  # where the focus can go
            shown = self._value or self.default or datetime.now().replace(hour=9, minute=0, second=0,
                                                                           microsecond=0)
            if self.edit.value() != shown or self.edit.property("invalid"):
                self.edit.set_value(shown)
            self.edit.setToolTip(DATETIME_HINT if self._value else "Not set: tick the box to set a date and time")

    def _toggled(self, on: bool) -> None:
        """Ticked: the field opens for a date (focused, all selected, so that typing replaces it); the date is
        committed when it is left or on Return, not at once. Unticked: not set."""
        self.edit.setEnabled(on)
        self.setFocusProxy(self.edit if on else self.check)
        if on:
            self.edit.setToolTip(DATETIME_HINT)
            self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.edit.selectAll()
        else:
            self._emit(None)

    def _left(self, value: datetime) -> None:
        if self.check.isChecked():
            self._emit(value)

    def set_committed(self, value: datetime | None) -> None:
        """Record what the model holds without changing what is shown (after a refused input)."""
        self._value = value

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
