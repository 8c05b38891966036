"""Shared set-up for the canvas tests: a document over a temporary project, a scene and a shown view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.codec.yamlio import read_journey_file
from app.model.journey import Journey
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from designer.canvas import JourneyScene, JourneyView
from designer.canvas.items import EdgeItem, TileItem
from designer.document import Document
from designer.mime import TILE_MIME


@dataclass
class Canvas:
    """A document with its canvas scene and view."""

    doc: Document
    scene: JourneyScene
    view: JourneyView

    @property
    def journey(self) -> Journey:
        journey = self.scene.journey
        assert journey is not None
        return journey

    def view_pos(self, scene_pos: QPointF) -> QPoint:
        return self.view.mapFromScene(scene_pos)

    def tile_center(self, step_id: str) -> QPoint:
        tile = self.scene.tile_item(step_id)
        assert tile is not None
        return self.view_pos(tile.mapToScene(QPointF(120.0, tile.height / 2)))

    def port_pos(self, step_id: str, port: str) -> QPoint:
        tile = self.scene.tile_item(step_id)
        assert tile is not None
        return self.view_pos(tile.port_scene_pos(port))


def make_canvas(qtbot: object, path: Path, *templates: str, empty_journey: str | None = None) -> Canvas:
    """A shown canvas over a new project holding the given templates (and/or an empty journey)."""
    pf = ProjectFile.create(path)
    for name in templates:
        import_journey(pf.project, *read_journey_file(resource_path("templates", name)))
    if empty_journey is not None:
        pf.project.add_journey(Journey(pf.project.new_journey_id(), empty_journey))
    doc = Document(pf)
    scene = JourneyScene(doc)
    view = JourneyView(scene, doc)
    qtbot.addWidget(view)  # type: ignore[attr-defined]
    view.resize(1100, 650)
    view.show()
    qtbot.waitExposed(view)  # type: ignore[attr-defined]
    view.reset_zoom()
    view.centerOn(scene.content_rect().center() if not scene.content_rect().isNull() else QPointF())
    return Canvas(doc, scene, view)


def assert_mirrors(canvas: Canvas) -> None:
    """The scene shows exactly the journey: a tile per step, an edge per link, positions and entry as modelled."""
    journey, scene = canvas.journey, canvas.scene
    tiles = [i for i in scene.items() if isinstance(i, TileItem)]
    edges = [i for i in scene.items() if isinstance(i, EdgeItem)]
    assert sorted(t.step_id for t in tiles) == sorted(journey.steps)
    assert sorted(e.key for e in edges) == sorted((s, p) for s, p, _ in journey.links())
    for source, port, target in journey.links():
        edge = scene.edge_item(source, port)
        assert edge is not None and edge.target_id == target
        assert edge in scene.tile_item(source).edges  # type: ignore[union-attr]
    for step in journey:
        tile = scene.tile_item(step.id)
        assert tile is not None
        if step.position is not None:
            assert (tile.pos().x(), tile.pos().y()) == (step.position.x, step.position.y)
        assert tile.linked == frozenset(step.outputs)
        assert tile.is_entry == (step.id == journey.entry)
        assert tile.name == step.display_name


def drag_tile(canvas: Canvas, type_id: str, at: QPoint, *, drop: bool = True) -> object:
    """Drag a palette tile over the viewport to `at` (a viewport point) and drop it; returns the drop target
    the scene highlighted while hovering."""
    mime = QMimeData()
    mime.setData(TILE_MIME, type_id.encode())
    mime.setText(type_id)
    vp = canvas.view.viewport()
    action, button, mods = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, action, mime, button, mods)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(at, action, mime, button, mods)
    QApplication.sendEvent(vp, move)
    assert move.isAccepted()
    highlighted = canvas.scene.drop_target
    if drop:
        dropped = QDropEvent(QPointF(at), action, mime, button, mods)
        QApplication.sendEvent(vp, dropped)
        assert dropped.isAccepted()
    return highlighted
