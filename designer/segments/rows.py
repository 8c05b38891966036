"""A row of a segment query: attribute picker, an operator that fits its type, and a value input that fits both.

Also the small pieces the blocks and groups share: the note that shows a query problem where it is, and the
context every row reads (custom attributes, known subscription lists).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QCompleter, QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.audience.query import Path, Problem, find_attribute, root_attributes
from app.model.attributes import OPERATORS, STANDARD_ATTRIBUTES, Attribute
from designer.panels.common import ERROR_COLORS, blocked, combo_box, set_invalid, tone
from designer.segments.values import MISSING, ListNameInput, ValueInput, input_key, make_value_input, op_label

ROOT_NOUNS = {"contacts": "a contact", "account": "an account", "interactions": "an interaction"}
COMBO_CHROME = 40  # a combo's frame, padding and arrow, in pixels


@dataclass
class QueryContext:
    """What rows need to know beyond themselves: the project's custom attributes and the known list names."""

    custom: dict[str, str] = field(default_factory=dict)
    lists: list[str] = field(default_factory=list)


class ProblemNote(QLabel):
    """The problems of one part of the query, in red under it (the fix as tooltip); hidden when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self._messages: list[str] = []
        self.hide()

    def show_messages(self, messages: Sequence[tuple[str, str]]) -> None:
        """Show (message, fix) pairs; none hides the note."""
        self._messages = [m for m, _ in messages]
        color = tone(self, ERROR_COLORS)
        self.setText("<br>".join(f"<span style='color:{color}'>\u2716 {html.escape(m)}</span>" for m, _ in messages))
        self.setToolTip("\n".join(f"{m}\nFix: {f}" for m, f in messages))
        self.setAccessibleDescription("; ".join(self._messages))
        self.setVisible(bool(messages))

    def plain_text(self) -> str:
        """The messages shown, one a line (for tests and accessibility)."""
        return "\n".join(self._messages)


def mark(widget: QWidget, invalid: bool) -> None:
    """Give an input a red border, or take it away; only when that changes (restyling costs ~1 ms a widget,
    and the problems are shown again after every keystroke)."""
    if bool(widget.property("invalid")) != invalid:
        set_invalid(widget, invalid)


def restyle(widget: QWidget, sheet: str) -> None:
    """Set a style sheet unless the widget has it already (for the same reason)."""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


def sentence(text: str) -> str:
    """A validator message as a sentence: capital first letter, full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _column_width(widget: QWidget, texts: list[str]) -> int:
    """A width that shows the longest of `texts` in a combo."""
    metrics = widget.fontMetrics()
    return max(metrics.horizontalAdvance(t) for t in texts) + COMBO_CHROME


def _tool_button(text: str, tip: str) -> QToolButton:
    b = QToolButton()
    b.setText(text)
    b.setToolTip(tip)
    if not any(ch.isalnum() for ch in text):
        b.setAccessibleName(tip)  # a symbol ('✕') is said as what it does
    b.setAutoRaise(True)
    return b


class RowWidget(QFrame):
    """One condition: attribute, operator, value. `edited` after every change, `removeRequested` on ✕."""

    edited = Signal()
    removeRequested = Signal()

    def __init__(self, context: QueryContext, root: str, row: Mapping[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryRow")
        self.context = context
        self.root = root
        self.attr_combo = combo_box(16)
        self.attr_combo.setEditable(True)
        self.attr_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.attr_combo.lineEdit().setPlaceholderText("Select attribute")
        completer = self.attr_combo.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.attr_combo.setAccessibleName("Attribute")
        self.op_combo = combo_box(10)
        self.op_combo.setAccessibleName("Operator")
        self.op_combo.setPlaceholderText("Operator")
        self.value_box = QWidget()
        self.value_lay = QHBoxLayout(self.value_box)
        self.value_lay.setContentsMargins(0, 0, 0, 0)
        self.value_input: ValueInput | None = None
        self._value_key: tuple[Any, ...] = ("none",)
        self.remove_button = _tool_button("\u2715", "Remove this row")
        self.note = ProblemNote()
        # Fixed widths for attribute and operator keep the rows of a block in columns, whatever their values.
        self.attr_combo.setFixedWidth(_column_width(self, [a.label for a in STANDARD_ATTRIBUTES.values()]))
        self.op_combo.setFixedWidth(_column_width(self, [op_label(o, t) for o in OPERATORS for t in (None, "date")]))
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(6)
        line.addWidget(self.attr_combo)
        line.addWidget(self.op_combo)
        line.addWidget(self.value_box, 1)
        line.addWidget(self.remove_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(line)
        lay.addWidget(self.note)
        self._fill_attributes(row.get("attribute") if row else None)
        self._fill_operators(row.get("op") if row else None)
        self._place_value(row.get("value", MISSING) if row else MISSING)
        self.attr_combo.currentIndexChanged.connect(self._attribute_chosen)
        self.attr_combo.lineEdit().editingFinished.connect(self._attribute_typed)
        self.op_combo.currentIndexChanged.connect(self._operator_chosen)
        self.remove_button.clicked.connect(self.removeRequested)

    # --- reading ------------------------------------------------------------------------------------------
    def attribute_name(self) -> Any:
        """The attribute named (None when none is chosen yet)."""
        return self.attr_combo.currentData() if self.attr_combo.currentIndex() >= 0 else None

    def attribute(self) -> Attribute | None:
        """The attribute chosen, if the block's root has it."""
        return find_attribute(self.root, self.attribute_name(), self.context.custom)

    def operator(self) -> Any:
        """The operator chosen (None when none is)."""
        return self.op_combo.currentData() if self.op_combo.currentIndex() >= 0 else None

    def row(self) -> dict[str, Any]:
        """The row as the query format writes it."""
        out: dict[str, Any] = {"attribute": self.attribute_name(), "op": self.operator()}
        value = self.value_input.value() if self.value_input is not None else MISSING
        if value is not MISSING:
            out["value"] = value
        return out

    # --- choosing -----------------------------------------------------------------------------------------
    def choose_attribute(self, name: str) -> None:
        """Pick an attribute by name, as a user would."""
        index = self.attr_combo.findData(name)
        if index >= 0:
            self.attr_combo.setCurrentIndex(index)

    def choose_operator(self, op: str) -> None:
        """Pick an operator, as a user would."""
        index = self.op_combo.findData(op)
        if index >= 0:
            self.op_combo.setCurrentIndex(index)

    def set_root(self, root: str) -> None:
        """Follow the block's entity: offer its attributes (a name it lacks stays, marked unknown)."""
        self.root = root
        with blocked(self.attr_combo, self.op_combo):
            self._fill_attributes(self.attribute_name())
            self._fill_operators(self.operator())
        self._place_value(self.value_input.value() if self.value_input is not None else MISSING)

    def refresh_lists(self) -> None:
        """Offer the subscription lists known now in a list-name input."""
        if isinstance(self.value_input, ListNameInput):
            known = {self.value_input.combo.itemText(i) for i in range(self.value_input.combo.count())}
            with blocked(self.value_input.combo):
                text = self.value_input.combo.currentText()
                self.value_input.combo.addItems([n for n in self.context.lists if n not in known])
                self.value_input.combo.setEditText(text)

    def _fill_attributes(self, current: Any) -> None:
        combo = self.attr_combo
        combo.clear()
        attrs = root_attributes(self.root, self.context.custom)
        for name, attr in attrs.items():
            custom = self.root == "contacts" and name not in STANDARD_ATTRIBUTES
            combo.addItem(f"{attr.label} (custom)" if custom else attr.label, name)
            combo.setItemData(combo.count() - 1, f"{name} · {attr.type}", Qt.ItemDataRole.ToolTipRole)
        found = find_attribute(self.root, current, self.context.custom)
        index = combo.findData(found.name if found is not None and found.name in attrs else current)
        if current is not None and index < 0:
            combo.addItem(f"{current} — unknown", current)
            combo.setItemData(combo.count() - 1, f"Not {ROOT_NOUNS.get(self.root, 'an')} attribute",
                              Qt.ItemDataRole.ToolTipRole)
            index = combo.count() - 1
        combo.setCurrentIndex(index)
        if index < 0:
            combo.setEditText("")
        combo.lineEdit().setCursorPosition(0)  # a long name shows its beginning

    def _fill_operators(self, current: Any) -> None:
        combo = self.op_combo
        combo.clear()
        attr = self.attribute()
        if self.attribute_name() is None:
            combo.setEnabled(False)
            combo.setCurrentIndex(-1)
            return
        combo.setEnabled(True)
        kind = attr.type if attr is not None else None
        for op, types in OPERATORS.items():
            if kind is None or kind in types:
                combo.addItem(op_label(op, kind), op)
        index = combo.findData(current)
        if current is not None and index < 0:
            combo.addItem(f"{current} — {'unknown' if current not in OPERATORS else 'not for ' + str(kind)}", current)
            index = combo.count() - 1
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _place_value(self, value: Any) -> None:
        """Put the input that fits the attribute and operator; an input of the same kind is kept as it is."""
        attr, op = self.attribute(), self.operator()
        key = input_key(attr, op)
        if key == self._value_key and self.value_input is not None:
            return
        old, self.value_input = self.value_input, make_value_input(attr, op, self.context.lists)
        self._value_key = key
        if old is not None:
            self.value_lay.removeWidget(old)
            old.hide()  # out of the Tab order now, deleted when the event loop comes back
            old.deleteLater()
        if self.value_input is not None:
            if value is not MISSING:
                self.value_input.set_value(value)
            self.value_input.edited.connect(self.edited)
            self.value_lay.addWidget(self.value_input)
            # Tab goes attribute, operator, value, remove, however late the value's input was made (Qt puts a
            # new widget last in the window's chain; setTabOrder takes only widgets that take the focus)
            stops = [w for w in self.value_input.findChildren(QWidget)
                     if w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.focusProxy() is None]
            for first, second in zip([self.op_combo, *stops], [*stops, self.remove_button]):
                QWidget.setTabOrder(first, second)
            for i, stop in enumerate(stops):
                stop.setAccessibleName("Value" if len(stops) == 1 else ("From", "To")[i] if len(stops) == 2
                                       else f"Value {i + 1}")

    def _attribute_chosen(self, _index: int) -> None:
        with blocked(self.op_combo):
            self._fill_operators(self.operator())
        self._place_value(MISSING)
        self.edited.emit()

    def _attribute_typed(self) -> None:
        """Typed text picks the first attribute whose label contains it (as the tutorial's 'city'); else the
        choice shown before comes back."""
        text = self.attr_combo.currentText().strip().lower()
        index = self.attr_combo.currentIndex()
        if index >= 0 and self.attr_combo.itemText(index).lower() == text:
            return
        matches = [i for i in range(self.attr_combo.count()) if text and text in self.attr_combo.itemText(i).lower()]
        if matches:
            self.attr_combo.setCurrentIndex(matches[0])
        else:
            self.attr_combo.setEditText(self.attr_combo.itemText(index) if index >= 0 else "")

    def _operator_chosen(self, _index: int) -> None:
        self._place_value(MISSING)  # an input of the same kind stays, with what was typed; a new one starts fresh
        self.edited.emit()

    # --- problems -----------------------------------------------------------------------------------------
    def show_problems(self, problems: Sequence[tuple[Problem, Path]]) -> None:
        """Show the problems of this row; `rest` says which part (attribute, op, value) each is about."""
        parts: dict[str, list[str]] = {"attribute": [], "op": [], "value": [], "": []}
        messages: list[tuple[str, str]] = []
        if self.attribute_name() is None and problems:
            problems = []
            parts["attribute"].append("Choose an attribute")
            messages.append(("Choose an attribute.", "Pick what to test from the list, or remove the row."))
        for problem, rest in problems:
            part = str(rest[0]) if rest and rest[0] in ("attribute", "op", "value") else ""
            message = problem.message
            if problem.code == "value-type" and ": " in message:  # "'City' equals: 5 is not some text": the
                message = message.split(": ", 1)[1]               # row shows the attribute and operator already
            parts[part].append(message)
            messages.append((sentence(message), problem.fix))
        for widget, key in ((self.attr_combo, "attribute"), (self.op_combo, "op")):
            mark(widget, bool(parts[key]))
            widget.setToolTip("\n".join(parts[key]))
        if self.value_input is not None:
            self.value_input.mark_invalid(bool(parts["value"]), "\n".join(parts["value"]))
        restyle(self, f"QFrame#queryRow {{ border-left: 3px solid {tone(self, ERROR_COLORS)}; }}"
                if parts[""] else "")
        self.note.show_messages(messages)


__all__ = ["ProblemNote", "QueryContext", "ROOT_NOUNS", "RowWidget", "mark", "restyle", "sentence"]
