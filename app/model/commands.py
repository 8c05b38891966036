"""Undoable edit commands over the pure model, one per user gesture; the designer wraps each in a QUndoCommand.

`do` applies a command and `undo` reverts it exactly, each inside one `project.batch()` (one committed group,
one transaction on disk); they may alternate any number of times. A command records how to revert itself on
each `do` (through an EditLog) and fixes what it invents, such as pasted step ids, on its first `do`.
Commands touch the model only: views follow its change signals. A `do` that fails reverts what it did.

This module holds the step, link and paste commands and re-exports the rest, so it is the one import point.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, Sequence

from app.errors import ModelError
from app.model.clipboard import (copy_steps, fresh_step_ids, pasted_links, pasted_step, steps_from_clipboard_text,
                                 steps_to_clipboard_text)
from app.model.command_base import MERGE_MOVE, NO_MERGE, Command, EditCommand, MacroCommand, tile_label, tiles_text
from app.model.editlog import EditLog
from app.model.journey import Journey, Position, Step
from app.model.project_commands import (AddJourney, DuplicateJourney, PutContent, PutSegment, RemoveContent,
                                        RemoveJourney, RemoveSegment, UpdateJourney)
from app.model.registry import END

# --- steps and links ----------------------------------------------------------------------------------------

def _check_outputs(journey: Journey, step: Step) -> None:
    """Refuse a new step whose outputs lead to itself or to steps the journey does not have."""
    for port, target in step.outputs.items():
        if target == step.id or (target != END and target not in journey.steps):
            raise ModelError(f"output '{port}' of the new step '{step.id}' leads to '{target}', which is not "
                             "another step of the journey (or 'end')")


class AddStep(EditCommand):
    """Add a tile at `index` (default: the end), optionally linked from `connect_from` = (step, port) and to
    `connect_to` = (port, target). If that source port already led somewhere, the new step's first output
    (unless set otherwise) takes the old target over: dropping a tile on a linked port inserts it."""

    def __init__(self, journey_id: str, step: Step, index: int | None = None,
                 connect_from: tuple[str, str] | None = None, connect_to: tuple[str, str] | None = None) -> None:
        super().__init__(f"Add {tile_label(step.type)}")
        self.journey_id = journey_id
        self.step = step.clone()
        self.index = index
        self.connect_from = connect_from
        self.connect_to = connect_to

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        self._add(log, j, self.index)

    def _add(self, log: EditLog, j: Journey, index: int | None) -> None:
        _check_outputs(j, self.step)
        step = self.step.clone()
        log.add_step(j.id, step, index)
        if self.connect_from is not None:
            source, port = self.connect_from
            old = log.connect(j.id, source, port, step.id)
            ports = step.ports()
            first = ports[0].id if ports else None
            set_ports = set(step.outputs) | ({self.connect_to[0]} if self.connect_to else set())
            if old is not None and first is not None and first not in set_ports:
                log.connect(j.id, step.id, first, old)
        if self.connect_to is not None:
            port, target = self.connect_to
            log.connect(j.id, step.id, port, target)


class InsertOnLink(AddStep):
    """Insert a new step on the link source.port -> target: source.port -> new, new.<first port> -> target.
    The new step goes right after `source` in the step order unless `index` says otherwise."""

    def __init__(self, journey_id: str, step: Step, source: str, port: str, index: int | None = None) -> None:
        super().__init__(journey_id, step, index, connect_from=(source, port))
        self.text = f"Insert {tile_label(step.type)}"
        self.source, self.port = source, port

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        source, port = self.source, self.port
        if port not in j.step(source).outputs:
            raise ModelError(f"output '{port}' of step '{source}' has no link to insert a step into")
        if not self.step.ports():
            raise ModelError(f"a {tile_label(self.step.type)} step has no output to continue the link")
        self._add(log, j, j.index_of(source) + 1 if self.index is None else self.index)


def _heal_target(journey: Journey, step_id: str, gone: set[str]) -> str | None:
    """Where a path into a removed step continues: through removed single-output steps to a kept step or `end`;
    None when it stops at a branch, an unlinked output or a loop."""
    seen: set[str] = set()
    current: str | None = step_id
    while current in gone:
        if current in seen:
            return None
        seen.add(current)
        step = journey.step(current)
        ports = step.ports()
        if len(ports) != 1:
            return None
        current = step.outputs.get(ports[0].id)
    return current


class RemoveSteps(EditCommand):
    """Delete steps and their links as one command. With `heal`, links into a removed single-output step are
    re-pointed at its successor (and a removed entry passes to it), so removing tiles from a chain keeps it."""

    def __init__(self, journey_id: str, step_ids: Iterable[str], heal: bool = False) -> None:
        self.step_ids = list(dict.fromkeys(step_ids))
        super().__init__(f"Delete {tiles_text(len(self.step_ids))}")
        self.journey_id = journey_id
        self.heal = heal

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        for sid in self.step_ids:
            j.step(sid)
        entry: str | None = None
        if self.heal:
            gone = set(self.step_ids)
            heals = [(src, port, _heal_target(j, sid, gone))
                     for sid in self.step_ids for src, port in j.predecessors(sid) if src not in gone]
            if j.entry in gone:
                entry = _heal_target(j, j.entry, gone)
            # Re-pointing before the removal keeps each port in its place in the source's outputs.
            for src, port, target in heals:
                if target is not None and target != src:
                    log.connect(j.id, src, port, target)
        # Last first: the indexes stay valid, and undo puts the steps back first to last, mostly by appending.
        where = {sid: i for i, sid in enumerate(j.steps)}
        for sid in sorted(self.step_ids, key=where.__getitem__, reverse=True):
            log.remove_step(j.id, sid, where[sid])
        if entry not in (None, END) and j.entry != entry:
            log.set_entry(j.id, entry)


class Connect(EditCommand):
    """Link source.port to target (a step or `end`), replacing the port's current link."""

    def __init__(self, journey_id: str, source: str, port: str, target: str) -> None:
        super().__init__("End path" if target == END else "Link tiles")
        self.journey_id, self.source, self.port, self.target = journey_id, source, port, target

    def _apply(self, log: EditLog) -> None:
        log.connect(self.journey_id, self.source, self.port, self.target)


class Disconnect(EditCommand):
    """Remove the link leaving source.port (nothing happens when the port is not linked)."""

    def __init__(self, journey_id: str, source: str, port: str) -> None:
        super().__init__("Remove link")
        self.journey_id, self.source, self.port = journey_id, source, port

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        j.step(self.source)
        log.disconnect(j.id, self.source, self.port)


class SetProps(EditCommand):
    """Set (None: clear) properties of a step; undo also restores links on ports the change removed."""

    def __init__(self, journey_id: str, step_id: str, changes: Mapping[str, Any]) -> None:
        super().__init__(f"Edit {', '.join(changes) or 'properties'}")
        self.journey_id, self.step_id = journey_id, step_id
        self.changes = copy.deepcopy(dict(changes))

    def _apply(self, log: EditLog) -> None:
        log.set_props(self.journey_id, self.step_id, self.changes)


class RenameStep(EditCommand):
    """Change a step's display name ("" shows its id)."""

    def __init__(self, journey_id: str, step_id: str, name: str) -> None:
        super().__init__("Rename tile")
        self.journey_id, self.step_id, self.name = journey_id, step_id, name

    def _apply(self, log: EditLog) -> None:
        log.rename_step(self.journey_id, self.step_id, self.name)


class MoveSteps(EditCommand):
    """Move steps on the canvas. Merges with a following move of the same steps in the same journey (a drag
    emits many), keeping the first old positions; set `merge_id = NO_MERGE` to keep a move apart."""

    merge_id = MERGE_MOVE

    def __init__(self, journey_id: str, positions: Mapping[str, Position | None]) -> None:
        super().__init__(f"Move {tiles_text(len(positions))}")
        self.journey_id = journey_id
        self.positions = dict(positions)

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        for sid in self.positions:
            j.step(sid)
        for sid, position in self.positions.items():
            log.move_step(j.id, sid, position)

    def merge_with(self, other: Command) -> bool:
        if (not isinstance(other, MoveSteps) or NO_MERGE in (self.merge_id, other.merge_id)
                or other.journey_id != self.journey_id or other.positions.keys() != self.positions.keys()):
            return False
        # The recorded inverses restore the positions from before this command, whatever came in between.
        self.positions = dict(other.positions)
        return True


class SetEntry(EditCommand):
    """Make a step the journey's entry (start) step."""

    def __init__(self, journey_id: str, step_id: str | None) -> None:
        super().__init__("Set start step")
        self.journey_id, self.step_id = journey_id, step_id

    def _apply(self, log: EditLog) -> None:
        log.set_entry(self.journey_id, self.step_id)


# --- copy, paste, duplicate -----------------------------------------------------------------------------------

class PasteSteps(EditCommand):
    """Paste copies of steps (from any journey): fresh ids, links among them remapped, links leaving the set
    dropped, positions offset. `new_ids` (in payload order) tells the designer what to select afterwards."""

    def __init__(self, journey_id: str, steps: Sequence[Step], offset: tuple[float, float] = (0.0, 0.0)) -> None:
        self.steps = [s.clone() for s in steps]
        if len({s.id for s in self.steps}) != len(self.steps):
            raise ModelError("the pasted steps have duplicate ids")
        super().__init__(f"Paste {tiles_text(len(self.steps))}")
        self.journey_id = journey_id
        self.offset = (float(offset[0]), float(offset[1]))
        self.new_ids: list[str] = []

    def _payload(self, journey: Journey) -> list[Step]:
        return self.steps

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        steps = self._payload(j)
        if not self.new_ids:
            self.new_ids = fresh_step_ids(j, [s.id for s in steps])
        ids = {s.id: new for s, new in zip(steps, self.new_ids)}
        for s in steps:  # links come after all steps, so a view never sees a link to a step not yet added
            log.add_step(j.id, pasted_step(s, ids[s.id], ids, self.offset))
        for source, port, target in pasted_links(steps, ids):
            log.connect(j.id, source, port, target)


class DuplicateSteps(PasteSteps):
    """Copy steps and paste the copies into the same journey, as one command."""

    def __init__(self, journey_id: str, step_ids: Iterable[str], offset: tuple[float, float] = (40.0, 40.0)) -> None:
        super().__init__(journey_id, [], offset)
        self.step_ids = list(dict.fromkeys(step_ids))
        self.text = f"Duplicate {tiles_text(len(self.step_ids))}"
        self._copied = False

    def _payload(self, journey: Journey) -> list[Step]:
        if not self._copied:
            self.steps, self._copied = copy_steps(journey, self.step_ids), True
        return self.steps

__all__ = [
    "NO_MERGE", "MERGE_MOVE", "Command", "EditCommand", "MacroCommand", "AddStep", "InsertOnLink", "RemoveSteps",
    "Connect", "Disconnect", "SetProps", "RenameStep", "MoveSteps", "SetEntry", "PasteSteps", "DuplicateSteps",
    "UpdateJourney", "AddJourney", "RemoveJourney", "DuplicateJourney", "PutContent", "RemoveContent",
    "PutSegment", "RemoveSegment", "copy_steps", "steps_to_clipboard_text", "steps_from_clipboard_text",
]
