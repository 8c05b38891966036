"""A dialog to create or edit a segment's definition: name, what it holds, its kind and a description."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from app.model.project import Project
from app.model.segment import SEGMENT_ENTITIES, SEGMENT_KINDS, Segment
from designer.panels.common import FieldNote, combo_box, field_with_note, form_layout, set_invalid


class SegmentDialog(QDialog):
    """Name (set and free), entity (contacts / accounts), kind and description."""

    def __init__(self, project: Project, segment: Segment | None = None, *, entity: str = "contacts",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.original = segment
        self.setWindowTitle("Edit segment" if segment else "New segment")
        self.setMinimumWidth(380)
        self.name = QLineEdit(segment.name if segment else "")
        self.name.setPlaceholderText("e.g. Newsletter subscribers")
        self.name_note = FieldNote()
        self.entity = combo_box()
        for e in SEGMENT_ENTITIES:
            self.entity.addItem(e.capitalize(), e)
        self.entity.setCurrentIndex(max(0, self.entity.findData(segment.entity if segment else entity)))
        self.kind = combo_box()
        for k in SEGMENT_KINDS:
            self.kind.addItem(k.capitalize(), k)
        self.kind.setCurrentIndex(max(0, self.kind.findData(segment.kind if segment else "dynamic")))
        self.kind.setToolTip("Dynamic: defined by a query. Static: a fixed list. Subscription: a mailing list.")
        self.description = QPlainTextEdit(segment.description if segment else "")
        self.description.setTabChangesFocus(True)
        self.description.setFixedHeight(self.description.fontMetrics().lineSpacing() * 3 + 12)
        if segment is not None:
            self.name.setReadOnly(True)
            self.name.setToolTip("Rename a segment from the project browser (F2): its references follow.")
        form = form_layout()
        form.addRow("&Name:", field_with_note(self.name, self.name_note))
        form.addRow("&Holds:", self.entity)
        form.addRow("&Kind:", self.kind)
        form.addRow("&Description:", self.description)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self._check()

    def segment(self) -> Segment:
        """The segment as entered (its member query, if any, is kept)."""
        query = self.original.query if self.original else None
        return Segment(self.name.text().strip(), self.entity.currentData(), self.kind.currentData(),
                       self.description.toPlainText().strip(), query)

    def problem(self) -> str | None:
        """Why OK is not possible now (None when it is)."""
        name = self.name.text().strip()
        if not name:
            return "Give the segment a name."
        if name in self.project.segments and (self.original is None or name != self.original.name):
            return f"There is already a segment named '{name}'."
        return None

    def _check(self) -> None:
        problem = self.problem()
        typed = bool(self.name.text().strip())
        self.name_note.set_input_error(problem if typed else None)
        set_invalid(self.name, problem is not None and typed)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        """Close with OK only when the name is valid."""
        if self.problem() is None:
            super().accept()
