"""Qt undo-stack entries wrapping the model's pure commands (the model never sees Qt)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from designer.document import Document


class UndoEntry(QUndoCommand):
    """One user gesture on the undo stack: redo runs the command's do(), undo its undo()."""

    def __init__(self, document: Document, command: Any, *, already_done: bool) -> None:
        super().__init__(command.text)
        self.document = document
        self.command = command
        self._skip_first_redo = already_done  # Document.run() did it already, to catch refusals before push

    def redo(self) -> None:
        if self._skip_first_redo:
            self._skip_first_redo = False
            return
        self.document.apply(self.command.do)

    def undo(self) -> None:
        self.document.apply(self.command.undo)

    def id(self) -> int:
        return int(getattr(self.command, "merge_id", -1))

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, UndoEntry) or not self.command.merge_with(other.command):
            return False
        self.setText(self.command.text)
        return True
