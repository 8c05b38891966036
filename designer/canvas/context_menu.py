"""The canvas's context menus: what can be done to a tile, one of its outputs, a link, or an empty spot.

Each entry is an existing edit (one undoable command) or view action, offered where the pointer is: a tile
(rename, properties, start here, duplicate, delete, each output to End or a new tile after it), an output port
(the same, for that output), a link (insert a tile into it, end the path there, remove it) and the empty canvas
(add a tile here, paste, fit, lay out). The fix text of a problem such as "connect 'no' to the next step, or to
end" is a right-click away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QMenu

from app.model.commands import Connect, Disconnect, SetEntry
from app.model.registry import CATEGORIES, END, REGISTRY
from designer.canvas.scene import DropTarget
from designer.icons import tile_icon

if TYPE_CHECKING:
    from designer.canvas.items import EdgeItem, TileItem
    from designer.canvas.view import JourneyView


def _tile_types(menu: QMenu, title: str, choose) -> QMenu:  # type: ignore[no-untyped-def]
    """A submenu of tile types by category; choosing one calls `choose(type_id)`."""
    sub = menu.addMenu(title)
    for category in CATEGORIES:
        sub.addSection(category)
        for tile in REGISTRY.values():
            if tile.category == category:
                act = sub.addAction(tile_icon(tile.id), tile.label)
                act.triggered.connect(lambda _c=False, t=tile.id: choose(t))
    return sub


def canvas_menu(view: JourneyView, scene_pos: QPointF) -> QMenu:
    """The menu for a right-click at `scene_pos`."""
    scene = view.journey_scene
    menu = QMenu(view)
    journey = scene.journey
    if journey is None:
        return menu
    tile = scene.tile_at(scene_pos)
    if tile is not None:
        _tile_menu(view, menu, tile, tile.port_at(scene_pos))
        return menu
    edge = _edge_at(view, scene_pos)
    if edge is not None:
        _edge_menu(view, menu, edge, scene_pos)
        return menu
    _tile_types(menu, "Add Tile Here", lambda t: _added(view, view.edits.add_tile(t, None, scene_pos)))
    menu.addSeparator()
    menu.addAction("Paste", view.paste)
    menu.addAction("Fit to Window", view.fit)
    menu.addAction("Auto-layout Left to Right", lambda: view.auto_layout("LR"))
    return menu


def _added(view: JourneyView, step_id: str | None) -> None:
    """A tile added from a menu: the window moves the focus to its name, as after any add."""
    if step_id is not None:
        view.tileAdded.emit(step_id)


def _connect(view: JourneyView, source: str, port: str, target: str) -> None:
    journey = view.journey_scene.journey
    if journey is not None:
        view.document.run(Connect(journey.id, source, port, target))


def _tile_menu(view: JourneyView, menu: QMenu, tile: TileItem, only_port: str | None) -> None:
    scene = view.journey_scene
    journey = scene.journey
    assert journey is not None
    sid = tile.step_id
    if sid not in scene.selected_step_ids():
        scene.select_steps([sid])
    step = journey.step(sid)
    ports = [(p, label) for p, label in tile.ports if only_port is None or p == only_port]
    if only_port is None:
        menu.addAction("Rename", view.rename_selected)
        menu.addAction("Properties", lambda: view.tileAdded.emit(sid))  # the window shows them, focus in Name
        start = menu.addAction("Start Here", lambda: view.document.run(SetEntry(journey.id, sid)))
        start.setEnabled(journey.entry != sid)
        menu.addSeparator()
    for port, label in ports:
        name = label or port
        target = step.outputs.get(port)
        end = menu.addAction(f"Connect '{name}' to End", lambda p=port: _connect(view, sid, p, END))
        end.setEnabled(target != END)
        _tile_types(menu, f"Add Tile After '{name}'",
                    lambda t, p=port: _added(view, view.edits.add_tile(t, DropTarget("port", sid, p))))
        if target is not None:
            menu.addAction(f"Remove Link from '{name}'",
                           lambda p=port: view.document.run(Disconnect(journey.id, sid, p)))
    if only_port is None:
        menu.addSeparator()
        menu.addAction("Duplicate", view.duplicate)
        menu.addAction("Delete", view.delete_selection)


def _edge_at(view: JourneyView, scene_pos: QPointF) -> EdgeItem | None:
    from designer.canvas.items import EdgeItem
    for item in view.journey_scene.items(scene_pos):
        if isinstance(item, EdgeItem):
            return item
    return None


def _edge_menu(view: JourneyView, menu: QMenu, edge: EdgeItem, scene_pos: QPointF) -> None:
    journey = view.journey_scene.journey
    assert journey is not None
    source, port = edge.key
    if edge.target is not None:
        _tile_types(menu, "Insert Tile Here",
                    lambda t: _added(view, view.edits.add_tile(t, DropTarget("edge", source, port), scene_pos)))
    end = menu.addAction("End the Path Here", lambda: _connect(view, source, port, END))
    end.setEnabled(edge.target is not None)
    menu.addAction("Remove Link", lambda: view.document.run(Disconnect(journey.id, source, port)))
