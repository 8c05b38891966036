"""What every undoable command is: the protocol the designer wraps in a QUndoCommand, the EditLog-based base
class of the model commands, and the macro that groups several commands into one gesture."""

from __future__ import annotations

from typing import Iterable, Protocol

from app.errors import ModelError
from app.model.editlog import EditLog
from app.model.project import Project
from app.model.registry import REGISTRY

NO_MERGE = -1
MERGE_MOVE = 1


class Command(Protocol):
    """What the designer's QUndoCommand wrapper needs: redo -> do, undo -> undo, id -> merge_id."""

    text: str
    merge_id: int

    def do(self, project: Project) -> None: ...
    def undo(self, project: Project) -> None: ...
    def merge_with(self, other: Command) -> bool: ...


def tile_label(type_id: str) -> str:
    tile = REGISTRY.get(type_id)
    return tile.label if tile else type_id


def tiles_text(n: int) -> str:
    return "tile" if n == 1 else f"{n} tiles"


class EditCommand:
    """Base of the model commands: `_apply` edits through an EditLog, which `undo` plays backwards."""

    merge_id: int = NO_MERGE

    def __init__(self, text: str) -> None:
        self.text = text
        self._log: EditLog | None = None

    @property
    def done(self) -> bool:
        return self._log is not None

    def do(self, project: Project) -> None:
        if self._log is not None:
            raise ModelError(f"'{self.text}' is already done")
        log = EditLog(project)
        with project.batch():
            try:
                self._apply(log)
            except BaseException:
                log.revert()
                raise
        self._log = log

    def undo(self, project: Project) -> None:
        if self._log is None:
            raise ModelError(f"'{self.text}' is not done, so it cannot be undone")
        if self._log.project is not project:
            raise ModelError(f"'{self.text}' was done in another project")
        log, self._log = self._log, None
        with project.batch():
            log.revert()

    def merge_with(self, other: Command) -> bool:
        return False

    def _apply(self, log: EditLog) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"


class MacroCommand:
    """Several commands as one gesture: one undo entry, one transaction; a failing part reverts the others."""

    merge_id: int = NO_MERGE

    def __init__(self, text: str, commands: Iterable[Command]) -> None:
        self.text = text
        self.commands = list(commands)

    def do(self, project: Project) -> None:
        done: list[Command] = []
        with project.batch():
            try:
                for command in self.commands:
                    command.do(project)
                    done.append(command)
            except BaseException:
                for command in reversed(done):
                    command.undo(project)
                raise

    def undo(self, project: Project) -> None:
        with project.batch():
            for command in reversed(self.commands):
                command.undo(project)

    def merge_with(self, other: Command) -> bool:
        return False

    def __repr__(self) -> str:
        return f"MacroCommand({self.text!r}, {self.commands!r})"
