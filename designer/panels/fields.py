"""Property editors, one per property kind of the registry: each shows a model value, refuses bad text at the
field, and emits `committed` once per finished edit (the properties panel turns that into one command)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLineEdit, QPlainTextEdit,
                               QSpinBox, QVBoxLayout, QWidget)

from app.model.journey import Journey, Step
from app.model.project import Project
from app.model.registry import PropSpec
from app.validation.findings import Finding
from app.model.attributes import attribute_label
from designer.panels.common import FieldNote, blocked, combo_box, combo_select_data, no_wheel
from designer.panels.inputs import CommitOnLeave, DurationEdit, OptionalDateTime

if TYPE_CHECKING:
    from designer.document import Document


class FieldContext:
    """Where an editor is: the document, and the journey and step it edits (looked up live, never cached)."""

    def __init__(self, document: Document, journey_id: str, step_id: str) -> None:
        self.document = document
        self.journey_id = journey_id
        self.step_id = step_id

    @property
    def project(self) -> Project:
        """The project."""
        return self.document.project

    @property
    def journey(self) -> Journey | None:
        """The journey edited, if it still exists."""
        return self.project.find_journey(self.journey_id)

    @property
    def step(self) -> Step | None:
        """The step edited, if it still exists."""
        journey = self.journey
        return journey.steps.get(self.step_id) if journey is not None else None


class PropEditor(QWidget):
    """Base of the property editors: the input(s) in `body`, and a note under them for refusals and findings."""

    committed = Signal(object, object)  # new value (None clears), commands to run first in the same gesture

    def __init__(self, spec: PropSpec, ctx: FieldContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.ctx = ctx
        self._value: Any = None
        self.note = FieldNote()
        self.body = QWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        outer.addWidget(self.body)
        outer.addWidget(self.note)
        self._build()
        tip = spec.help or spec.label
        self.body.setToolTip(tip)
        self.setAccessibleName(spec.label)

    # --- for the panel --------------------------------------------------------------------------------------
    def value(self) -> Any:
        """The model value the editor shows."""
        return self._value

    def set_value(self, value: Any) -> None:
        """Show a model value, without emitting (and without disturbing an edit in progress that agrees)."""
        self._value = value
        self._show(value)

    def refresh_choices(self) -> None:
        """Re-read the lists the editor offers (content, segments, steps) from the project."""

    def set_findings(self, findings: list[Finding]) -> None:
        """Show the check's findings about this property."""
        self.note.set_findings(findings)

    def focus_input(self) -> None:
        """Put the keyboard focus on the input."""
        self.focus_widget().setFocus(Qt.FocusReason.OtherFocusReason)

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.body

    # --- for subclasses -------------------------------------------------------------------------------------
    def _build(self) -> None:
        raise NotImplementedError

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _commit(self, value: Any, before: list[Any] | None = None) -> None:
        self.note.set_hint(None)
        if value == self._value and not before:
            return
        self._value = value
        self.committed.emit(value, before or [])

    def _row(self, *widgets: QWidget, stretch_first: bool = True) -> QHBoxLayout:
        lay = QHBoxLayout(self.body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        for i, w in enumerate(widgets):
            lay.addWidget(w, 1 if (i == 0 and stretch_first) else 0)
        return lay


class StringEditor(PropEditor):
    """One line of text; empty clears the property."""

    def _build(self) -> None:
        self.combo: QComboBox | None = None
        self._line: QLineEdit | None = None  # with suggestions, read through the combo (a kept wrapper can die)
        if self.spec.choices:  # suggestions in words ('E-mail address (email)'); any other name may be typed
            self.combo = QComboBox()
            self.combo.setEditable(True)
            self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            for choice in self.spec.choices:
                self.combo.addItem(f"{attribute_label(choice)} ({choice})", choice)
            self._row(self.combo)
            self.combo.activated.connect(lambda i: self._commit(self.combo.itemData(i) if self.combo else None))
        else:
            self._line = QLineEdit()
            self._row(self._line)
        if self.spec.default:
            self.edit.setPlaceholderText(str(self.spec.default))
        elif self.spec.required:
            self.edit.setPlaceholderText("Required")
        self.edit.editingFinished.connect(lambda: self._commit(self._typed()))

    @property
    def edit(self) -> QLineEdit:
        """The line typed in (the combo box's own when there are suggestions)."""
        line = self._line if self._line is not None else self.combo.lineEdit() if self.combo is not None else None
        assert line is not None
        return line

    def _typed(self) -> str | None:
        """What the field says: a suggestion's attribute name, or the text typed."""
        text = self.edit.text().strip()
        if self.combo is not None:
            i = self.combo.findText(text)
            if i >= 0:
                return str(self.combo.itemData(i))
        return text or None

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if self.combo is not None and value is not None:
            i = self.combo.findData(value)
            text = self.combo.itemText(i) if i >= 0 else text
        if self.edit.text().strip() != text:
            cursor = self.edit.cursorPosition()
            self.edit.setText(text)
            self.edit.setCursorPosition(min(cursor, len(text)) if self.edit.hasFocus() else 0)

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.combo if self.combo is not None else self.edit


class TextEditor(PropEditor):
    """Several lines of text, committed when leaving the field or on Ctrl+Return."""

    def _build(self) -> None:
        self.edit = QPlainTextEdit()
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(self.edit.fontMetrics().lineSpacing() * 5 + 12)
        self.edit.setPlaceholderText("Ctrl+Return to apply")
        self._row(self.edit)
        self.edit.installEventFilter(CommitOnLeave(lambda: self._commit(self.edit.toPlainText() or None), self))

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if self.edit.toPlainText() != text:
            self.edit.setPlainText(text)

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.edit


class IntEditor(PropEditor):
    """A whole number from 0."""

    def _build(self) -> None:
        self.spin = QSpinBox()
        self.spin.setRange(0, 1_000_000)
        self.spin.setKeyboardTracking(False)
        no_wheel(self.spin)
        self._row(self.spin, stretch_first=False).addStretch(1)
        self.spin.valueChanged.connect(self._commit)

    def _show(self, value: Any) -> None:
        with blocked(self.spin):
            self.spin.setValue(int(value if value is not None else self.spec.default or 0))

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.spin


def plain_number(value: float) -> int | float:
    """50.0 -> 50 (files read better), 33.3 stays."""
    return int(value) if float(value).is_integer() else round(value, 2)


class PercentSpin(QDoubleSpinBox):
    """A percentage spin box that says why it put a value above 100 back (`refused` with the reason; with ""
    when the user types again), instead of silently dropping the keystroke."""

    refused = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lineEdit().textEdited.connect(lambda _t: self.refused.emit(""))  # typing again: the reason goes

    def _number(self, text: str) -> float | None:
        try:
            return float(text.replace(self.suffix().strip(), "").strip())
        except ValueError:
            return None

    def validate(self, text: str, pos: int) -> object:
        number = self._number(text)
        if number is not None and number > self.maximum():
            return (QValidator.State.Intermediate, text, pos)  # let it be typed, refuse it on commit
        return super().validate(text, pos)

    def fixup(self, text: str) -> str:
        number = self._number(text)
        if number is not None and number > self.maximum():
            self.refused.emit(f"{number:g}% is more than {self.maximum():g}%: the value was kept.")
        return super().fixup(text)


def percent_spin() -> PercentSpin:
    """A spin box for a percentage: 0 to 100 (above is refused at the field, with a reason), one decimal, '%'."""
    spin = PercentSpin()
    spin.setRange(0, 100)
    spin.setDecimals(1)
    spin.setSuffix(" %")
    spin.setKeyboardTracking(False)
    spin.setAlignment(Qt.AlignmentFlag.AlignRight)
    spin.setMinimumWidth(spin.fontMetrics().horizontalAdvance("100.0 %") + 40)
    no_wheel(spin)
    return spin


class PercentEditor(PropEditor):
    """A percentage from 0 to 100."""

    def _build(self) -> None:
        self.spin = percent_spin()
        self._row(self.spin, stretch_first=False).addStretch(1)
        self.spin.valueChanged.connect(lambda v: self._commit(plain_number(v)))
        self.spin.refused.connect(lambda why: self.note.set_input_error(why or None))

    def _show(self, value: Any) -> None:
        with blocked(self.spin):
            self.spin.setValue(float(value if value is not None else self.spec.default or 0))

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.spin


class DurationEditor(PropEditor):
    """A duration typed as 5d, 2h30m...; negatives and garbage are refused at the field."""

    def _build(self) -> None:
        self.edit = DurationEdit(self.note)
        self._row(self.edit)
        self.edit.durationEdited.connect(self._commit)

    def _show(self, value: Any) -> None:
        self.edit.set_duration(value)

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.edit


class DateTimeEditor(PropEditor):
    """A local date and time, or not set."""

    def _build(self) -> None:
        journey = self.ctx.journey
        start = journey.schedule.start if journey is not None else None
        self.edit = OptionalDateTime(default=start if isinstance(start, datetime) else None, note=self.note)
        self._row(self.edit)
        self.edit.edited.connect(self._commit)

    def _show(self, value: Any) -> None:
        self.edit.set_value(value)

    def refresh_choices(self) -> None:
        journey = self.ctx.journey
        start = journey.schedule.start if journey is not None else None
        self.edit.default = start if isinstance(start, datetime) else None  # a new date starts at the start

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.edit.edit if self.edit.check.isChecked() else self.edit.check


class BoolEditor(PropEditor):
    """On or off."""

    def _build(self) -> None:
        self.check = QCheckBox(self.spec.label)
        self._row(self.check)
        self.check.toggled.connect(self._commit)

    def _show(self, value: Any) -> None:
        with blocked(self.check):
            self.check.setChecked(bool(value if value is not None else self.spec.default))

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.check


class ChoiceEditor(PropEditor):
    """One of the property's choices."""

    def _build(self) -> None:
        self.combo = combo_box()
        for choice in self.spec.choices:
            self.combo.addItem(choice.replace("_", " "), choice)
        self._row(self.combo)
        self.combo.activated.connect(lambda i: self._commit(self.combo.itemData(i)))

    def _show(self, value: Any) -> None:
        with blocked(self.combo):
            if not combo_select_data(self.combo, value if value is not None else self.spec.default):
                self.combo.setCurrentIndex(-1)

    def focus_widget(self) -> QWidget:
        """The input that takes the focus."""
        return self.combo


EDITORS: dict[str, type[PropEditor]] = {
    "string": StringEditor, "text": TextEditor, "int": IntEditor, "percent": PercentEditor,
    "duration": DurationEditor, "datetime": DateTimeEditor, "bool": BoolEditor, "choice": ChoiceEditor,
}

