"""Undoable commands on the stored members of static segments (rows of the project file, not of the model).

They follow the model commands' protocol (do / undo / merge_with), so the segment editor can save a static
segment and its member changes as one MacroCommand: one undo entry. Each `do` records exactly which rows it
changed, so `undo` puts back what was there, whatever the table held before. No Qt here.
"""

from __future__ import annotations

from collections.abc import Iterable
from sqlalchemy import Connection, delete, insert, select, update

from app.audience.members import add_members, remove_members
from app.model.command_base import Command, MacroCommand
from app.model.project import Project
from app.store import ProjectFile
from app.store import schema as t
from designer.file_commands import FileCommand

_m = t.segment_members
CHUNK = 500


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _stored(conn: Connection, segment: str, among: list[int] | None = None) -> set[int]:
    """The stored member ids of `segment` (only those in `among` when given)."""
    if among is None:
        return set(conn.execute(select(_m.c.contact_id).where(_m.c.segment == segment)).scalars())
    found: set[int] = set()
    for batch in _chunks(among):
        found.update(conn.execute(select(_m.c.contact_id).where(_m.c.segment == segment,
                                                                _m.c.contact_id.in_(batch))).scalars())
    return found


def _insert(conn: Connection, segment: str, ids: Iterable[int]) -> None:
    rows = [{"segment": segment, "contact_id": i} for i in ids]
    if rows:
        conn.execute(insert(_m), rows)


class ChangeStaticMembers(FileCommand):
    """Add and remove stored members of a static segment (the segment must be in the project, and static).

    With `fresh`, the segment is new: rows left under its name (by a deleted segment of that name, kept so
    that its deletion can be undone) are set aside first, so the new segment starts empty.
    """

    def __init__(self, project_file: ProjectFile, segment: str, add: Iterable[int] = (),
                 remove: Iterable[int] = (), *, fresh: bool = False) -> None:
        super().__init__(f"Change members of '{segment}'", project_file)
        self.segment = segment
        self.add = sorted(set(add))
        self.remove = sorted(set(remove) - set(self.add))
        self.fresh = fresh
        self._added: list[int] = []
        self._removed: list[int] = []
        self._set_aside: list[int] = []

    def do(self, project: Project) -> None:
        self._start(project)
        with self.file.connection() as conn:
            set_aside = sorted(_stored(conn, self.segment)) if self.fresh else []
            present = set() if self.fresh else _stored(conn, self.segment, self.add + self.remove)
        if set_aside:
            remove_members(self.file, self.segment, set_aside)
        added = [i for i in self.add if i not in present]
        try:
            add_members(self.file, self.segment, added)
        except BaseException:
            if set_aside:
                add_members(self.file, self.segment, set_aside)
            raise
        removed = [i for i in self.remove if i in present]
        remove_members(self.file, self.segment, removed)
        self._added, self._removed, self._set_aside = added, removed, set_aside
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        remove_members(self.file, self.segment, self._added)
        add_members(self.file, self.segment, self._removed + self._set_aside)
        self._done = False


class MoveStaticMembers(FileCommand):
    """Carry the stored members of a segment over to its new name when it is renamed.

    Rows already under the new name (left by a deleted segment) are set aside and come back on undo.
    """

    def __init__(self, project_file: ProjectFile, old: str, new: str) -> None:
        super().__init__(f"Move members of '{old}' to '{new}'", project_file)
        self.old, self.new = old, new
        self._moved: list[int] = []
        self._set_aside: list[int] = []

    def do(self, project: Project) -> None:
        self._start(project)
        if self.old == self.new:
            self._done = True
            return
        with self.file.connection(write=True) as conn:
            self._set_aside = sorted(_stored(conn, self.new))
            self._moved = sorted(_stored(conn, self.old))
            conn.execute(delete(_m).where(_m.c.segment == self.new))
            conn.execute(update(_m).where(_m.c.segment == self.old).values(segment=self.new))
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        self._done = False
        if self.old == self.new:
            return
        with self.file.connection(write=True) as conn:
            conn.execute(delete(_m).where(_m.c.segment == self.new))
            _insert(conn, self.old, self._moved)
            _insert(conn, self.new, self._set_aside)


def with_members_moved(project_file: ProjectFile, rename: Command, old: str, new: str) -> Command:
    """A segment rename command that also carries the segment's stored members over to the new name."""
    return MacroCommand(rename.text, [rename, MoveStaticMembers(project_file, old, new)])


__all__ = ["ChangeStaticMembers", "MoveStaticMembers", "with_members_moved"]
