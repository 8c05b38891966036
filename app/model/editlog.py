"""Model edits that remember how to revert themselves: the engine under the undoable commands.

Every primitive here calls the model's own method (so the reverse index stays right and each change is
announced) and pushes the exact inverse onto a log. `revert()` plays the log backwards; because each inverse
runs in the state its edit left behind, the result equals the state before the first edit: step order,
output order within a step, incoming links, entry, positions and settings included.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

from app.model.content import Content
from app.model.journey import Journey, Position, Step
from app.model.project import Project
from app.model.segment import Segment


def restore_outputs(journey: Journey, step_id: str, saved: Mapping[str, str]) -> None:
    """Make a step's outputs equal to `saved`, port order included, with as few link changes as possible."""
    step = journey.step(step_id)
    current = list(step.outputs.items())
    wanted = list(saved.items())
    if current == wanted:
        return
    same = 0
    while same < min(len(current), len(wanted)) and current[same][0] == wanted[same][0]:
        same += 1
    # Ports after the first difference in order must be re-linked: the model appends new ports at the end.
    for port, _ in reversed(current[same:]):
        journey.disconnect(step_id, port)
    for port, target in wanted[:same]:
        if step.outputs[port] != target:
            journey.connect(step_id, port, target)
    for port, target in wanted[same:]:
        journey.connect(step_id, port, target)


class EditLog:
    """Edits to one project, each recorded with its inverse; `revert()` undoes them, last first."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._inverses: list[Callable[[], object]] = []  # return values are ignored

    def __len__(self) -> int:
        return len(self._inverses)

    def revert(self) -> None:
        """Undo every recorded edit, last first, and forget them."""
        while self._inverses:
            self._inverses.pop()()

    def journey(self, journey_id: str) -> Journey:
        return self.project.journey(journey_id)

    def _push(self, inverse: Callable[[], object]) -> None:
        self._inverses.append(inverse)

    # --- steps and links ----------------------------------------------------------------------------------
    def add_step(self, journey_id: str, step: Step, index: int | None = None) -> None:
        """Add `step` (the journey keeps this object) at `index`."""
        j = self.journey(journey_id)
        entry = j.entry
        j.add_step(step, index)
        jid, sid = j.id, step.id

        def inverse() -> None:
            jj = self.journey(jid)
            jj.remove_step(sid)
            if jj.entry != entry:
                jj.set_entry(entry)
        self._push(inverse)

    def remove_step(self, journey_id: str, step_id: str, index: int | None = None) -> None:
        """Remove a step and its links. `index`, the step's place in the step order, saves a scan when the
        caller knows it."""
        j = self.journey(journey_id)
        step = j.step(step_id)
        for src, port in j.predecessors(step_id):
            self.disconnect(j.id, src, port)
        index = j.index_of(step_id) if index is None else index
        snapshot, entry, jid = step.clone(), j.entry, j.id
        j.remove_step(step_id)

        def inverse() -> None:
            jj = self.journey(jid)
            jj.add_step(snapshot, index)  # an inverse runs once, so the journey may keep the snapshot itself
            if jj.entry != entry:
                jj.set_entry(entry)
        self._push(inverse)

    def connect(self, journey_id: str, source: str, port: str, target: str) -> str | None:
        """Link `source.port` to `target`; returns the previous target."""
        j = self.journey(journey_id)
        old = j.connect(source, port, target)
        jid = j.id
        if old is None:  # the port was appended at the end of the outputs, so popping it restores the order
            self._push(lambda: self.journey(jid).disconnect(source, port))
        elif old != target:
            self._push(lambda: self.journey(jid).connect(source, port, old))
        return old

    def disconnect(self, journey_id: str, source: str, port: str) -> str | None:
        """Unlink `source.port`; returns its old target (None when it was not linked)."""
        j = self.journey(journey_id)
        saved = dict(j.step(source).outputs)
        old = j.disconnect(source, port)
        if old is not None:
            jid = j.id
            self._push(lambda: restore_outputs(self.journey(jid), source, saved))
        return old

    # --- step properties ----------------------------------------------------------------------------------
    def set_props(self, journey_id: str, step_id: str, changes: Mapping[str, Any]) -> None:
        """Set properties (None clears one); links on ports the new properties drop come back on revert."""
        j = self.journey(journey_id)
        saved = dict(j.step(step_id).outputs)
        old = j.set_props(step_id, copy.deepcopy(dict(changes)))
        jid = j.id

        def inverse() -> None:
            jj = self.journey(jid)
            jj.set_props(step_id, old)
            restore_outputs(jj, step_id, saved)
        self._push(inverse)

    def rename_step(self, journey_id: str, step_id: str, name: str) -> None:
        j = self.journey(journey_id)
        old, jid = j.rename_step(step_id, name), j.id
        self._push(lambda: self.journey(jid).rename_step(step_id, old))

    def move_step(self, journey_id: str, step_id: str, position: Position | None) -> None:
        j = self.journey(journey_id)
        old, jid = j.move_step(step_id, position), j.id
        self._push(lambda: self.journey(jid).move_step(step_id, old))

    def set_entry(self, journey_id: str, step_id: str | None) -> None:
        j = self.journey(journey_id)
        old, jid = j.set_entry(step_id), j.id
        self._push(lambda: self.journey(jid).set_entry(old))

    def update(self, journey_id: str, **settings: Any) -> None:
        """Change journey-level settings."""
        j = self.journey(journey_id)
        old, jid = j.update(**settings), j.id
        self._push(lambda: self.journey(jid).update(**old))

    # --- project ------------------------------------------------------------------------------------------
    def update_settings(self, **settings: Any) -> None:
        """Change project-level settings (custom attributes, default time zone, trusted keys)."""
        old = self.project.update_settings(**settings)
        self._push(lambda: self.project.update_settings(**old))

    def put_content(self, content: Content) -> None:
        name = content.name
        old = self.project.put_content(content)
        self._push(lambda: self.project.remove_content(name) if old is None else self.project.put_content(old))

    def remove_content(self, name: str) -> None:
        old = self.project.remove_content(name)
        self._push(lambda: self.project.put_content(old))

    def put_segment(self, segment: Segment) -> None:
        name = segment.name
        old = self.project.put_segment(segment)
        self._push(lambda: self.project.remove_segment(name) if old is None else self.project.put_segment(old))

    def remove_segment(self, name: str) -> None:
        old = self.project.remove_segment(name)
        self._push(lambda: self.project.put_segment(old))

    def add_journey(self, journey: Journey, index: int | None = None) -> None:
        self.project.add_journey(journey, index)
        jid = journey.id
        self._push(lambda: self.project.remove_journey(jid))

    def remove_journey(self, journey_id: str) -> Journey:
        """Remove a journey; revert puts the same object back at its place in the journey order."""
        j = self.journey(journey_id)
        index = [x.id for x in self.project.journeys].index(j.id)
        self.project.remove_journey(j.id)
        self._push(lambda: self.project.add_journey(j, index))
        return j
