"""Adding a tile without the mouse: choose its type in a drop-down list, then choose where it goes among
numbered insertion points on the canvas (arrow keys or Tab to move, Return to insert, Escape to cancel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QMenu, QStyleOptionGraphicsItem, QWidget
from shiboken6 import isValid

from app.model.registry import CATEGORIES, END, REGISTRY, TILE_TYPES
from designer.canvas.geometry import LAYER_GAP, TILE_H, TILE_W, free_spot
from designer.canvas.items import RADIUS
from designer.canvas.scene import DropTarget
from designer.canvas.theme import Theme
from designer.icons import tile_icon

if TYPE_CHECKING:
    from designer.canvas.view import JourneyView

_ARROWS = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}


class Candidate(NamedTuple):
    """An insertion point: after a free port, into a link, the first tile, or in front of the start."""

    kind: Literal["after", "insert", "start", "before-start"]
    step: str
    port: str
    anchor: QPointF


class InsertionMarker(QGraphicsItem):
    """A numbered circle on the canvas; the current one is larger and filled."""

    def __init__(self, number: int, theme: Theme) -> None:
        super().__init__()
        self.number, self.theme, self.current = number, theme, False
        self.setZValue(20.0)

    def set_current(self, on: bool) -> None:
        if on != self.current:
            self.current = on
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-19.0, -19.0, 38.0, 38.0)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = self.theme
        r = 15.0 if self.current else 11.0
        painter.setPen(QPen(t.card, 2.0))
        painter.setBrush(t.marker_brush if self.current else t.marker_idle_brush)
        painter.drawEllipse(QPointF(), r, r)
        painter.setPen(t.highlighted_text)
        painter.setFont(t.marker_font if self.current else t.label_font)
        painter.drawText(QRectF(-r, -r, 2 * r, 2 * r), Qt.AlignmentFlag.AlignCenter, str(self.number))


class GhostTile(QGraphicsItem):
    """A dashed outline where the new tile will be placed."""

    def __init__(self, label: str, theme: Theme) -> None:
        super().__init__()
        self.label, self.theme = label, theme
        self.setZValue(15.0)

    def boundingRect(self) -> QRectF:
        return QRectF(-2.0, -2.0, TILE_W + 4.0, TILE_H + 4.0)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(self.theme.rubber_pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(0.0, 0.0, TILE_W, TILE_H), RADIUS, RADIUS)
        painter.setPen(self.theme.muted_pen)
        painter.setFont(self.theme.name_font)
        painter.drawText(QRectF(0.0, 0.0, TILE_W, TILE_H), Qt.AlignmentFlag.AlignCenter, self.label)


class AddTileFlow(QObject):
    """One keyboard add: type menu (unless the type is given), then insertion points; `finished` carries the
    new step id, or None when cancelled."""

    finished = Signal(object)

    def __init__(self, view: JourneyView, type_id: str | None = None, menu_pos: QPoint | None = None) -> None:
        super().__init__(view)
        self.view = view
        self.menu_pos = menu_pos
        self.type_id = type_id if type_id in REGISTRY else None
        self.menu: QMenu | None = None
        self.candidates: list[Candidate] = []
        self.current = -1
        self._markers: list[InsertionMarker] = []
        self._ghost: GhostTile | None = None
        self.active = True

    # --- choosing the type --------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the type list, or go straight to the insertion points when the type is known."""
        if self.type_id is None:
            self._open_menu()
        else:
            self._show_points()

    def _open_menu(self) -> None:
        menu = QMenu(self.view)
        menu.setObjectName("addTileMenu")
        first = None
        for category in CATEGORIES:
            menu.addSection(category)
            for tile in (t for t in TILE_TYPES if t.category == category):
                action = menu.addAction(tile_icon(tile.id), tile.label)
                action.setData(tile.id)
                action.setToolTip(tile.description)
                first = first or action
        menu.setToolTipsVisible(True)
        menu.triggered.connect(lambda action: self._type_chosen(str(action.data())))
        # Qt hides the menu before it reports the chosen action: decide "cancelled" one turn later.
        menu.aboutToHide.connect(lambda: QTimer.singleShot(0, self._menu_closed))
        self.menu = menu
        menu.popup(self.menu_pos if self.menu_pos is not None else self.view.viewport().mapToGlobal(QPoint(16, 16)))
        if first is not None:
            menu.setActiveAction(first)

    def _type_chosen(self, type_id: str) -> None:
        if self.active and type_id in REGISTRY:
            self.type_id = type_id
            self._show_points()

    def _menu_closed(self) -> None:
        if self.menu is not None:
            self.menu.deleteLater()
            self.menu = None
        if self.active and not self.candidates:
            self.cancel()

    # --- choosing the place -------------------------------------------------------------------------------
    def _find_candidates(self) -> list[Candidate]:
        scene = self.view.journey_scene
        journey = scene.journey
        assert journey is not None and self.type_id is not None
        tile_type = REGISTRY[self.type_id]
        has_ports = bool(tile_type.ports_for(tile_type.defaults()))
        if not journey.steps:
            return [Candidate("start", "", "", self.view.visible_center())]
        found: list[Candidate] = []
        for step in journey:
            tile = scene.tile_item(step.id)
            if tile is None:
                continue
            for port, label in tile.ports:
                target = step.outputs.get(port)
                if target is None:
                    at = tile.port_scene_pos(port)
                    found.append(Candidate("after", step.id, port, QPointF(at.x() + 30.0, at.y())))
                elif has_ports or target == END:  # a tile without outputs would cut off what follows
                    edge = scene.edge_item(step.id, port)
                    if edge is not None:
                        found.append(Candidate("insert", step.id, port, edge.point_at(0.62)))
        if has_ports and journey.entry is not None and scene.tile_item(journey.entry) is not None:
            at = scene.tile_item(journey.entry).input_scene_pos()  # type: ignore[union-attr]
            found.append(Candidate("before-start", journey.entry, "", QPointF(at.x() - 34.0, at.y())))
        found.sort(key=lambda c: (round(c.anchor.x() / 40.0), c.anchor.y()))
        return found

    def _show_points(self) -> None:
        scene = self.view.journey_scene
        if scene.journey is None:
            self.cancel()
            return
        self.candidates = self._find_candidates()
        if not self.candidates:
            self.view.document.message.emit("There is no place to add this tile: every output is taken.")
            self.cancel()
            return
        for i, c in enumerate(self.candidates):
            marker = InsertionMarker(i + 1, scene.theme)
            marker.setPos(c.anchor)
            scene.addItem(marker)
            self._markers.append(marker)
        self._ghost = GhostTile(REGISTRY[self.type_id].label, scene.theme)  # type: ignore[index]
        scene.addItem(self._ghost)
        self.set_current(self._default_index())
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _default_index(self) -> int:
        """Start at the selected step's first free output, else at one of its links, else at the first."""
        selected = self.view.journey_scene.selected_step_ids()
        focus = self.view.current_step if self.view.current_step in selected else (selected or [None])[0]
        for kind in ("after", "insert"):
            for i, c in enumerate(self.candidates):
                if c.step == focus and c.kind == kind:
                    return i
        return 0

    def set_current(self, index: int) -> None:
        """Make insertion point `index` the current one (highlighted; the ghost shows where the tile goes)."""
        if not self.candidates:
            return
        self.current = index % len(self.candidates)
        for i, marker in enumerate(self._markers):
            marker.set_current(i == self.current)
        if self._ghost is not None:
            self._ghost.setPos(self._spot(self.candidates[self.current]))
            self.view.ensureVisible(self._ghost.sceneBoundingRect().united(self._markers[self.current]
                                                                        .sceneBoundingRect()), 40, 40)

    @property
    def current_candidate(self) -> Candidate | None:
        return self.candidates[self.current] if 0 <= self.current < len(self.candidates) else None

    def _spot(self, c: Candidate) -> QPointF:
        edits = self.view.edits
        if c.kind == "start":
            return QPointF(c.anchor.x() - TILE_W / 2, c.anchor.y() - TILE_H / 2)
        if c.kind == "before-start":
            at = self.view.journey_scene.tile_pos(c.step)
            return free_spot(QPointF(at.x() - LAYER_GAP, at.y()), self.view.journey_scene.occupied_rects())
        return edits.spot_after(c.step, c.port)

    def marker_at(self, scene_pos: QPointF) -> int | None:
        """The insertion point whose marker is at a scene point (a click on it chooses it)."""
        for i, marker in enumerate(self._markers):
            if isValid(marker) and marker.sceneBoundingRect().contains(scene_pos):
                return i
        return None

    def move(self, dx: int, dy: int) -> None:
        """Go to the nearest insertion point in a direction (dx, dy of -1, 0, 1)."""
        if self.current_candidate is None:
            return
        here = self.current_candidate.anchor
        best: tuple[float, int] | None = None
        for i, c in enumerate(self.candidates):
            d = c.anchor - here
            along, across = d.x() * dx + d.y() * dy, abs(d.y()) if dx else abs(d.x())
            if i == self.current or along <= 1.0:
                continue
            score = along + 2.5 * across
            if best is None or score < best[0]:
                best = (score, i)
        if best is not None:
            self.set_current(best[1])

    def handle_key(self, event: QKeyEvent) -> bool:
        """Keys while choosing a place; True when the key was used."""
        if not self.candidates:
            return False
        key = event.key()
        if key in _ARROWS:
            self.move(*_ARROWS[key])
        elif key == Qt.Key.Key_Tab:
            self.set_current(self.current + 1)
        elif key == Qt.Key.Key_Backtab:
            self.set_current(self.current - 1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and key - Qt.Key.Key_1 < len(self.candidates):
            self.set_current(key - Qt.Key.Key_1)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
        elif key == Qt.Key.Key_Escape:
            self.cancel()
        else:
            return False
        return True

    def commit(self) -> str | None:
        """Add the tile at the current insertion point; returns the new step id."""
        c = self.current_candidate
        if c is None or self.type_id is None:
            return None
        edits = self.view.edits
        tile_type = REGISTRY[self.type_id]
        if c.kind == "start":
            new = edits.add_tile(self.type_id, None, at=c.anchor)
        elif c.kind == "before-start":
            new = edits.add_before_entry(self.type_id)
        elif c.kind == "insert" and tile_type.ports_for(tile_type.defaults()):
            new = edits.add_tile(self.type_id, DropTarget("edge", c.step, c.port))
        else:
            new = edits.add_tile(self.type_id, DropTarget("port", c.step, c.port))
        self._end(new)
        return new

    def cancel(self) -> None:
        """Leave without adding anything."""
        if self.menu is not None:
            self.menu.hide()
        self._end(None)

    def _end(self, result: str | None) -> None:
        if not self.active:
            return
        self.active = False
        scene = self.view.journey_scene
        for item in [*self._markers, self._ghost]:
            if item is not None and isValid(item) and item.scene() is scene:
                scene.removeItem(item)
        self._markers, self._ghost, self.candidates = [], None, []
        self.finished.emit(result)
