"""The value part of a query row: an input that fits the attribute's type and the operator.

Text, numbers and lists of text are typed; dates and times are picked; booleans and choices are chosen; a
range has two inputs; the day operators take a number of days; the unary operators take nothing. Whatever
is typed becomes the row's value even when it is not a value of the right type (say 'lots' for a number): the
query's validator then flags it at the row, as the check for errors would. A value loaded from a saved query
is kept exactly as it was (wrong type included) until the user changes it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import QDate, QEvent, QTime, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QLabel, QLineEdit, QSpinBox,
                               QTimeEdit, QWidget)

from app.audience.query import is_number, parse_datetime
from app.model.attributes import DAY_OPERATORS, RANGE_OPERATORS, UNARY_OPERATORS, Attribute
from app.model.attributes import OP_LABELS
from designer.panels.common import combo_box, no_wheel, set_invalid
from designer.panels.fields import plain_number


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""No value typed yet: the row is written without a 'value'."""
MAX_DAYS = 100_000
_GROUPED = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?")  # 1,250.5: thousands separators

_DATE_LABELS = {"less_than": "before", "at_most": "on or before", "greater_than": "after",
                "at_least": "on or after", "equals": "on", "not_equals": "not on"}


def op_label(op: str, attr_type: str | None) -> str:
    """How an operator reads for an attribute type ('before' rather than 'less than' for dates)."""
    if attr_type in ("date", "datetime") and op in _DATE_LABELS:
        return _DATE_LABELS[op]
    return OP_LABELS.get(op, op.replace("_", " "))


def _show(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value)
    return str(plain_number(value)) if isinstance(value, float) else str(value)


class ValueInput(QWidget):
    """Base of the value inputs: `value()` as typed (MISSING when empty), `edited` after each user change."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loaded: Any = MISSING
        self._pristine = False  # showing a loaded value the user has not changed: it is kept as it was
        self.lay = QHBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.lay.setSpacing(4)

    def value(self) -> Any:
        """The row's value: the loaded one until changed, then what the inputs say."""
        return self._loaded if self._pristine else self._read()

    def set_value(self, value: Any) -> None:
        """Show a value from a saved query (kept unchanged, even of the wrong type, until the user edits)."""
        for w in self.inputs():
            w.blockSignals(True)
        try:
            self._write(value)
        finally:
            for w in self.inputs():
                w.blockSignals(False)
        self._loaded, self._pristine = value, value is not MISSING

    def mark_invalid(self, invalid: bool, tip: str = "") -> None:
        """A red border on the inputs (with the problem as tooltip), or none."""
        for w in self.inputs():
            if bool(w.property("invalid")) != invalid:  # restyling is slow: only on a change
                set_invalid(w, invalid)
            w.setToolTip(tip)

    def inputs(self) -> list[QWidget]:
        """The input widgets (for marking, read-only and tests)."""
        return []

    def _changed(self, *_args: Any) -> None:
        self._pristine = False
        self.edited.emit()

    def _read(self) -> Any:
        return MISSING

    def _write(self, value: Any) -> None:
        pass


class TextInput(ValueInput):
    """Free text; `parse` turns it into the value (e.g. a number), returning the text itself if it cannot."""

    def __init__(self, placeholder: str = "Enter text", parse: Callable[[str], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.parse = parse
        self.lay.addWidget(self.edit)
        self.edit.textChanged.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.edit]

    def _read(self) -> Any:
        text = self.edit.text()
        if not text.strip():
            return MISSING
        return self.parse(text) if self.parse else text

    def _write(self, value: Any) -> None:
        self.edit.setText(_show(value))


def read_number(text: str) -> Any:
    """A typed number ('1,250.5' too); the text itself when it is not one (the row is then flagged)."""
    t = text.strip()
    plain = t.replace(",", "") if _GROUPED.fullmatch(t) else t
    try:
        number = float(plain)
    except ValueError:
        return t
    return plain_number(number) if is_number(number) else t


def read_text_list(text: str) -> Any:
    """'a, b, c' as ['a', 'b', 'c']; empty parts are dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


class ChoiceInput(ValueInput):
    """One of a fixed set (choices, or true / false)."""

    def __init__(self, items: list[tuple[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = combo_box(6)
        self.combo.setPlaceholderText("Choose a value")
        for text, data in items:
            self.combo.addItem(text, data)
        self.combo.setCurrentIndex(-1)
        self.lay.addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.combo]

    def _read(self) -> Any:
        return MISSING if self.combo.currentIndex() < 0 else self.combo.currentData()

    def _write(self, value: Any) -> None:
        for i in range(self.combo.count()):
            if self.combo.itemData(i) == value and type(self.combo.itemData(i)) is type(value):
                self.combo.setCurrentIndex(i)
                return
        if value is MISSING:
            self.combo.setCurrentIndex(-1)
            return
        self.combo.addItem(f"{_show(value)} — not a choice", value)
        self.combo.setCurrentIndex(self.combo.count() - 1)


class CheckCombo(QComboBox):
    """A drop-down list of check boxes that stays open while items are ticked; shows the ticked ones."""

    toggled = Signal()

    def __init__(self, items: list[tuple[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.lineEdit().setReadOnly(True)
        self.lineEdit().setPlaceholderText("Choose values")
        self.lineEdit().installEventFilter(self)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(6)
        model = QStandardItemModel(self)
        for text, data in items:
            item = QStandardItem(text)
            item.setData(data, Qt.ItemDataRole.UserRole)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            model.appendRow(item)
        self.setModel(model)
        self.view().viewport().installEventFilter(self)
        model.itemChanged.connect(self._item_changed)
        self.currentIndexChanged.connect(lambda _i: self._label())  # choosing an item must not replace the text
        self.extra: list[Any] = []  # loaded values that are not choices, shown so they can be seen and fixed
        no_wheel(self)
        self._label()

    def checked(self) -> list[Any]:
        """The ticked choices, in list order."""
        m = self.model()
        return [m.index(i, 0).data(Qt.ItemDataRole.UserRole) for i in range(m.rowCount())
                if m.index(i, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value]

    def set_checked(self, data: Any, checked: bool) -> None:
        """Tick or untick the item holding `data`."""
        m = self.model()
        for i in range(m.rowCount()):
            if m.index(i, 0).data(Qt.ItemDataRole.UserRole) == data:
                m.setData(m.index(i, 0), (Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked).value,
                          Qt.ItemDataRole.CheckStateRole)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.lineEdit() and event.type() == QEvent.Type.MouseButtonPress and self.isEnabled():
            self.showPopup()
            return True
        if obj is self.view().viewport() and event.type() == QEvent.Type.MouseButtonRelease:
            index = self.view().indexAt(event.position().toPoint())
            if index.isValid():
                on = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value
                self.model().setData(index, (Qt.CheckState.Unchecked if on else Qt.CheckState.Checked).value,
                                     Qt.ItemDataRole.CheckStateRole)
            return True  # the list stays open for the next tick
        return super().eventFilter(obj, event)

    def hidePopup(self) -> None:
        super().hidePopup()
        self._label()

    def _item_changed(self, _item: Any) -> None:
        self._label()
        self.toggled.emit()

    def _label(self) -> None:
        m = self.model()
        picked = [m.index(i, 0).data() for i in range(m.rowCount())
                  if m.index(i, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value]
        text = ", ".join(picked + [_show(v) for v in self.extra])
        self.lineEdit().setText(text)
        self.setToolTip(text)


class MultiChoiceInput(ValueInput):
    """Several of a fixed set, ticked in a drop-down list (for 'is one of')."""

    def __init__(self, choices: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = CheckCombo([(c.replace("_", " "), c) for c in choices])
        self.lay.addWidget(self.combo)
        self.combo.toggled.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.combo]

    def set_checked(self, choice: str, checked: bool) -> None:
        """Tick or untick a choice as a user would."""
        self.combo.set_checked(choice, checked)

    def _read(self) -> Any:
        return self.combo.checked() or MISSING

    def _write(self, value: Any) -> None:
        values = list(value) if isinstance(value, (list, tuple)) else ([] if value is MISSING else [value])
        model = self.combo.model()
        model.blockSignals(True)
        try:
            for i in range(model.rowCount()):
                self.combo.set_checked(model.index(i, 0).data(Qt.ItemDataRole.UserRole), False)
            for v in values:
                self.combo.set_checked(v, True)
        finally:
            model.blockSignals(False)
        choices = set(self.combo.checked())
        self.combo.extra = [v for v in values if v not in choices]
        self.combo._label()
        self.combo.view().viewport().update()


class DateInput(ValueInput):
    """A day, picked from a calendar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QDateEdit(QDate.currentDate())
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd")
        no_wheel(self.edit)
        self.lay.addWidget(self.edit)
        self.edit.dateChanged.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.edit]

    def _read(self) -> Any:
        return self.edit.date().toString("yyyy-MM-dd")

    def _write(self, value: Any) -> None:
        parsed = parse_datetime(value)
        if parsed is not None:
            self.edit.setDate(QDate(parsed.year, parsed.month, parsed.day))


class DateTimeInput(ValueInput):
    """A day, and optionally a time (UTC); without a time the value means that whole day."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.day = QDateEdit(QDate.currentDate())
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("yyyy-MM-dd")
        self.with_time = QCheckBox("at")
        self.with_time.setToolTip("Compare with a time of day (UTC); unticked, the whole day counts")
        self.time = QTimeEdit(QTime(9, 0))
        self.time.setDisplayFormat("HH:mm")
        self.time.setEnabled(False)
        no_wheel(self.day, self.time)
        for w in (self.day, self.with_time, self.time):
            self.lay.addWidget(w)
        self.lay.addStretch(1)
        self.day.dateChanged.connect(self._changed)
        self.time.timeChanged.connect(self._changed)
        self.with_time.toggled.connect(self._time_toggled)

    def inputs(self) -> list[QWidget]:
        return [self.day, self.with_time, self.time]

    def _time_toggled(self, on: bool) -> None:
        self.time.setEnabled(on and self.isEnabled())
        self._changed()

    def _read(self) -> Any:
        day = self.day.date().toString("yyyy-MM-dd")
        return f"{day}T{self.time.time().toString('HH:mm')}" if self.with_time.isChecked() else day

    def _write(self, value: Any) -> None:
        parsed = parse_datetime(value)
        if parsed is None:
            return
        self.day.setDate(QDate(parsed.year, parsed.month, parsed.day))
        timed = isinstance(parsed, datetime)
        self.with_time.setChecked(timed)
        self.time.setEnabled(timed)
        if timed:
            self.time.setTime(QTime(parsed.hour, parsed.minute))


class DaysInput(ValueInput):
    """A whole number of days (for 'in the last' / 'not in the last')."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spin = QSpinBox()
        self.spin.setRange(0, MAX_DAYS)
        self.spin.setValue(30)
        self.spin.setSuffix(" days")
        self.spin.setGroupSeparatorShown(True)
        no_wheel(self.spin)
        self.lay.addWidget(self.spin)
        self.lay.addStretch(1)
        self.spin.valueChanged.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.spin]

    def _read(self) -> Any:
        return self.spin.value()

    def _write(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS:
            self.spin.setValue(value)


class RangeInput(ValueInput):
    """Two inputs of the attribute's type: from low to high (both included)."""

    def __init__(self, make: Callable[[], ValueInput], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.low, self.high = make(), make()
        self.lay.addWidget(self.low, 1)
        self.lay.addWidget(QLabel("and"))
        self.lay.addWidget(self.high, 1)
        self.low.edited.connect(self._changed)
        self.high.edited.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return self.low.inputs() + self.high.inputs()

    def _read(self) -> Any:
        low, high = self.low.value(), self.high.value()
        if low is MISSING and high is MISSING:
            return MISSING
        return [None if low is MISSING else low, None if high is MISSING else high]

    def _write(self, value: Any) -> None:
        pair = list(value) if isinstance(value, (list, tuple)) and len(value) == 2 else [MISSING, MISSING]
        self.low.set_value(pair[0])
        self.high.set_value(pair[1])


class ListNameInput(ValueInput):
    """A subscription list: one the contacts are on, or any name typed."""

    def __init__(self, lists: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = combo_box(8)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(lists)
        self.combo.setCurrentIndex(-1)
        self.combo.lineEdit().setPlaceholderText("List name")
        self.lay.addWidget(self.combo)
        self.combo.editTextChanged.connect(self._changed)

    def inputs(self) -> list[QWidget]:
        return [self.combo]

    def _read(self) -> Any:
        text = self.combo.currentText().strip()
        return text or MISSING

    def _write(self, value: Any) -> None:
        self.combo.setEditText(_show(value))


def _single(attr: Attribute | None, lists: list[str]) -> Callable[[], ValueInput]:
    """A factory of the input for one value of the attribute's type."""
    kind = attr.type if attr is not None else "text"
    if kind == "number":
        return lambda: TextInput("Enter a number", read_number)
    if kind == "date":
        return DateInput
    if kind == "datetime":
        return DateTimeInput
    if kind == "boolean":
        return lambda: ChoiceInput([("true", True), ("false", False)])
    if kind == "choice" and attr is not None:
        return lambda: ChoiceInput([(c.replace("_", " "), c) for c in attr.choices])
    if kind == "list":
        return (lambda: ListNameInput(lists)) if attr is not None and attr.name == "subscription_lists" else \
            (lambda: TextInput("Enter an item"))
    return TextInput


def input_key(attr: Attribute | None, op: Any) -> tuple[Any, ...]:
    """What decides the kind of input: rows that keep the same key keep their input (and what was typed)."""
    if not isinstance(op, str) or op in UNARY_OPERATORS:
        return ("none",)
    kind = attr.type if attr is not None else "text"
    shape = "days" if op in DAY_OPERATORS else "range" if op in RANGE_OPERATORS else "in" if op == "in" else "one"
    return (shape, kind, attr.choices if attr is not None else (), attr.name if kind == "list" and attr else "")


def make_value_input(attr: Attribute | None, op: Any, lists: list[str]) -> ValueInput | None:
    """The input for a row's value, or None when the operator takes none (or no operator is chosen yet)."""
    if not isinstance(op, str) or op in UNARY_OPERATORS:
        return None
    if op in DAY_OPERATORS:
        return DaysInput()
    if op in RANGE_OPERATORS:
        return RangeInput(_single(attr, lists))
    if op == "in":
        if attr is not None and attr.type == "choice":
            return MultiChoiceInput(attr.choices)
        return TextInput("Values, separated by commas", read_text_list)
    return _single(attr, lists)()


__all__ = ["MISSING", "OP_LABELS", "ValueInput", "input_key", "make_value_input", "op_label",
           "read_number", "read_text_list"]
