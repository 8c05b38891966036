"""The base of undoable commands on rows of the project file (not of the model). No Qt here.

They follow the model commands' protocol (do / undo / merge_with) so that they go on the document's undo stack
like any edit: static segment members (designer/segments/member_commands.py) and contacts
(designer/contacts/commands.py).
"""

from __future__ import annotations

from app.errors import ModelError
from app.model.command_base import NO_MERGE, Command
from app.model.project import Project
from app.store import ProjectFile


class FileCommand:
    """The file a command writes to, the protocol's merge bits, and the checks around do and undo."""

    merge_id: int = NO_MERGE

    def __init__(self, text: str, project_file: ProjectFile) -> None:
        self.text = text
        self.file = project_file
        self._done = False

    def merge_with(self, other: Command) -> bool:
        return False

    def _start(self, project: Project) -> None:
        if self._done:
            raise ModelError(f"'{self.text}' is already done")
        if project is not self.file.project:
            raise ModelError(f"'{self.text}' belongs to another project")

    def _finish_undo(self) -> None:
        if not self._done:
            raise ModelError(f"'{self.text}' is not done, so it cannot be undone")
