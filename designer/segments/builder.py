"""The visual query builder: query blocks in order, an 'Add query block' button, and the query's own problems.

The widgets are the editing state: `QueryBuilder.build()` writes the query dict (app.audience.query's format)
and a map from each part's path to its widget, so that every problem the validator finds is shown at the row,
group or block it is about. Any saved query can be loaded: one that cannot be shown as blocks and rows (a
hand-written file gone wrong) is kept as it is, with its problems, until the user starts over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.audience.query import Path, Problem
from designer.panels.common import MutedLabel
from designer.segments.blocks import BlockWidget, query_fits
from designer.segments.rows import ProblemNote, QueryContext, sentence


class QueryBuilder(QWidget):
    """Query blocks in order, an 'Add query block' button, and the query's own problems."""

    edited = Signal()

    def __init__(self, context: QueryContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._raw: Any = None
        self._raw_mode = False
        self.blocks_lay = QVBoxLayout()
        self.blocks_lay.setSpacing(10)
        self.add_block_button = QPushButton("+ Add query block")
        self.add_block_button.setToolTip("Add a block of conditions; blocks after the first combine with the ones "
                                         "above by union, exclude or intersect")
        self.empty_hint = MutedLabel("No query yet: add a query block to say who is in this segment.")
        self.raw_label = QLabel()
        self.raw_label.setWordWrap(True)
        self.raw_text = QPlainTextEdit()
        self.raw_text.setReadOnly(True)
        self.raw_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.raw_text.setMaximumHeight(self.fontMetrics().lineSpacing() * 10)
        self.raw_text.setAccessibleName("The query as written")
        self.start_over_button = QPushButton("Start over")
        self.start_over_button.setToolTip("Replace the query with a new, empty query block")
        raw_row = QHBoxLayout()
        raw_row.addWidget(self.raw_label, 1)
        raw_row.addWidget(self.start_over_button)
        self.raw_box = QWidget()
        raw_lay = QVBoxLayout(self.raw_box)
        raw_lay.setContentsMargins(0, 0, 0, 0)
        raw_lay.addLayout(raw_row)
        raw_lay.addWidget(self.raw_text)
        self.note = ProblemNote()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_block_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(self.raw_box)
        lay.addWidget(self.empty_hint)
        lay.addLayout(self.blocks_lay)
        lay.addLayout(buttons)
        lay.addWidget(self.note)
        lay.addStretch(1)
        self.add_block_button.clicked.connect(lambda: self.add_block())
        self.start_over_button.clicked.connect(self.start_over)
        self._update()

    # --- content ------------------------------------------------------------------------------------------
    def set_query(self, query: Any) -> None:
        """Show a saved query (any value: one that does not fit blocks and rows is kept as it is)."""
        for block in self.blocks():
            self.blocks_lay.removeWidget(block)
            block.deleteLater()
        self._raw_mode = not query_fits(query)
        self._raw = query if self._raw_mode else None
        if not self._raw_mode and query is not None:
            for block in query.get("blocks") or []:
                self.add_block(block, with_row=False, announce=False)
        self._update()

    def blocks(self) -> list[BlockWidget]:
        """The blocks, in order."""
        found = [self.blocks_lay.itemAt(i).widget() for i in range(self.blocks_lay.count())]
        return [w for w in found if isinstance(w, BlockWidget)]

    def add_block(self, block: Mapping[str, Any] | None = None, *, with_row: bool = True,
                  announce: bool = True) -> BlockWidget:
        """Add a block (a new one queries contacts and starts with one empty row, as in Customer Insights)."""
        widget = BlockWidget(self.context, block)
        if block is None and with_row:
            widget.group.add_row(announce=False)
            widget._hint()
        widget.edited.connect(self.edited)
        widget.removeRequested.connect(lambda w=widget: self.remove_block(w))
        self.blocks_lay.addWidget(widget)
        self._update()
        if announce:
            self.edited.emit()
        return widget

    def remove_block(self, widget: BlockWidget) -> None:
        """Take a block out."""
        self.blocks_lay.removeWidget(widget)
        widget.hide()
        widget.deleteLater()
        self._update()
        self.edited.emit()

    def start_over(self) -> None:
        """Drop a query that did not fit, and start with one new block."""
        self._raw_mode, self._raw = False, None
        self.add_block()

    def refresh_lists(self) -> None:
        """Offer newly known subscription lists in the rows."""
        for block in self.blocks():
            block.group.refresh_lists()

    @property
    def raw_mode(self) -> bool:
        """Whether a query that does not fit blocks and rows is shown (and kept) as it is."""
        return self._raw_mode

    def build(self) -> tuple[Any, dict[Path, QWidget]]:
        """The query as edited (None: no blocks), and the widget showing each part, by path."""
        paths: dict[Path, QWidget] = {(): self, ("blocks",): self}
        if self._raw_mode:
            return self._raw, paths
        blocks = self.blocks()
        if not blocks:
            return None, paths
        return {"blocks": [b.collect(("blocks", i), paths) for i, b in enumerate(blocks)]}, paths

    def show_problems(self, problems: Sequence[Problem], paths: Mapping[Path, QWidget]) -> None:
        """Show each problem at the nearest part of the query it is about (and clear the others)."""
        found: dict[int, list[tuple[Problem, Path]]] = {id(w): [] for w in paths.values()}
        for problem in problems:
            path = tuple(problem.path)
            while path not in paths and path:
                path = path[:-1]
            found[id(paths.get(path, self))].append((problem, tuple(problem.path)[len(path):]))
        shown: set[int] = set()
        for widget in paths.values():
            if id(widget) in shown:
                continue
            shown.add(id(widget))
            if widget is self:
                self.note.show_messages([(sentence(p.format() if self._raw_mode else p.message), p.fix)
                                         for p, _ in found[id(self)]])
            else:
                widget.show_problems(found[id(widget)])  # type: ignore[attr-defined]

    def _update(self) -> None:
        blocks = self.blocks()
        for i, block in enumerate(blocks):
            block.set_index(i)
        self.raw_box.setVisible(self._raw_mode)
        if self._raw_mode:
            self.raw_text.setPlainText(json.dumps(self._raw, indent=2, default=repr))
            self.raw_label.setText("This query cannot be shown as blocks and rows (it was written by hand, or the "
                                   "file is damaged). It is kept as it is until you start over.")
        self.empty_hint.setVisible(not blocks and not self._raw_mode)
        self.add_block_button.setVisible(not self._raw_mode)


__all__ = ["QueryBuilder"]
