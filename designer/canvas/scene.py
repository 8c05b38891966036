"""The canvas scene: mirrors one journey of the document as tiles and edges, following its change events.

The scene never edits the model. It builds its items from the journey once (`set_journey`), then applies each
`Change` the document announces to the few items concerned. The one edit that starts here, moving tiles with
the mouse, goes to the document as a single MoveSteps command when the button is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterable, Literal, NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsScene, QGraphicsSceneHelpEvent, QGraphicsSceneMouseEvent,
                               QGraphicsView, QToolTip)

from app.model.commands import NO_MERGE, MoveSteps
from app.model.journey import Change, Journey, Step
from app.model.layout import layered_layout
from app.model.registry import END
from designer.canvas.boards import FLOW_MAX, FLOW_MIN, FlowBoard, StatusBoard  # noqa: F401  (FLOW_*: re-exported)
from designer.canvas.geometry import PORT_HIT, TILE_H, TILE_W, after_port_spot, free_spot, to_point, to_position
from designer.canvas.items import LOD_SIMPLE, EdgeItem, TileItem
from designer.canvas.motion import Motion
from designer.canvas.overview import Overview
from designer.canvas.theme import Theme
from designer.document import Document

SCENE_MARGIN = 1600.0
ZOOM_SETTLE_MS = 250  # after the last zoom step, tiles are cached as pictures again


class DropTarget(NamedTuple):
    """Where a dragged tile would land: on an output port (add after it) or on a link (insert into it)."""

    kind: Literal["port", "edge"]
    step: str
    port: str


class JourneyScene(QGraphicsScene):
    """Tiles and edges of the document's current journey, kept in step with the model."""

    stepsSelected = Signal(list)   # ids of the selected steps, in journey order
    contentsChanged = Signal()     # tiles or edges were added, removed or moved (debounced): the minimap redraws
    journeyShown = Signal(object)  # the journey id now shown (None: nothing), after the items were (re)built

    def __init__(self, document: Document, parent: object | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.theme = Theme()
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self._journey_id: str | None = None
        self._tiles: dict[str, TileItem] = {}
        self._edges: dict[tuple[str, str], EdgeItem] = {}
        self._status_board = StatusBoard()  # a replay's or a live run's figures, read by the items in need
        self._flow_board = FlowBoard()
        self.overview = Overview(self.theme, self.update)  # zoomed out, the view paints tiles and links from it
        self.motion = Motion(self.update)  # while a replay moves, the view paints tiles and links from it
        self.overview.on_touch = self.motion.touch
        self._items_hidden = False  # tiles and links marked as having no contents (overview or motion)
        self._entry: str | None = None
        self._drag_start: dict[str, QPointF] = {}
        self._drop_target: DropTarget | None = None
        self._pending_select: tuple[str, str] | None = None
        self._quiet = False
        self._content: QRectF | None = None   # cached content_rect(), dropped when tiles come, go or move
        self._contents_timer = QTimer(self)
        self._contents_timer.setSingleShot(True)
        self._contents_timer.setInterval(40)
        self._contents_timer.timeout.connect(self._contents_settled)
        self._cache_mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(ZOOM_SETTLE_MS)
        self._settle_timer.timeout.connect(self._zoom_settled)
        document.changed.connect(self._on_change)
        document.findingsChanged.connect(self.update_findings)
        document.currentJourneyChanged.connect(self.set_journey)
        document.selectRequested.connect(self._on_select_requested)
        self.selectionChanged.connect(self._on_selection_changed)
        current = document.current_journey
        self.set_journey(current.id if current is not None else None)

    # --- reading ------------------------------------------------------------------------------------------
    @property
    def journey_id(self) -> str | None:
        return self._journey_id

    @property
    def journey(self) -> Journey | None:
        """The journey shown (None when there is none)."""
        return self.document.project.find_journey(self._journey_id) if self._journey_id else None

    def tile_item(self, step_id: str) -> TileItem | None:
        """The tile of a step, if it is shown."""
        return self._tiles.get(step_id)

    def edge_item(self, source: str, port: str) -> EdgeItem | None:
        """The edge leaving `source` by `port`, if it is shown."""
        return self._edges.get((source, port))

    def tile_items(self) -> list[TileItem]:
        """Every tile, in journey order."""
        return list(self._tiles.values())

    def edge_items(self) -> list[EdgeItem]:
        """Every edge."""
        return list(self._edges.values())

    def tile_pos(self, step_id: str) -> QPointF:
        """Where a step is drawn (its model position, or where the scene laid it out when it has none)."""
        tile = self._tiles.get(step_id)
        return tile.pos() if tile is not None else QPointF()

    def content_rect(self) -> QRectF:
        """The rectangle holding every tile and edge (empty when there are none)."""
        if self._content is not None:
            return QRectF(self._content)
        rect = QRectF()
        for tile in self._tiles.values():
            rect = rect.united(tile.sceneBoundingRect())
        for edge in self._edges.values():
            if edge.target is None:
                rect = rect.united(edge.sceneBoundingRect())
        self._content = rect
        return QRectF(rect)

    # --- showing a journey --------------------------------------------------------------------------------
    def set_journey(self, journey_id: str | None) -> None:
        """Show a journey (None: nothing); steps without a position are drawn laid out, the model untouched."""
        if journey_id == self._journey_id and (self._tiles or journey_id is None):
            return
        self._journey_id = journey_id
        self.rebuild()

    def rebuild(self) -> None:
        """Drop every item and build them again from the journey."""
        self._quiet = True
        try:
            self._drop_target = None
            self._edges.clear()
            self._tiles.clear()
            self.clear()
            journey = self.journey
            if journey is not None:
                self._entry = journey.entry
                places = self._layout_unpositioned(journey)
                for step in journey:
                    self._add_tile(step, places.get(step.id))
                for source, port, target in journey.links():
                    self._add_edge(source, port, target)
                self.update_findings()
        finally:
            self._quiet = False
        self.overview.touch()
        self._content = None
        self._update_scene_rect()
        self.contentsChanged.emit()
        self.journeyShown.emit(self._journey_id if self.journey is not None else None)
        if self._pending_select and self._pending_select[0] == self._journey_id:
            _, step = self._pending_select
            self._pending_select = None
            self.select_steps([step], center=True)
        else:
            self.stepsSelected.emit([])

    def _layout_unpositioned(self, journey: Journey) -> dict[str, QPointF]:
        if all(s.position is not None for s in journey):
            return {}
        laid = layered_layout(journey)
        placed = [s.position for s in journey if s.position is not None]
        # Laid-out tiles go below the positioned ones so that the two sets never overlap.
        dy = max(p.y for p in placed) + TILE_H + 120.0 - min(p.y for p in laid.values()) if placed else 0.0
        return {s.id: QPointF(laid[s.id].x, laid[s.id].y + dy) for s in journey if s.position is None}

    def _add_tile(self, step: Step, place: QPointF | None = None) -> TileItem:
        tile = TileItem(step.id, self.theme)
        tile.setCacheMode(self._cache_mode)
        tile.sync(step, is_entry=step.id == self._entry)
        tile.status_board = self._status_board
        tile.overview = self.overview
        tile.motion = self.motion
        if self._items_hidden:
            tile.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self.overview.touch()
        tile.setPos(to_point(step.position) if step.position is not None else place or self._place_new(step))
        self._tiles[step.id] = tile
        self.addItem(tile)
        return tile

    def _place_new(self, step: Step) -> QPointF:
        """A spot for a step added without a position: right of its predecessor, or below everything."""
        journey = self.journey
        occupied = [t.sceneBoundingRect() for t in self._tiles.values()]
        for source, port in journey.predecessors(step.id) if journey is not None else ():
            tile = self._tiles.get(source)
            if tile is not None:
                ports = [p for p, _ in tile.ports]
                index = ports.index(port) if port in ports else 0
                return free_spot(after_port_spot(tile.pos(), index, len(ports)), occupied)
        bounds = self.content_rect()
        return free_spot(QPointF(bounds.left(), bounds.bottom() + 40.0) if not bounds.isNull() else QPointF(),
                         occupied)

    def _add_edge(self, source: str, port: str, target: str) -> EdgeItem | None:
        self._remove_edge((source, port))
        src = self._tiles.get(source)
        dst = None if target == END else self._tiles.get(target)
        if src is None or (target != END and dst is None):
            return None  # a step not drawn yet: the edge comes when it arrives
        edge = EdgeItem(src, port, dst, self.theme)
        src.edges.append(edge)
        if dst is not None:
            dst.edges.append(edge)
        self._edges[(source, port)] = edge
        self.addItem(edge)
        edge.flow_board = self._flow_board
        edge.overview = self.overview
        if self._items_hidden:
            edge.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self.overview.touch()
        return edge

    def _remove_edge(self, key: tuple[str, str]) -> None:
        edge = self._edges.pop(key, None)
        if edge is None:
            return
        for tile in (edge.source, edge.target):
            if tile is not None and edge in tile.edges:
                tile.edges.remove(edge)
        self.removeItem(edge)
        self.overview.touch()

    # --- following the model ------------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if change.journey != self._journey_id or self._journey_id is None:
            return
        kind = change.kind
        if kind in ("journey-removed", "journey-added"):  # removed: show nothing; back (undo): show it again
            self.rebuild()
            return
        journey = self.journey
        if journey is None:
            return
        if kind == "step-added" and change.step:
            step = journey.step(change.step)
            self._add_tile(step)
            for port, target in step.outputs.items():
                self._add_edge(step.id, port, target)
            for source, port in journey.predecessors(step.id):
                if (source, port) not in self._edges:
                    self._add_edge(source, port, step.id)
        elif kind == "step-removed" and change.step:
            tile = self._tiles.pop(change.step, None)
            if tile is not None:
                for edge in list(tile.edges):
                    self._remove_edge(edge.key)
                self.removeItem(tile)
                self.overview.touch()
        elif kind == "step-changed" and change.step in self._tiles:
            self._step_changed(journey.step(change.step), change.detail or ())
        elif kind == "link-changed" and change.step in self._tiles:
            step = journey.step(change.step)
            target = step.outputs.get(change.port or "")
            if target is None:
                self._remove_edge((step.id, change.port or ""))
            else:
                self._add_edge(step.id, change.port or "", target)
            self._tiles[step.id].sync(step, is_entry=step.id == self._entry)
        elif kind == "entry-changed":
            old, self._entry = self._entry, journey.entry
            for sid in (old, self._entry):
                if sid in self._tiles:
                    self._tiles[sid].sync(journey.step(sid), is_entry=sid == self._entry)
        else:
            return
        self._content = None
        self._contents_timer.start()

    def _step_changed(self, step: Step, detail: Iterable[str]) -> None:
        tile = self._tiles[step.id]
        ports_before = tile.ports
        tile.sync(step, is_entry=step.id == self._entry)
        if "position" in detail and step.position is not None:
            tile.setPos(to_point(step.position))
        if tile.ports != ports_before:
            for edge in tile.edges:
                edge.adjust()

    def update_findings(self) -> None:
        """Show each tile's error / warning count from the document's check for errors."""
        if self._journey_id is None:
            return
        counts: dict[str, list[int]] = {}
        notes: dict[str, list[str]] = {}
        for f in self.document.findings(self._journey_id):
            if f.step in self._tiles:
                c = counts.setdefault(f.step, [0, 0])
                c[0 if f.is_error else 1] += 1
                notes.setdefault(f.step, []).append(f"{'Error' if f.is_error else 'Warning'}: {f.message}")
        for sid, tile in self._tiles.items():
            errors, warnings = counts.get(sid, (0, 0))
            tile.set_findings(errors, warnings, notes.get(sid))

    def set_status_lines(self, lines: Mapping[str, str], notes: Mapping[str, list[str]] | None = None) -> None:
        """Status line per step (e.g. '120 waiting' from the simulator); steps left out show their summary.
        `notes` gives a step's tooltip lines (the figures with their intervals). `lines` may work a line out
        when it is read (a replay's frame): the tiles in sight with their text read theirs now; the others when
        they are drawn with text or asked for it (see designer/canvas/boards.py)."""
        same_lines = lines is self._status_board.lines  # only the notes are new (the replay has rested)
        self._status_board.post(lines, notes)
        views = self.views()
        text_views = [v for v in views if v.transform().m11() >= LOD_SIMPLE]
        if views and not text_views:
            return  # zoomed out below the level of detail that shows text: nothing to repaint now
        if not views:
            for tile in self._tiles.values():
                tile.refresh_status(now=True)
            return
        if same_lines and not isinstance(lines, dict):
            return  # tiles read the notes from the board when asked for their tooltip
        if self._frames_coming():
            return
        # The tiles in sight are drawn again now, and maybe at the next frame: not as pictures. The others hold
        # no picture either from now on, and read the board when they are drawn.
        self.zooming()
        for item in self._in_sight(text_views):
            if isinstance(item, TileItem):
                item.refresh_status(now=True)

    def set_flows(self, flows: Mapping[tuple[str, str], int] | None, scale: int = 0) -> None:
        """Contacts that have passed along each link, drawn as the link's width and a count; `scale` is the
        count drawn at full width (e.g. everyone who entered the journey in the whole run, so that links
        thicken as the replay moves on). None: no flows (plain links). The links in sight are repainted now;
        the others read the flows when they are next drawn (links are not cached as pictures)."""
        self._flow_board.post(flows, scale)
        if self.overview.active:  # zoomed out, links are painted from the board (see overview.py)
            self.overview.flows_changed()
            return
        views = self.views()
        if views and (flows is not None or self.motion.active) and self._frames_coming():
            return
        if views and flows is not None:
            # frames coming one after another: bands are filled rough until they stop (see _zoom_settled)
            self.theme.rough_bands = True
            self._settle_timer.start()
        edges = [i for i in self._in_sight(views) if isinstance(i, EdgeItem)] if views else self._edges.values()
        for edge in edges:
            edge.refresh_flow()

    def _frames_coming(self) -> bool:
        """A replay's frame was posted: until the frames stop (the settle timer), the view paints the tiles and
        links in sight from the motion's pictures (see motion.py), bands rough. False: zoomed out (the overview
        paints them) or no view."""
        if self.overview.active or not self.views():
            return False
        self.theme.rough_bands = True
        if not self.motion.active:
            self.motion.active = True
            self._hide_items()
        self.zooming()  # tiles hold no pictures from now on: the status lines they showed are superseded
        self.update()
        return True

    def _end_motion(self) -> None:
        if self.motion.active:
            self.motion.active = False
            self.motion.drop()
            self._hide_items()
            self.update()

    def _hide_items(self) -> None:
        """Mark tiles and links as having no contents while the overview or the motion paints them."""
        hide = self.overview.active or self.motion.active
        if hide == self._items_hidden:
            return
        self._items_hidden = hide
        flag = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
        for tile in self._tiles.values():
            tile.setFlag(flag, hide)
        for edge in self._edges.values():
            edge.setFlag(flag, hide)

    def _in_sight(self, views: list[QGraphicsView]) -> set[QGraphicsItem]:
        """The items in the visible part of these views."""
        found: set[QGraphicsItem] = set()
        for view in views:
            area = view.mapToScene(view.viewport().rect()).boundingRect()
            found.update(self.items(area, Qt.ItemSelectionMode.IntersectsItemBoundingRect))
        return found

    def flow_of(self, source: str, port: str) -> int | None:
        """The flow shown on a link (None: no flows shown or no such link)."""
        edge = self._edges.get((source, port))
        return edge.flow if edge is not None else None

    def set_palette(self, palette: QPalette) -> None:
        """Re-colour every item for a (light or dark) palette."""
        self.theme.apply(palette)
        self.overview.touch()
        for item in self.items():
            item.update()
        self.update()

    # --- zoomed out -----------------------------------------------------------------------------------------
    def set_overview(self, on: bool) -> None:
        """Zoomed out below LOD_SIMPLE (`on`), the view paints tiles and links from `overview` and Qt no longer
        calls their own `paint` (see overview.py); zoomed in again, they paint themselves."""
        if on == self.overview.active:
            return
        self.overview.active = on
        if on:
            self._end_motion()
        self._hide_items()
        self.overview.touch()
        self.update()

    def paint_layers(self, painter: QPainter, rect: QRectF, lod: float) -> None:
        """Paint the tiles and links while zoomed out (the view calls this from its background)."""
        if self.overview.active:
            self.overview.paint(painter, rect, lod, self._tiles.values(), self._edges.values(), self._flow_board)
        elif self.motion.active and not self.motion.paint(painter, self, lod):
            self._end_motion()  # a view that is not plainly scaled: the items paint themselves

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        """What `render` paints under the items (the view paints its own background, then `paint_layers`)."""
        self.paint_layers(painter, rect, painter.worldTransform().m11())

    def render(self, painter: QPainter, target: QRectF = QRectF(), source: QRectF = QRectF(),  # type: ignore[override]
               mode: Qt.AspectRatioMode = Qt.AspectRatioMode.KeepAspectRatio) -> None:
        """Render the scene (an image of it): tiles paint themselves unless the scale is that of the overview."""
        src = source if not source.isNull() else self.sceneRect()
        scale = target.width() / src.width() if not target.isNull() and src.width() > 0 else 1.0
        self._end_motion()  # the items paint themselves (an image of the scene is not a frame of a replay)
        shown = self.overview.active
        self.set_overview(scale < LOD_SIMPLE)
        try:
            super().render(painter, target, source, mode)
        finally:
            self.set_overview(shown)

    # --- caching while zooming -----------------------------------------------------------------------------
    def zooming(self) -> None:
        """A view's scale is changing. Tiles are cached as device pictures, which panning only moves; at a new
        scale every picture would be painted again and then copied, so until the scale settles tiles are
        painted straight into the view (the same drawing, without the copy). A replay changing the tiles'
        figures on every frame is the same case."""
        if self._cache_mode != QGraphicsItem.CacheMode.NoCache:
            self._set_cache_mode(QGraphicsItem.CacheMode.NoCache)
        self._settle_timer.start()

    def _zoom_settled(self) -> None:
        self._set_cache_mode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._end_motion()
        if self.theme.rough_bands:  # the frames stopped: the bands in sight are painted smooth again
            self.theme.rough_bands = False
            if not self.overview.active:
                for item in self._in_sight(self.views()):
                    if isinstance(item, EdgeItem) and item.flow:
                        item.update()

    def _set_cache_mode(self, mode: QGraphicsItem.CacheMode) -> None:
        self._cache_mode = mode
        for tile in self._tiles.values():
            tile.setCacheMode(mode)

    # --- selection ----------------------------------------------------------------------------------------
    def selected_step_ids(self) -> list[str]:
        """Selected steps, in journey order."""
        return [sid for sid, tile in self._tiles.items() if tile.isSelected()]

    def selected_edge_keys(self) -> list[tuple[str, str]]:
        """(source, port) of the selected links."""
        return [key for key, edge in self._edges.items() if edge.isSelected()]

    def select_steps(self, step_ids: Iterable[str], center: bool = False) -> None:
        """Select exactly these steps (and, with `center`, scroll the first into the middle of the view)."""
        ids = [sid for sid in step_ids if sid in self._tiles]
        self._quiet = True
        try:
            self.clearSelection()
            for sid in ids:
                self._tiles[sid].setSelected(True)
        finally:
            self._quiet = False
        if ids:
            for view in self.views():
                if center:
                    view.centerOn(self._tiles[ids[0]])
                else:
                    view.ensureVisible(self._tiles[ids[0]], 40, 40)
        self.stepsSelected.emit(self.selected_step_ids())

    def _on_selection_changed(self) -> None:
        self.overview.touch()
        if not self._quiet:
            self.stepsSelected.emit(self.selected_step_ids())

    def _on_select_requested(self, journey_id: str, step_id: str | None) -> None:
        if journey_id != self._journey_id:
            self._pending_select = (journey_id, step_id) if step_id else None  # for when that journey is shown
        elif step_id:
            self.select_steps([step_id], center=True)

    # --- drop targets -------------------------------------------------------------------------------------
    def port_at(self, pos: QPointF) -> tuple[str, str] | None:
        """(step, output port) of the port circle at a scene point, if any."""
        area = QRectF(pos.x() - PORT_HIT, pos.y() - PORT_HIT, 2 * PORT_HIT, 2 * PORT_HIT)
        for item in self.items(area):
            if isinstance(item, TileItem):
                port = item.port_at(pos)
                if port is not None:
                    return item.step_id, port
        return None

    def target_at(self, pos: QPointF, *, edges: bool = True) -> DropTarget | None:
        """The port or link at a scene point; a tile's body counts as its first free output port."""
        hit = self.port_at(pos)
        if hit is not None:
            return DropTarget("port", *hit)
        for item in self.items(pos):
            if isinstance(item, TileItem) and item.ports:
                free = [p for p, _ in item.ports if p not in item.linked]
                return DropTarget("port", item.step_id, free[0] if free else item.ports[0][0])
            if isinstance(item, TileItem):
                return None
        if edges:
            area = QRectF(pos.x() - PORT_HIT, pos.y() - PORT_HIT, 2 * PORT_HIT, 2 * PORT_HIT)
            for item in self.items(area):
                if isinstance(item, EdgeItem) and item.shape().contains(pos):
                    return DropTarget("edge", *item.key)
        return None

    def tile_at(self, pos: QPointF) -> TileItem | None:
        """The topmost tile under a scene point."""
        for item in self.items(pos):
            if isinstance(item, TileItem):
                return item
        return None

    def set_drop_target(self, target: DropTarget | None) -> None:
        """Highlight the port or link a drag would land on (None: no highlight)."""
        if target == self._drop_target:
            return
        old, self._drop_target = self._drop_target, target
        for t, on in ((old, False), (target, True)):
            if t is None:
                continue
            if t.kind == "port" and t.step in self._tiles:
                self._tiles[t.step].set_drop_port(t.port if on else None)
            elif t.kind == "edge" and (t.step, t.port) in self._edges:
                self._edges[(t.step, t.port)].set_drop_highlight(on)

    @property
    def drop_target(self) -> DropTarget | None:
        """The port or link highlighted for the drag in progress."""
        return self._drop_target

    def occupied_rects(self) -> list[QRectF]:
        """The card rectangles of all tiles (where a new tile must not go)."""
        return [QRectF(t.pos().x(), t.pos().y(), TILE_W, t.height) for t in self._tiles.values()]

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:
        """Tooltips of tiles and links, written when the pointer rests on one."""
        for item in self.items(event.scenePos()):
            if isinstance(item, (TileItem, EdgeItem)):
                QToolTip.showText(event.screenPos(), item.tooltip(), event.widget())
                event.accept()
                return
        QToolTip.hideText()
        event.ignore()

    # --- moving tiles with the mouse ----------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = {sid: t.pos() for sid, t in self._tiles.items() if t.isSelected()}

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._drag_start:
            self.commit_moves()

    def commit_moves(self) -> None:
        """Turn the tiles moved since the press into one MoveSteps command (one undo entry per drag)."""
        start, self._drag_start = self._drag_start, {}
        moved = {sid: to_position(self._tiles[sid].pos()) for sid, p in start.items()
                 if sid in self._tiles and self._tiles[sid].pos() != p}
        if not moved or self._journey_id is None:
            return
        command = MoveSteps(self._journey_id, moved)
        command.merge_id = NO_MERGE  # two drags of the same tile are two gestures, undone one at a time
        if not self.document.run(command):
            for sid in moved:  # refused (read-only project): the tiles go back where the model has them
                self._tiles[sid].setPos(start[sid])
        self._content = None
        self._contents_timer.start()

    # --- housekeeping -------------------------------------------------------------------------------------
    def _contents_settled(self) -> None:
        self._update_scene_rect()
        self.contentsChanged.emit()

    def _update_scene_rect(self) -> None:
        rect = self.content_rect()
        if rect.isNull():
            rect = QRectF(-400.0, -300.0, 800.0, 600.0)
        self.setSceneRect(rect.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN))
