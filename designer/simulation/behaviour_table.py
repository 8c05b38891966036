"""The behaviour assumptions of a run as an editable table: per channel, per message step, and contact events.

Rows: one per channel (email, sms, push) with delivered, opened, clicked (of opened), unsubscribed and converted
(of clicks) percentages, the median open and click delays and where the defaults come from
(simulator.behaviour.SOURCES; the full text in the tooltip); one per message step of the current journey, whose
empty cells inherit the channel's figure (shown greyed) until a value is typed; one per contact event with its
rate per contact per day. A figure that differs from the default is bold. Anything typed that is not a valid
figure (120 %, a negative delay, text) is refused with one line naming the cell and why.

The table edits the channel figures, the message overrides and the event rates of a `BehaviourModel`; the rest
of the model (sigmas, delivery delays, engagement effects, multipliers) is kept as it was set or loaded. Files
are the YAML of `journey-studio behaviour --out` (read by `journey-studio simulate --behaviour`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QGridLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from app.model.journey import Journey
from designer.panels.common import ERROR_COLORS, MutedLabel, tone
from designer.simulation.behaviour_model import (COLUMNS, NAME_COLUMN, RATE_COLUMN, BehaviourTableModel,
                                                 message_steps)
from simulator.behaviour import BehaviourModel
from simulator.behaviour_file import behaviour_file_text, read_behaviour_file


# --- the widget ---------------------------------------------------------------------------------------------------

class _Table(QTableView):
    """The table view: Delete clears the selected cells (a message inherits again, others take the default)."""

    cleared = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Delete) or event.key() == Qt.Key.Key_Backspace:
            if self.state() != QAbstractItemView.State.EditingState and self.selectionModel().hasSelection():
                self.cleared.emit()
                return
        super().keyPressEvent(event)


class BehaviourTable(QWidget):
    """The behaviour assumptions of a run: the table, Load… / Save… / Reset buttons and a one-line note."""

    changed = Signal()  # a figure changed

    def __init__(self, model: BehaviourModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = BehaviourTableModel(model, self)
        self.view = _Table(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        self.view.setAccessibleName("Behaviour assumptions")

        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Read behaviour figures from a YAML file (as written by Save… or by "
                                    "journey-studio behaviour --out)")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write these figures to a YAML file, to share or to use with journey-studio "
                                    "simulate --behaviour")
        self.reset_cells_button = QPushButton("Reset selected")
        self.reset_cells_button.setToolTip("Selected cells go back to the default (a message's cell to its "
                                           "channel's figure). Delete does the same.")
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Every figure back to the published defaults, no message overrides")
        self.summary = MutedLabel()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()

        self.summary.setWordWrap(True)
        buttons = QGridLayout()  # two rows: the panel fits a narrow dock (a 1366-px screen)
        buttons.setContentsMargins(0, 0, 0, 0)
        for i, b in enumerate((self.load_button, self.save_button, self.reset_cells_button, self.reset_button)):
            b.setAutoDefault(False)
            buttons.addWidget(b, i // 2, i % 2)
        buttons.setColumnStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)

        self.model.refused.connect(self._refused)
        self.model.edited.connect(self._edited)
        self.model.modelReset.connect(self._spans)
        self.model.modelReset.connect(self._size_name_column)
        self.view.cleared.connect(self.reset_selected)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)
        self.reset_cells_button.clicked.connect(self.reset_selected)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        self._spans()
        self._edited()
        self._size_columns()

    # --- API ------------------------------------------------------------------------------------------------
    def behaviour(self) -> BehaviourModel:
        """The behaviour model as edited."""
        return self.model.behaviour()

    def set_behaviour(self, model: BehaviourModel) -> None:
        """Show another behaviour model."""
        self.model.set_behaviour(model)

    def set_journey(self, journey: Journey | None) -> None:
        """Show override rows for this journey's message steps."""
        self.model.set_steps(message_steps(journey), journey.name if journey is not None else "")

    def refusal(self) -> str:
        """The line shown under the table about the last refused input or file ('' if none)."""
        return "" if self.note.isHidden() else self.note.text()

    def reset_to_defaults(self) -> None:
        """Every figure back to the defaults."""
        self.model.set_behaviour(BehaviourModel())

    def reset_selected(self) -> None:
        """The selected cells (or rows, when their name is selected) back to their default."""
        for index in self.view.selectionModel().selectedIndexes():
            if index.column() == NAME_COLUMN:
                self.model.reset_row(index.row())
            else:
                self.model.clear_cell(index.row(), index.column())

    def load_file(self, path: str | Path) -> bool:
        """Read a behaviour file; a file that cannot be used leaves the table as it was and says why."""
        try:
            model = read_behaviour_file(path)
        except ValueError as e:
            self._refused(str(e))
            return False
        self.model.set_behaviour(model)
        return True

    def save_file(self, path: str | Path) -> bool:
        """Write the figures to a behaviour file; says why when it cannot."""
        from app.files import write_atomically
        try:  # atomic, permissions kept, a device or a pipe refused (OutputFileError is an OSError too)
            write_atomically(Path(path), behaviour_file_text(self.behaviour()))
        except OSError as e:
            self._refused(f"{path}: cannot write the behaviour file: {e.strerror or e}" if e.strerror else str(e))
            return False
        return True

    # --- reactions ------------------------------------------------------------------------------------------
    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load behaviour figures", "", "Behaviour files (*.yaml *.yml "
                                              "*.json);;All files (*)")
        if path:
            self.load_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save behaviour figures", "behaviour.yaml",
                                              "Behaviour files (*.yaml *.yml)")
        if path:
            self.save_file(path)

    def _refused(self, text: str) -> None:
        self._show_note(text)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setStyleSheet(f"color: {tone(self, ERROR_COLORS)}")
        self.note.setVisible(bool(text))

    def _edited(self) -> None:
        n = self.model.edited_count()
        self.summary.setText("Published defaults (sources in the last column)" if n == 0 else
                             f"{n} figure{'s' if n != 1 else ''} differ{'s' if n == 1 else ''} from the defaults "
                             "(bold)")
        self._show_note("")  # an edit went through: the last refusal no longer applies
        self.changed.emit()

    def _spans(self) -> None:
        self.view.clearSpans()
        for i, row in enumerate(self.model.rows()):
            if row.kind == "section":
                self.view.setSpan(i, 0, 1, len(COLUMNS))

    def _size_name_column(self) -> None:
        """Wide enough for the names of channels, messages and events (section titles span the row)."""
        metrics = self.view.fontMetrics()
        names = [r.label for r in self.model.rows() if r.kind != "section"]
        widest = max((metrics.horizontalAdvance(n) for n in names), default=100)
        self.view.setColumnWidth(NAME_COLUMN, min(max(widest + 24, 140), 320))

    def _size_columns(self) -> None:
        metrics = self.view.fontMetrics()
        self._size_name_column()
        for c, column in enumerate(COLUMNS):
            if column.field:
                title = max(metrics.horizontalAdvance(line) for line in column.title.splitlines())
                widest = "0.0005 % a day" if c == RATE_COLUMN else "99.02 %"
                self.view.setColumnWidth(c, max(title, metrics.horizontalAdvance(widest)) + 20)

__all__ = ["BehaviourTable", "BehaviourTableModel", "behaviour_file_text", "read_behaviour_file"]
