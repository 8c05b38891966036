"""The inline editor F2 opens over a tile's name: Return (or leaving it) renames, Escape cancels."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import QLineEdit, QWidget

from designer.canvas.editing import MAX_NAME


class InlineRename(QLineEdit):
    """A line edit over the tile's name; `finished` goes out once, with the name or None (cancelled)."""

    finished = Signal(object)

    def __init__(self, parent: QWidget, step_id: str, name: str, rect: QRect,
                 on_done: Callable[[str, str | None], None]) -> None:
        super().__init__(parent)
        self.step_id = step_id
        self._done = False
        self._on_done = on_done
        self.setObjectName("tileRenameEditor")
        self.setMaxLength(MAX_NAME)
        self.setPlaceholderText(step_id)  # an empty name shows the step id again
        self.setText(name)
        self.selectAll()
        self.setGeometry(rect)
        self.setFrame(True)
        self.show()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish(self.text())
        elif event.key() == Qt.Key.Key_Escape:
            self.finish(None)
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.finish(self.text())

    def finish(self, name: str | None) -> None:
        """End the edit: rename to `name` (None: keep the old name) and go away."""
        if self._done:
            return
        self._done = True
        self.hide()
        self._on_done(self.step_id, name)
        self.finished.emit(name)
        self.deleteLater()
