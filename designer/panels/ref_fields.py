"""Property editors for kinds that refer to the rest of the project: content, segments, an earlier message's
event (wait_for), an attribute test (condition) and the path percentages of a split (percent_list)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QCompleter, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QToolButton, QVBoxLayout, QWidget)

from app.audience.query import value_problem
from app.model.attributes import MESSAGE_EVENTS, OPERATORS, STANDARD_ATTRIBUTES, UNARY_OPERATORS, lookup_attribute
from app.model.commands import PutContent
from app.model.registry import PATH_NAMES, REGISTRY, PropSpec
from designer.icons import tile_icon
from designer.panels.common import (ERROR_COLORS, OK_COLORS, WARNING_COLORS, blocked, combo_box, combo_select_data,
                                    dot_icon, set_invalid, tone)
from designer.panels.content_dialog import ContentDialog, status_text
from designer.panels.fields import EDITORS as SIMPLE_EDITORS
from designer.panels.condition_values import placeholder, read_value, value_shape, value_text
from designer.panels.fields import FieldContext, PropEditor, StringEditor, percent_spin, plain_number
from app.model.refs import rename_content_command

NONE_TEXT = "(none)"
MIN_PATHS, MAX_PATHS = 2, 10


def _sub_form(body: QWidget) -> QFormLayout:
    form = QFormLayout(body)
    form.setContentsMargins(0, 0, 0, 0)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setVerticalSpacing(4)
    return form


def _words(name: str) -> str:
    return name.replace("_", " ")


def _select(combo: QComboBox, value: Any) -> None:
    """Select `value`; one the project no longer has stays visible as '— missing', so the user sees what is
    wrong and can change it."""
    if not combo_select_data(combo, value):
        if value is None:
            combo.setCurrentIndex(0 if combo.count() else -1)
        else:
            combo.addItem(dot_icon("#d32f2f"), f"{value} — missing", value)
            combo.setCurrentIndex(combo.count() - 1)


class ContentEditor(PropEditor):
    """Which content of the step's channel to send: a list with each one's status, New… and Edit…."""

    def _build(self) -> None:
        self.kind = self.spec.content_kind or "email"
        self.combo = combo_box(12)
        self.new_button = QToolButton()
        self.new_button.setText("New…")
        self.new_button.setToolTip(f"Create new {self.kind} content and send it from this step")
        self.edit_button = QToolButton()
        self.edit_button.setText("Edit…")
        self.edit_button.setToolTip("Edit the chosen content")
        self.status = QLabel()
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.edit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        lay = QVBoxLayout(self.body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.combo)
        lay.addLayout(buttons)
        self.combo.activated.connect(lambda i: self._commit(self.combo.itemData(i)))
        self.new_button.clicked.connect(self.new_content)
        self.edit_button.clicked.connect(self.edit_content)
        self.refresh_choices()

    def refresh_choices(self) -> None:
        with blocked(self.combo):
            self.combo.clear()
            self.combo.addItem(NONE_TEXT, None)
            for c in sorted(self.ctx.project.content.values(), key=lambda c: c.name.lower()):
                if c.kind == self.kind:
                    ready = c.status == "ready"
                    self.combo.addItem(dot_icon("#2e7d32" if ready else "#f59e0b"),
                                       f"{c.name} — {status_text(c.status)}", c.name)
        self._show(self._value)

    def _show(self, value: Any) -> None:
        with blocked(self.combo):
            _select(self.combo, value)
        content = self.ctx.project.content.get(value or "")
        self.edit_button.setEnabled(content is not None)
        self.combo.setToolTip(self.combo.currentText())
        if content is None:
            self.status.setText("")
        else:  # the status stays readable when a long name elides the combo's text
            ready = content.status == "ready"
            self.status.setText(f"\u25cf {status_text(content.status)}")
            self.status.setStyleSheet(f"color: {tone(self, OK_COLORS if ready else WARNING_COLORS)}")

    def new_content(self) -> None:
        """Create content in a dialog and choose it for this step (one undoable gesture)."""
        dialog = ContentDialog(self.ctx.project, kind=self.kind, parent=self)
        if dialog.exec():
            content = dialog.content()
            self._commit(content.name, before=[PutContent(content)])

    def edit_content(self) -> None:
        """Edit the chosen content in a dialog (a rename is followed everywhere)."""
        old = self.ctx.project.content.get(self._value or "")
        if old is None:
            return
        dialog = ContentDialog(self.ctx.project, old, parent=self)
        if dialog.exec() and dialog.content() != old:
            self.ctx.document.run(rename_content_command(self.ctx.project, old.name, dialog.content()))

    def focus_widget(self) -> QWidget:
        return self.combo


class SegmentEditor(PropEditor):
    """A segment of the project."""

    def _build(self) -> None:
        self.combo = combo_box()
        self._row(self.combo)
        self.combo.activated.connect(lambda i: self._commit(self.combo.itemData(i)))
        self.refresh_choices()

    def refresh_choices(self) -> None:
        with blocked(self.combo):
            self.combo.clear()
            self.combo.addItem(NONE_TEXT, None)
            for s in sorted(self.ctx.project.segments.values(), key=lambda s: s.name.lower()):
                self.combo.addItem(s.name, s.name)
                self.combo.setItemData(self.combo.count() - 1, f"{s.kind} segment of {s.entity}",
                                       Qt.ItemDataRole.ToolTipRole)
        self._show(self._value)

    def _show(self, value: Any) -> None:
        with blocked(self.combo):
            _select(self.combo, value)

    def focus_widget(self) -> QWidget:
        return self.combo


class WaitForEditor(PropEditor):
    """An event on an earlier message: the message step, the event (by its channel) and, for clicks, a link."""

    def _build(self) -> None:
        self.step_combo, self.event_combo, self.link_combo = combo_box(), combo_box(), combo_box()
        self.step_combo.setToolTip("The earlier message step whose event to wait for")
        self.event_combo.setToolTip("What the contact has to do with that message")
        self.link_combo.setToolTip("For link_clicked: a particular link of the email, or any link")
        form = _sub_form(self.body)
        form.addRow("Message:", self.step_combo)
        form.addRow("Event:", self.event_combo)
        form.addRow("Link:", self.link_combo)
        for combo in (self.step_combo, self.event_combo, self.link_combo):
            combo.activated.connect(self._edited)
        self.refresh_choices()

    def refresh_choices(self) -> None:
        journey = self.ctx.journey
        with blocked(self.step_combo):
            self.step_combo.clear()
            self.step_combo.addItem(NONE_TEXT, None)
            for step in journey or ():
                tile = REGISTRY.get(step.type)
                if tile is not None and tile.is_message and step.id != self.ctx.step_id:
                    self.step_combo.addItem(tile_icon(step.type), step.display_name, step.id)
        self._show(self._value)

    def _channel(self, step_id: str | None) -> str | None:
        journey = self.ctx.journey
        step = journey.steps.get(step_id) if journey is not None and step_id else None
        tile = REGISTRY.get(step.type) if step is not None else None
        return tile.channel if tile is not None else None

    def _links(self, step_id: str | None) -> tuple[str, ...]:
        journey = self.ctx.journey
        step = journey.steps.get(step_id) if journey is not None and step_id else None
        content = self.ctx.project.content.get(step.props.get("content") or "") if step is not None else None
        return content.links if content is not None and content.kind == "email" else ()

    def _show(self, value: Any) -> None:
        value = value or {}
        step_id, event, link = value.get("step"), value.get("event"), value.get("link")
        with blocked(self.step_combo, self.event_combo, self.link_combo):
            _select(self.step_combo, step_id)
            channel = self._channel(step_id)
            self.event_combo.clear()
            for e in MESSAGE_EVENTS.get(channel or "", ()):
                self.event_combo.addItem(_words(e), e)
            if event:
                _select(self.event_combo, event)
            self.event_combo.setEnabled(step_id is not None)
            self.link_combo.clear()
            self.link_combo.addItem("(any link)", None)
            for name in self._links(step_id):
                self.link_combo.addItem(name, name)
            if link:
                _select(self.link_combo, link)
            self.link_combo.setEnabled(event == "link_clicked" and self.link_combo.count() > 1)

    def _edited(self) -> None:
        step_id = self.step_combo.currentData()
        if step_id is None:
            self._commit(None)
            return
        events = MESSAGE_EVENTS.get(self._channel(step_id) or "", ())
        event = self.event_combo.currentData()
        if event not in events:  # a new message step of another channel: take its first event
            event = events[0] if events else event
        value = {"event": event, "step": step_id}
        link = self.link_combo.currentData() if event == "link_clicked" else None
        if link and link in self._links(step_id):
            value["link"] = link
        self._commit(value)
        self._show(value)

    def focus_widget(self) -> QWidget:
        return self.step_combo


class ConditionEditor(PropEditor):
    """An attribute test: attribute, an operator that fits its type, and the value to compare with."""

    def _build(self) -> None:
        self.attr_combo, self.op_combo = combo_box(), combo_box()
        self.value_edit = QLineEdit()
        self.value_edit.setPlaceholderText("Value")
        self.value_edit.setClearButtonEnabled(True)
        form = _sub_form(self.body)
        form.addRow("Attribute:", self.attr_combo)
        form.addRow("Operator:", self.op_combo)
        self.value_label = QLabel("Value:")
        form.addRow(self.value_label, self.value_edit)
        self.attr_combo.activated.connect(self._edited)
        self.op_combo.activated.connect(self._edited)
        self.value_edit.editingFinished.connect(self._edited)
        self.refresh_choices()

    def _custom(self) -> dict[str, str]:
        return dict(self.ctx.project.settings.custom_attributes)

    def refresh_choices(self) -> None:
        with blocked(self.attr_combo):
            self.attr_combo.clear()
            self.attr_combo.addItem(NONE_TEXT, None)
            for a in STANDARD_ATTRIBUTES.values():
                self.attr_combo.addItem(f"{a.label} ({a.name})", a.name)
            for name, kind in sorted(self._custom().items()):
                self.attr_combo.addItem(f"{name} (custom, {kind})", name)
        self._show(self._value)

    def _show(self, value: Any) -> None:
        value = value or {}
        name, op = value.get("attribute"), value.get("op")
        attr = lookup_attribute(name or "", self._custom())
        with blocked(self.attr_combo, self.op_combo):
            _select(self.attr_combo, name)
            self.op_combo.clear()
            for o, types in OPERATORS.items():
                if attr is None or attr.type in types:
                    self.op_combo.addItem(_words(o), o)
            if op:
                _select(self.op_combo, op)
            self.op_combo.setEnabled(name is not None)
        unary = op in UNARY_OPERATORS
        self.value_edit.setPlaceholderText(placeholder(op))
        self.value_edit.setVisible(not unary)
        self.value_label.setVisible(not unary)
        self.value_edit.setEnabled(name is not None)
        completer = QCompleter(list(attr.choices)) if attr is not None and attr.choices else None
        self.value_edit.setCompleter(completer)
        if not self.value_edit.hasFocus():  # never overwrite what is being typed
            set_invalid(self.value_edit, False)
            self.note.set_input_error(None)
            self.value_edit.setText(value_text(value.get("value")))

    def _edited(self) -> None:
        name = self.attr_combo.currentData()
        if name is None:
            self._commit(None)
            self._show(None)
            return
        attr = lookup_attribute(name, self._custom())
        attr_type = attr.type if attr is not None else "text"
        op = self.op_combo.currentData()
        if op not in OPERATORS or attr_type not in OPERATORS[op]:
            op = next(o for o, types in OPERATORS.items() if attr_type in types)
        value: dict[str, Any] = {"attribute": name, "op": op}
        text = self.value_edit.text()
        if op not in UNARY_OPERATORS and text.strip():
            try:
                value["value"] = read_value(text, attr_type, op)
                problem = value_problem(attr, op, value["value"]) if attr is not None else None
                if problem:  # the same rule as the check for errors (and segment queries) applies
                    raise ValueError(problem[0].upper() + problem[1:] + ".")
            except ValueError as e:
                previous = self._value if isinstance(self._value, dict) else None
                other_kind = previous is not None and (previous.get("attribute") != name
                                                       or value_shape(previous.get("op")) != value_shape(op))
                if not other_kind or self.value_edit.hasFocus():
                    set_invalid(self.value_edit, True)
                    self.note.set_input_error(str(e))
                    return
                value.pop("value", None)  # another attribute or kind of value: the value starts afresh
                self.value_edit.clear()
        set_invalid(self.value_edit, False)
        self.note.set_input_error(None)
        self._commit(value)
        self._show(value)

    def focus_widget(self) -> QWidget:
        return self.attr_combo


class PercentListEditor(PropEditor):
    """Path percentages of a split: one spin box per path (2 to 10), add / remove, and the total with holdout."""

    def _build(self) -> None:
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(3)
        self.spins: list[Any] = []
        self.add_button = QToolButton()
        self.add_button.setText("Add path")
        self.add_button.setToolTip("Add a path; it takes what the paths leave over, or half of the last path")
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Remove the last path; its share goes to the path before it")
        self.even_button = QToolButton()
        self.even_button.setText("Even")
        self.even_button.setToolTip("Share what the holdout leaves evenly between the paths")
        self.total = QLabel()
        self.total.setWordWrap(True)
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for b in (self.add_button, self.remove_button, self.even_button):
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self.body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(self.grid)
        lay.addWidget(buttons)
        lay.addWidget(self.total)
        self.add_button.clicked.connect(self.add_path)
        self.remove_button.clicked.connect(self.remove_path)
        self.even_button.clicked.connect(self.even)

    def _holdout(self) -> float:
        step = self.ctx.step
        holdout = step.props.get("holdout") if step is not None else None
        return float(holdout) if isinstance(holdout, (int, float)) and not isinstance(holdout, bool) else 0.0

    def values(self) -> tuple[int | float, ...]:
        """The path percentages shown."""
        return tuple(plain_number(s.value()) for s in self.spins)

    def _show(self, value: Any) -> None:
        values = list(value or ())
        while len(self.spins) > len(values):
            spin = self.spins.pop()
            label = self.grid.itemAtPosition(len(self.spins), 0).widget()
            for w in (spin, label):
                self.grid.removeWidget(w)
                w.hide()
                w.deleteLater()
        while len(self.spins) < len(values):
            i = len(self.spins)
            spin = percent_spin()
            spin.setAccessibleName(f"Path {PATH_NAMES[i] if i < len(PATH_NAMES) else i + 1}")
            spin.valueChanged.connect(lambda _v: self._commit(self.values()))
            spin.refused.connect(lambda why: self.note.set_input_error(why or None))
            label = QLabel(f"Path {PATH_NAMES[i] if i < len(PATH_NAMES) else i + 1}:")
            label.setBuddy(spin)
            self.grid.addWidget(label, i, 0)
            self.grid.addWidget(spin, i, 1)
            self.spins.append(spin)
        self.grid.setColumnStretch(2, 1)
        for spin, v in zip(self.spins, values):
            if isinstance(v, (int, float)) and spin.value() != v:
                with blocked(spin):
                    spin.setValue(float(v))
        self.add_button.setEnabled(len(values) < MAX_PATHS)
        self.remove_button.setEnabled(len(values) > MIN_PATHS)
        self._show_total(values)

    def _show_total(self, values: list[Any]) -> None:
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        holdout = self._holdout()
        total = sum(numbers) + holdout
        with_holdout = f" with the {holdout:g}% holdout" if holdout else ""
        if abs(total - 100) < 1e-9:
            color, text = tone(self, OK_COLORS), f"\u2714 Total {total:g}%{with_holdout}"
        else:
            color, text = tone(self, ERROR_COLORS), f"\u2716 Total {total:g}%{with_holdout}"
        self.total.setText(text)
        self.total.setStyleSheet(f"color: {color}")

    def add_path(self) -> None:
        """Add a path, keeping the total where it was."""
        values = list(self.values())
        if len(values) >= MAX_PATHS:
            return
        rest = 100 - sum(values) - self._holdout()
        if rest > 0:
            values.append(plain_number(rest))
        else:
            half = plain_number(values[-1] / 2) if values else 0
            values[-1:] = [plain_number(values[-1] - half), half] if values else [half]
        self._commit(tuple(values))
        self._show(values)
        self.spins[-1].setFocus()

    def remove_path(self) -> None:
        """Remove the last path; its share goes to the path before."""
        values = list(self.values())
        if len(values) <= MIN_PATHS:
            return
        last = values.pop()
        values[-1] = plain_number(values[-1] + last)
        self._commit(tuple(values))
        self._show(values)

    def even(self) -> None:
        """Share what the holdout leaves evenly between the paths."""
        n = len(self.spins) or 2
        share = 100 - self._holdout()
        base = int(share // n)
        values = [base + (1 if i < int(share - base * n) else 0) for i in range(n)]
        if abs(sum(values) - share) > 1e-9:  # a fractional holdout: the last path takes the fraction
            values[-1] = plain_number(values[-1] + share - sum(values))
        self._commit(tuple(values))
        self._show(values)

    def focus_widget(self) -> QWidget:
        return self.spins[0] if self.spins else self.add_button


EDITORS: dict[str, type[PropEditor]] = {
    **SIMPLE_EDITORS, "content": ContentEditor, "segment": SegmentEditor, "wait_for": WaitForEditor,
    "condition": ConditionEditor, "percent_list": PercentListEditor,
}


def make_editor(spec: PropSpec, ctx: FieldContext) -> PropEditor:
    """The editor for a property, chosen by its kind (unknown kinds get a line of text)."""
    return EDITORS.get(spec.kind, StringEditor)(spec, ctx)
