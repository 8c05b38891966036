"""What the canvas can do to a journey, each as one command handed to the document: add, delete, link,
copy / cut / paste / duplicate, rename, auto-layout, and moving the selection along the links.

The view maps mouse and keys to these; the keyboard add flow uses `add_tile` too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QMimeData, QPointF
from PySide6.QtWidgets import QApplication

from app.errors import ModelError
from app.model.commands import (NO_MERGE, AddStep, Connect, Disconnect, InsertOnLink, MacroCommand, MoveSteps,
                                PasteSteps, RemoveSteps, RenameStep, SetEntry, copy_steps,
                                steps_from_clipboard_text, steps_to_clipboard_text)
from app.model.command_base import tiles_text
from app.model.journey import Journey, Position, Step
from app.model.layout import Direction, layered_layout
from app.model.registry import REGISTRY
from designer.canvas.geometry import LAYER_GAP, TILE_H, TILE_W, after_port_spot, free_spot, to_position
from designer.canvas.scene import DropTarget, JourneyScene
from designer.document import Document
from designer.clipboard import set_mime_data
from designer.mime import STEPS_MIME

if TYPE_CHECKING:
    from designer.canvas.view import JourneyView

MAX_NAME = 80
PASTE_STEP = 30.0
Arrow = Literal["left", "right", "up", "down"]


class CanvasActions:
    """Edits and selection moves of one canvas view."""

    def __init__(self, view: JourneyView, scene: JourneyScene, document: Document) -> None:
        self.view, self.scene, self.document = view, scene, document
        self._paste_anchor: tuple[str, float, float] | None = None
        self._paste_count = 0

    @property
    def journey(self) -> Journey | None:
        return self.scene.journey

    def _run(self, command: Any) -> bool:
        return self.document.run(command)

    # --- adding and linking -------------------------------------------------------------------------------
    def new_step(self, type_id: str) -> Step:
        """A step of a tile type with the type's default properties and a fresh id (not yet added)."""
        journey = self.journey
        assert journey is not None
        return Step(journey.new_step_id(type_id), type_id, props=REGISTRY[type_id].defaults())

    def spot_after(self, source: str, port: str) -> QPointF:
        """Where a tile added after `source.port` goes: one layer to the right, in the first free row."""
        tile = self.scene.tile_item(source)
        if tile is None:
            return QPointF()
        ports = [p for p, _ in tile.ports]
        index = ports.index(port) if port in ports else 0
        return free_spot(after_port_spot(tile.pos(), index, len(ports)), self.scene.occupied_rects())

    def add_tile(self, type_id: str, target: DropTarget | None = None, at: QPointF | None = None) -> str | None:
        """Add a tile of `type_id`: free at `at` (its centre), after a port, or into a link; select it.
        Returns the new step id, or None when the document refused the edit."""
        journey = self.journey
        if journey is None or type_id not in REGISTRY:
            return None
        step = self.new_step(type_id)
        if target is None:
            centre = at if at is not None else self.view.visible_center()
            spot = QPointF(centre.x() - TILE_W / 2, centre.y() - TILE_H / 2)
            step.position = to_position(free_spot(spot, self.scene.occupied_rects()))
            command: Any = AddStep(journey.id, step)
        else:
            spot = self.spot_after(target.step, target.port)
            if target.kind == "edge" and at is not None:
                spot = free_spot(QPointF(at.x() - TILE_W / 2, at.y() - TILE_H / 2), self.scene.occupied_rects())
            step.position = to_position(spot)
            if target.kind == "edge":
                command = InsertOnLink(journey.id, step, target.step, target.port)
            else:
                command = AddStep(journey.id, step, connect_from=(target.step, target.port))
        return self._finish_add(command, step.id)

    def add_before_entry(self, type_id: str) -> str | None:
        """Add a tile in front of the start step; it becomes the new start."""
        journey = self.journey
        if journey is None or journey.entry is None or type_id not in REGISTRY:
            return None
        step = self.new_step(type_id)
        ports = step.ports()
        if not ports:
            return None
        entry_pos = self.scene.tile_pos(journey.entry)
        step.position = to_position(free_spot(QPointF(entry_pos.x() - LAYER_GAP, entry_pos.y()),
                                              self.scene.occupied_rects()))
        add = AddStep(journey.id, step, index=0, connect_to=(ports[0].id, journey.entry))
        return self._finish_add(MacroCommand(add.text, [add, SetEntry(journey.id, step.id)]), step.id)

    def _finish_add(self, command: Any, step_id: str) -> str | None:
        if not self._run(command):
            return None
        self.scene.select_steps([step_id])
        return step_id

    def connect(self, source: str, port: str, target: str) -> bool:
        """Link an output port to a step (one command)."""
        journey = self.journey
        return journey is not None and self._run(Connect(journey.id, source, port, target))

    # --- deleting -----------------------------------------------------------------------------------------
    def delete_selection(self) -> bool:
        """Delete the selected tiles (links around a removed chain tile are healed) as one command; with only
        links selected, remove those links."""
        journey = self.journey
        if journey is None:
            return False
        ids = self.scene.selected_step_ids()
        if ids:
            return self._run(RemoveSteps(journey.id, ids, heal=True))
        keys = self.scene.selected_edge_keys()
        if not keys:
            return False
        parts = [Disconnect(journey.id, source, port) for source, port in keys]
        return self._run(parts[0] if len(parts) == 1 else MacroCommand(f"Remove {len(parts)} links", parts))

    # --- clipboard ----------------------------------------------------------------------------------------
    def _copied(self, step_ids: list[str]) -> list[Step]:
        journey = self.journey
        assert journey is not None
        steps = copy_steps(journey, step_ids)
        for step in steps:  # copy where the tiles are drawn, also for steps the model has no position for
            step.position = to_position(self.scene.tile_pos(step.id))
        return steps

    def copy(self) -> bool:
        """Put the selected steps on the system clipboard (our format, and the same JSON as text)."""
        ids = self.scene.selected_step_ids()
        if not ids or self.journey is None:
            return False
        text = steps_to_clipboard_text(self._copied(ids))
        mime = QMimeData()
        mime.setData(STEPS_MIME, text.encode("utf-8"))
        mime.setText(text)
        set_mime_data(mime)
        self._paste_anchor, self._paste_count = None, 0
        return True

    def cut(self) -> bool:
        """Copy the selected steps, then delete them (one undo entry for the delete)."""
        if not self.copy():
            return False
        journey = self.journey
        assert journey is not None
        command = RemoveSteps(journey.id, self.scene.selected_step_ids(), heal=True)
        command.text = f"Cut {tiles_text(len(command.step_ids))}"
        return self._run(command)

    def paste(self, at: QPointF | None = None) -> list[str]:
        """Paste copied steps (from any journey or project) with their top-left tile at `at` (default: the
        pointer, or the middle of the view); repeated pastes step down and right. Returns the new ids."""
        journey = self.journey
        mime = QApplication.clipboard().mimeData()
        if journey is None or mime is None:
            return []
        raw = bytes(mime.data(STEPS_MIME).data()).decode("utf-8") if mime.hasFormat(STEPS_MIME) else mime.text()
        try:
            steps = steps_from_clipboard_text(raw)
        except ModelError as e:
            self.document.message.emit(str(e))
            return []
        if not steps:
            return []
        anchor = at if at is not None else self.view.paste_point()
        key = (journey.id, round(anchor.x()), round(anchor.y()))
        self._paste_count = self._paste_count + 1 if key == self._paste_anchor else 0
        self._paste_anchor = key
        shift = self._paste_count * PASTE_STEP
        placed = [s.position for s in steps if s.position is not None]
        left = min((p.x for p in placed), default=0.0)
        top = min((p.y for p in placed), default=0.0)
        for k, step in enumerate(steps):
            if step.position is None:
                step.position = Position(left + k * 40.0, top + k * 40.0)
        command = PasteSteps(journey.id, steps, (anchor.x() - left + shift, anchor.y() - top + shift))
        if not self._run(command):
            return []
        self.scene.select_steps(command.new_ids)
        return list(command.new_ids)

    def duplicate(self) -> list[str]:
        """Copies of the selected steps (links among them kept) next to them, selected."""
        journey = self.journey
        ids = self.scene.selected_step_ids()
        if journey is None or not ids:
            return []
        command = PasteSteps(journey.id, self._copied(ids), (40.0, 40.0))
        command.text = f"Duplicate {tiles_text(len(ids))}"
        if not self._run(command):
            return []
        self.scene.select_steps(command.new_ids)
        return list(command.new_ids)

    # --- names, layout, selection -------------------------------------------------------------------------
    def rename(self, step_id: str, name: str) -> bool:
        """Rename a step ('' shows its id again); names over 80 characters are refused."""
        journey = self.journey
        name = name.strip()
        if journey is None or step_id not in journey.steps:
            return False
        if len(name) > MAX_NAME:
            self.document.message.emit(f"A tile name can have at most {MAX_NAME} characters.")
            return False
        if name == journey.step(step_id).name:
            return True
        return self._run(RenameStep(journey.id, step_id, name))

    def auto_layout(self, direction: Direction = "LR") -> bool:
        """Lay the journey out in layers (left to right or top to bottom) as one undoable move."""
        journey = self.journey
        if journey is None or not journey.steps:
            return False
        positions = {sid: p for sid, p in layered_layout(journey, direction).items()
                     if journey.step(sid).position != p}
        if not positions:
            return False
        command = MoveSteps(journey.id, positions)
        command.merge_id = NO_MERGE
        command.text = "Arrange tiles"
        return self._run(command)

    def select_all(self) -> None:
        """Select every tile of the journey."""
        journey = self.journey
        self.scene.select_steps(list(journey.steps) if journey is not None else [])

    def neighbour(self, step_id: str, arrow: Arrow) -> str | None:
        """The step an arrow key moves to from `step_id`: along the links (right: first successor, left: first
        predecessor), up / down: the other outputs of the same predecessor, else the same column."""
        journey = self.journey
        if journey is None or step_id not in journey.steps:
            return None
        if arrow == "right":
            succ = journey.successors(step_id)
            return succ[0][1] if succ else None
        if arrow == "left":
            preds = journey.predecessors(step_id)
            return preds[0][0] if preds else None
        step_dir = -1 if arrow == "up" else 1
        preds = journey.predecessors(step_id)
        if preds:
            siblings = list(dict.fromkeys(t for _, t in journey.successors(preds[0][0])))
            if len(siblings) > 1 and step_id in siblings:
                k = siblings.index(step_id) + step_dir
                if 0 <= k < len(siblings):
                    return siblings[k]
        here = self.scene.tile_pos(step_id)
        column = [(t.pos().y(), t.step_id) for t in self.scene.tile_items()
                  if t.step_id != step_id and abs(t.pos().x() - here.x()) < TILE_W / 2
                  and (t.pos().y() - here.y()) * step_dir > 0]
        return min(column, key=lambda c: abs(c[0] - here.y()))[1] if column else None

    def move_selection(self, arrow: Arrow) -> str | None:
        """Select the neighbour of the selected step in the arrow's direction (the start step when nothing is
        selected); returns the newly selected step."""
        journey = self.journey
        if journey is None or not journey.steps:
            return None
        ids = self.scene.selected_step_ids()
        if not ids:
            target = journey.entry or next(iter(journey.steps))
        else:
            current = self.view.current_step if self.view.current_step in ids else ids[0]
            target = self.neighbour(current, arrow)
        if target is None:
            return None
        self.scene.select_steps([target])
        return target
