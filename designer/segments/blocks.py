"""Query blocks and AND / OR groups of the visual query builder (designer.segments.builder), as in the Customer
Insights segment designer: a block has an entity and a tree of groups of rows; blocks after the first combine
with the ones above by union, exclude or intersect.

Each widget writes its part of the query (`collect`) and records where that part is, so that a problem the
validator finds is shown at the group or block it is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QButtonGroup, QComboBox, QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.audience.query import BLOCK_OPS, GROUP_KEYS, MAX_DEPTH, ROOTS, Path, Problem
from designer.panels.common import ERROR_COLORS, MutedLabel, blocked, bold, combo_box, tone
from designer.segments.rows import ProblemNote, QueryContext, RowWidget, mark, restyle, sentence

BLOCK_OP_LABELS = {"union": "Union", "exclude": "Exclude", "intersect": "Intersect"}
BLOCK_OP_TIPS = {"union": "Add the contacts this block finds to those of the blocks above",
                 "exclude": "Take the contacts this block finds away from those of the blocks above",
                 "intersect": "Keep only the contacts of the blocks above that this block finds too"}
ROOT_LABELS = {"contacts": "Contacts", "account": "Contacts by their account",
               "interactions": "Contacts by their interactions"}
EVERYONE = {"contacts": "every contact", "account": "every contact that has an account",
            "interactions": "every contact with at least one interaction"}
_ROW_KEYS = {"attribute", "op", "value"}
Item = Union[RowWidget, "GroupWidget"]


def _is_group(item: Any) -> bool:
    """How the validator tells a nested group from a row."""
    return isinstance(item, Mapping) and any(k in item for k in GROUP_KEYS) and "attribute" not in item


def _group_fits(group: Any, depth: int = 0) -> bool:
    """Whether a group can be shown as widgets (its shape is right, whatever its values)."""
    if depth > MAX_DEPTH or not isinstance(group, Mapping) or len(group) != 1:
        return False
    key = next(iter(group))
    if key not in GROUP_KEYS or not isinstance(group[key], list):
        return False
    for item in group[key]:
        if _is_group(item):
            if not _group_fits(item, depth + 1):
                return False
        elif not isinstance(item, Mapping) or "attribute" not in item or not set(item) <= _ROW_KEYS:
            return False
    return True


def query_fits(query: Any) -> bool:
    """Whether a query can be shown as blocks, groups and rows (its values may still have problems)."""
    if query is None:
        return True
    if not isinstance(query, Mapping) or not set(query) <= {"blocks"}:
        return False
    blocks = query.get("blocks")
    if blocks is None:
        return True
    if not isinstance(blocks, list):
        return False
    return all(isinstance(b, Mapping) and set(b) <= {"op", "root", "where"}
               and (b.get("where") is None or _group_fits(b["where"])) for b in blocks)


def _button(text: str, tip: str) -> QToolButton:
    b = QToolButton()
    b.setText(text)
    b.setToolTip(tip)
    if not any(ch.isalnum() for ch in text):
        b.setAccessibleName(tip)  # a symbol ('✕') is said as what it does
    b.setAutoRaise(True)
    return b


def _frame_style(widget: QWidget, name: str, invalid: bool, rule: str) -> None:
    color = tone(widget, ERROR_COLORS) if invalid else widget.palette().color(QPalette.ColorRole.Mid).name()
    restyle(widget, f"QFrame#{name} {{ {rule.format(color=color)} }}")


class GroupWidget(QFrame):
    """AND / OR over rows and nested groups, with buttons to add a row or a group."""

    edited = Signal()
    removeRequested = Signal()

    def __init__(self, context: QueryContext, root: str, group: Mapping[str, Any] | None = None, *,
                 removable: bool = False, depth: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryGroup")
        self.context, self.root, self.depth, self.removable = context, root, depth, removable
        self.and_button = _button("AND", "Every condition of this group must hold")
        self.or_button = _button("OR", "At least one condition of this group must hold")
        self.toggle = QButtonGroup(self)
        for b in (self.and_button, self.or_button):
            b.setCheckable(True)
            b.setAutoRaise(False)
            self.toggle.addButton(b)
        self.and_button.setChecked(True)
        self.caption = MutedLabel()
        self.remove_button = _button("\u2715", "Remove this group and its rows")
        self.remove_button.setVisible(removable)
        header = QHBoxLayout()
        header.setSpacing(2)
        header.addWidget(self.and_button)
        header.addWidget(self.or_button)
        header.addSpacing(6)
        header.addWidget(self.caption, 1)
        header.addWidget(self.remove_button)
        self.items_lay = QVBoxLayout()
        self.items_lay.setSpacing(4)
        self.add_row_button = _button("+ Add row", "Add a condition to this group")
        self.add_group_button = _button("+ Add group", "Add a group of conditions with its own AND / OR")
        self.add_group_button.setEnabled(depth < MAX_DEPTH)
        footer = QHBoxLayout()
        footer.addWidget(self.add_row_button)
        footer.addWidget(self.add_group_button)
        footer.addStretch(1)
        self.note = ProblemNote()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10 if removable else 0, 2, 0, 2)
        lay.setSpacing(4)
        lay.addLayout(header)
        lay.addLayout(self.items_lay)
        lay.addLayout(footer)
        lay.addWidget(self.note)
        if group:
            key = next(iter(group))
            self.set_key(key)
            for item in group[key]:
                if _is_group(item):
                    self.add_group(item, announce=False)
                else:
                    self.add_row(item, announce=False)
        self._caption()
        self.show_problems([])
        self.toggle.buttonToggled.connect(self._toggled)
        self.add_row_button.clicked.connect(lambda: self.add_row().attr_combo.setFocus())
        self.add_group_button.clicked.connect(lambda: self.add_group())
        self.remove_button.clicked.connect(self.removeRequested)

    def key(self) -> str:
        """'all' (AND) or 'any' (OR)."""
        return "any" if self.or_button.isChecked() else "all"

    def set_key(self, key: str) -> None:
        """Show AND ('all') or OR ('any') without emitting."""
        with blocked(self.toggle):
            (self.or_button if key == "any" else self.and_button).setChecked(True)
        self._caption()

    def items(self) -> list[Item]:
        """The rows and groups, in order."""
        found = [self.items_lay.itemAt(i).widget() for i in range(self.items_lay.count())]
        return [w for w in found if isinstance(w, (RowWidget, GroupWidget))]

    def rows(self) -> list[RowWidget]:
        """The rows directly in this group."""
        return [w for w in self.items() if isinstance(w, RowWidget)]

    def groups(self) -> list[GroupWidget]:
        """The groups directly in this group."""
        return [w for w in self.items() if isinstance(w, GroupWidget)]

    def add_row(self, row: Mapping[str, Any] | None = None, *, announce: bool = True) -> RowWidget:
        """Add a row (empty: the user picks its attribute next)."""
        widget = RowWidget(self.context, self.root, row)
        return self._add(widget, announce)

    def add_group(self, group: Mapping[str, Any] | None = None, *, announce: bool = True) -> GroupWidget:
        """Add a nested group (a new one starts with an OR and one empty row: why else nest?)."""
        widget = GroupWidget(self.context, self.root, group, removable=True, depth=self.depth + 1)
        if group is None:
            widget.set_key("any" if self.key() == "all" else "all")
            widget.add_row(announce=False)
        return self._add(widget, announce)

    def _add(self, widget: Any, announce: bool) -> Any:
        widget.edited.connect(self.edited)
        widget.removeRequested.connect(lambda w=widget: self.remove_item(w))
        self.items_lay.addWidget(widget)
        if announce:
            self.edited.emit()
        return widget

    def remove_item(self, widget: QWidget) -> None:
        """Take a row or group out."""
        self.items_lay.removeWidget(widget)
        widget.hide()
        widget.deleteLater()
        self.edited.emit()

    def set_root(self, root: str) -> None:
        """Follow the block's entity."""
        self.root = root
        for item in self.items():
            item.set_root(root)

    def refresh_lists(self) -> None:
        """Offer newly known subscription lists in the rows."""
        for item in self.items():
            item.refresh_lists()

    def collect(self, path: Path, paths: dict[Path, QWidget]) -> dict[str, Any]:
        """The group as the query writes it; records where each part is."""
        paths[path] = self
        key = self.key()
        out = []
        for i, item in enumerate(self.items()):
            if isinstance(item, GroupWidget):
                out.append(item.collect(path + (key, i), paths))
            else:
                paths[path + (key, i)] = item
                out.append(item.row())
        return {key: out}

    def show_problems(self, problems: Sequence[tuple[Problem, Path]]) -> None:
        """Mark the group (red rule on its left) and say what is wrong under it."""
        if self.removable or problems:  # a nested group shows its extent by a rule on its left
            _frame_style(self, "queryGroup", bool(problems), "border: none; border-left: 3px solid {color};")
        else:
            restyle(self, "")
        self.note.show_messages([(sentence(p.message), p.fix) for p, _ in problems])

    def _toggled(self, _button: Any, checked: bool) -> None:
        if checked:
            self._caption()
            self.edited.emit()

    def _caption(self) -> None:
        self.caption.setText("All of these conditions" if self.key() == "all" else "Any of these conditions")
        for b in (self.and_button, self.or_button):  # the checked one reads as chosen in any palette
            font = b.font()
            if font.bold() != b.isChecked():
                font.setBold(b.isChecked())
                b.setFont(font)


class BlockWidget(QFrame):
    """One query block: how it combines with the blocks above, what it queries, and its conditions."""

    edited = Signal()
    removeRequested = Signal()

    def __init__(self, context: QueryContext, block: Mapping[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryBlock")
        block = block or {}
        self._op_given, self._root_given = "op" in block, "root" in block
        self.op_combo = combo_box(8)
        self.op_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for op in BLOCK_OPS:
            self.op_combo.addItem(BLOCK_OP_LABELS[op], op)
            self.op_combo.setItemData(self.op_combo.count() - 1, BLOCK_OP_TIPS[op], Qt.ItemDataRole.ToolTipRole)
        self._select(self.op_combo, block.get("op", "union"), BLOCK_OP_LABELS)
        self.op_combo.setAccessibleName("Combine with the blocks above")
        self.title = QLabel()
        self.title.setFont(bold(self.font()))
        self.root_combo = combo_box(14)
        self.root_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for root in ROOTS:
            self.root_combo.addItem(ROOT_LABELS[root], root)
        self._select(self.root_combo, block.get("root", "contacts"), ROOT_LABELS)
        self.root_combo.setAccessibleName("Entity")
        self.root_combo.setToolTip("What the conditions of this block test: the contact, its account, or its "
                                   "interactions (all conditions on the same interaction)")
        self.remove_button = _button("\u2715", "Remove this query block")
        header = QHBoxLayout()
        header.setSpacing(6)
        header.addWidget(self.op_combo)
        header.addWidget(self.title)
        header.addWidget(self.root_combo)
        header.addStretch(1)
        header.addWidget(self.remove_button)
        root = self.root()
        self.group = GroupWidget(context, root, block.get("where"))
        self.hint = MutedLabel()
        self.note = ProblemNote()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        lay.addLayout(header)
        lay.addWidget(self.group)
        lay.addWidget(self.hint)
        lay.addWidget(self.note)
        self.set_index(0)
        self.show_problems([])
        self.group.edited.connect(self._group_edited)
        self.op_combo.currentIndexChanged.connect(self._op_changed)
        self.root_combo.currentIndexChanged.connect(self._root_changed)
        self.remove_button.clicked.connect(self.removeRequested)
        self._hint()

    @staticmethod
    def _select(combo: Any, value: Any, labels: Mapping[str, str]) -> None:
        index = combo.findData(value)
        if index < 0:  # kept, so the validator can say what is wrong with it
            combo.addItem(f"{value} — unknown", value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def root(self) -> Any:
        """What the block queries: contacts, account or interactions."""
        return self.root_combo.currentData()

    def set_index(self, index: int) -> None:
        """Number the block; the first has no combining operator."""
        self.index = index
        self.title.setText(f"Block {index + 1}:")
        self.op_combo.setVisible(index > 0)

    def collect(self, path: Path, paths: dict[Path, QWidget]) -> dict[str, Any]:
        """The block as the query writes it ('where' left out when it has no conditions)."""
        paths[path] = self
        out: dict[str, Any] = {}
        op = self.op_combo.currentData()
        if self._op_given or (self.index > 0 and op != "union"):
            out["op"] = op
        root = self.root()
        if self._root_given or root != "contacts":
            out["root"] = root
        if self.group.items():
            out["where"] = self.group.collect(path + ("where",), paths)
        else:
            paths[path + ("where",)] = self.group
        return out

    def show_problems(self, problems: Sequence[tuple[Problem, Path]]) -> None:
        """Mark the block (and its combo) and say what is wrong under it."""
        mark(self.op_combo, any(rest[:1] == ("op",) for _, rest in problems))
        mark(self.root_combo, any(rest[:1] == ("root",) for _, rest in problems))
        _frame_style(self, "queryBlock", bool(problems), "border: 1px solid {color}; border-radius: 6px;")
        self.note.show_messages([(sentence(p.message), p.fix) for p, _ in problems])

    def _group_edited(self) -> None:
        self._hint()
        self.edited.emit()

    def _op_changed(self, _index: int) -> None:
        self._op_given = True
        self.edited.emit()

    def _root_changed(self, _index: int) -> None:
        self._root_given = True
        self.group.set_root(self.root())
        self._hint()
        self.edited.emit()

    def _hint(self) -> None:
        empty = not self.group.items()
        self.hint.setText(f"No conditions: this block finds {EVERYONE.get(self.root(), 'everyone it reaches')}. "
                          "Add a row to narrow it down.")
        self.hint.setVisible(empty)


__all__ = ["BlockWidget", "GroupWidget", "query_fits"]
