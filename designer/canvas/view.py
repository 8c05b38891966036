"""The canvas view: zoom, pan, grid, minimap, drag and drop from the palette, linking by dragging from a port,
and the editing keys. Edits go through `CanvasActions` (`view.edits`), one command each."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QContextMenuEvent, QCursor, QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent,
                           QKeyEvent, QKeySequence, QMouseEvent, QPainter, QPainterPath, QResizeEvent, QShowEvent,
                           QTransform, QWheelEvent)
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView, QWidget
from shiboken6 import isValid

from app.model.layout import Direction
from app.model.registry import REGISTRY
from designer.canvas.editing import Arrow, CanvasActions
from designer.canvas.geometry import TILE_W
from designer.canvas.grid import DotGrid
from designer.canvas.items import LOD_SIMPLE, TEXT_X, TileItem
from designer.canvas.keyboard import AddTileFlow
from designer.canvas.minimap import Minimap
from designer.canvas.rename import InlineRename
from designer.canvas.scene import JourneyScene
from designer.document import Document
from designer.mime import TILE_MIME

MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
ZOOM_STEP = 1.25
_ARROW_KEYS: dict[int, Arrow] = {Qt.Key.Key_Left: "left", Qt.Key.Key_Right: "right", Qt.Key.Key_Up: "up",
                                 Qt.Key.Key_Down: "down"}


def tile_type_of(mime: object) -> str | None:
    """The tile type id a palette drag carries (None when the drag is something else)."""
    if not hasattr(mime, "hasFormat") or not mime.hasFormat(TILE_MIME):  # type: ignore[union-attr]
        return None
    text = bytes(mime.data(TILE_MIME).data()).decode("utf-8", "replace").strip()  # type: ignore[union-attr]
    text = text or mime.text().strip()  # type: ignore[union-attr]
    return text if text in REGISTRY else None


class JourneyView(QGraphicsView):
    """The journey canvas: shows a JourneyScene and turns gestures and keys into commands."""

    zoomChanged = Signal(float)
    journeyNeeded = Signal()  # a command that needs a journey when none is open: the window makes a blank one
    tileAdded = Signal(str)  # a tile placed with the keyboard or dropped: the window moves focus to its name

    def __init__(self, scene: JourneyScene, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.journey_scene = scene
        self.document = document
        self.edits = CanvasActions(self, scene, document)
        self.rename_editor: InlineRename | None = None
        self.flow: AddTileFlow | None = None
        self.current_step: str | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._link: tuple[str, str] | None = None
        self._link_line: QGraphicsPathItem | None = None
        self._link_target: TileItem | None = None
        self._grid = DotGrid(scene.theme)
        self._framed = False
        # No smooth pixmap transforms: nothing on the canvas is a scaled picture (glyphs are vectors; tiles' and
        # lines' pictures are copied pixel for pixel), and with that hint Qt's raster engine copies every cached
        # tile of a pan as a textured fill handed to its worker threads (see items.unscaled_copy).
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        # Items set every pen, brush and font they use, so the scene need not save the painter around each.
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing
                                  | QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Journey canvas")
        self.minimap = Minimap(self)
        scene.contentsChanged.connect(self.minimap.invalidate)
        scene.stepsSelected.connect(self._on_selected)
        scene.journeyShown.connect(self._on_journey_shown)
        self.horizontalScrollBar().valueChanged.connect(self.minimap.refresh)
        self.verticalScrollBar().valueChanged.connect(self.minimap.refresh)
        scene.set_palette(self.palette())

    def sizeHint(self) -> QSize:
        return QSize(900, 600)

    # --- zoom and geometry --------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        """The current scale (1.0: tiles at their natural size)."""
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to `zoom` (clamped to 0.1x-4x) keeping the scene point under `anchor` (a viewport point,
        default the middle) in place."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if abs(zoom - self.zoom) < 1e-9:
            return
        self._close_editor()
        at = (anchor if anchor is not None else QPointF(self.viewport().rect().center())).toPoint()
        fixed = self.mapToScene(at)
        self.journey_scene.zooming()
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.journey_scene.set_overview(zoom < LOD_SIMPLE)
        moved = self.mapFromScene(fixed) - at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.minimap.refresh()
        self.zoomChanged.emit(zoom)

    def zoom_in(self) -> None:
        """One zoom step in, around the middle of the view."""
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        """One zoom step out, around the middle of the view."""
        self.set_zoom(self.zoom / ZOOM_STEP)

    def reset_zoom(self) -> None:
        """Back to 1x, around the middle of the view."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Show the whole journey (never enlarged beyond 1x), centred."""
        rect = self.journey_scene.content_rect()
        if rect.isNull():
            self.set_zoom(1.0)
            self.centerOn(0.0, 0.0)
            return
        rect = rect.adjusted(-60.0, -50.0, 60.0, 50.0)
        vp = self.viewport().rect()
        zoom = min(1.0, vp.width() / rect.width(), vp.height() / rect.height())
        self._close_editor()
        if abs(max(MIN_ZOOM, zoom) - self.zoom) > 1e-9:
            self.journey_scene.zooming()
        self.setTransform(QTransform.fromScale(max(MIN_ZOOM, zoom), max(MIN_ZOOM, zoom)))
        self.journey_scene.set_overview(self.zoom < LOD_SIMPLE)
        self.centerOn(rect.center())
        self.minimap.refresh()
        self.zoomChanged.emit(self.zoom)

    def show_start(self) -> None:
        """Frame a newly shown journey: all of it when it fits at a readable zoom, else its start at 1x."""
        self.fit()
        journey = self.journey_scene.journey
        if self.zoom < 0.6 and journey is not None and journey.entry is not None:
            self.set_zoom(1.0)
            start = self.journey_scene.tile_pos(journey.entry)
            vp = self.viewport().rect()
            # The start tile near the left edge, a third of the way down: the journey reads from there.
            self.centerOn(start + QPointF(vp.width() / 2 - 80.0, vp.height() / 6))

    def visible_scene_rect(self) -> QRectF:
        """The part of the scene the viewport shows."""
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def visible_center(self) -> QPointF:
        """The scene point in the middle of the viewport."""
        return self.mapToScene(self.viewport().rect().center())

    def paste_point(self) -> QPointF:
        """Where pasted tiles go: at the pointer when it is over the canvas, else in the middle of the view."""
        local = self.viewport().mapFromGlobal(QCursor.pos())
        if self.underMouse() and self.viewport().rect().contains(local):
            return self.mapToScene(local)
        centre = self.visible_center()
        return QPointF(centre.x() - TILE_W / 2, centre.y() - 42.0)

    def set_minimap_visible(self, visible: bool) -> None:
        """Turn the minimap on or off (when on, it shows only while part of the journey is out of sight)."""
        self.minimap.wanted = visible
        self.minimap.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._framed:  # the first time the view has its real size
            self._framed = True
            self.show_start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        vp = self.viewport().geometry()
        # at most a fifth of the canvas's width and a quarter of its height: a small canvas keeps its tiles
        scale = min(1.0, vp.width() * 0.2 / Minimap.SIZE.width(), vp.height() * 0.25 / Minimap.SIZE.height())
        self.minimap.setFixedSize(max(80, round(Minimap.SIZE.width() * scale)),
                                  max(52, round(Minimap.SIZE.height() * scale)))
        self.minimap.move(vp.right() - self.minimap.width() - 12, vp.bottom() - self.minimap.height() - 12)
        self.minimap.invalidate()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self._close_editor()
        super().scrollContentsBy(dx, dy)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.journey_scene.set_palette(self.palette())
            self._grid.invalidate()
            self.minimap.invalidate()
        super().changeEvent(event)

    # --- background ---------------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        self._grid.paint(painter, self, rect)
        self.journey_scene.paint_layers(painter, rect, self.zoom)  # links, and zoomed out tiles: in a few calls

    # --- mouse --------------------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.set_zoom(self.zoom * 1.0015 ** delta, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._close_editor()
        pos = event.position()
        if self.flow is not None and self.flow.candidates and event.button() == Qt.MouseButton.LeftButton:
            index = self.flow.marker_at(self.mapToScene(pos.toPoint()))
            if index is None:  # a click away from the insertion points leaves the add
                self.flow.cancel()
            else:
                self.flow.set_current(index)
                self.flow.commit()
            event.accept()
            return
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            hit = self.journey_scene.port_at(self.mapToScene(pos.toPoint()))
            if hit is not None:
                self._start_link(*hit)
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        if self._link is not None:
            self._drag_link(self.mapToScene(pos.toPoint()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton,
                                                             Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        if self._link is not None and event.button() == Qt.MouseButton.LeftButton:
            self._end_link(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # --- linking by dragging from a port ------------------------------------------------------------------
    def _start_link(self, step: str, port: str) -> None:
        self._link = (step, port)
        line = QGraphicsPathItem()
        line.setPen(self.journey_scene.theme.rubber_pen)
        line.setZValue(30.0)
        self.journey_scene.addItem(line)
        self._link_line = line

    def _drag_link(self, pos: QPointF) -> None:
        assert self._link is not None
        source = self.journey_scene.tile_item(self._link[0])
        if source is None or self._link_line is None or not isValid(self._link_line):
            self._cancel_link()
            return
        start = source.port_scene_pos(self._link[1])
        reach = max(30.0, abs(pos.x() - start.x()) * 0.5)
        path = QPainterPath(start)
        path.cubicTo(QPointF(start.x() + reach, start.y()), QPointF(pos.x() - reach, pos.y()), pos)
        self._link_line.setPath(path)
        target = self.journey_scene.tile_at(pos)
        target = target if target is not None and target is not source else None
        if target is not self._link_target:
            if self._link_target is not None and isValid(self._link_target):
                self._link_target.set_link_target(False)
            if target is not None:
                target.set_link_target(True)
            self._link_target = target

    def _end_link(self, pos: QPointF) -> None:
        assert self._link is not None
        step, port = self._link
        target = self.journey_scene.tile_at(pos)
        self._cancel_link()
        if target is not None and target.step_id != step:
            self.edits.connect(step, port, target.step_id)

    def _cancel_link(self) -> None:
        if self._link_line is not None and isValid(self._link_line) and self._link_line.scene() is not None:
            self.journey_scene.removeItem(self._link_line)
        if self._link_target is not None and isValid(self._link_target):
            self._link_target.set_link_target(False)
        self._link, self._link_line, self._link_target = None, None, None

    # --- context menus -------------------------------------------------------------------------------------
    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        from designer.canvas.context_menu import canvas_menu
        if self.flow is not None:
            self.flow.cancel()
        pos, where = self.mapToScene(event.pos()), event.globalPos()
        if event.reason() == QContextMenuEvent.Reason.Keyboard:  # the Menu key or Shift+F10: the current tile
            ids = self.journey_scene.selected_step_ids()
            tile = self.journey_scene.tile_item(self.current_step if self.current_step in ids else ids[0]) \
                if ids else None
            if tile is not None:
                pos = tile.sceneBoundingRect().center()
                where = self.viewport().mapToGlobal(self.mapFromScene(pos))
        menu = canvas_menu(self, pos)
        if not menu.isEmpty():
            menu.exec(where)
        menu.deleteLater()
        event.accept()

    # --- drag and drop from the palette -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if tile_type_of(event.mimeData()) and self.journey_scene.journey is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        type_id = tile_type_of(event.mimeData())
        if type_id is None or self.journey_scene.journey is None:
            event.ignore()
            return
        self.journey_scene.set_drop_target(self._drop_target(type_id, event.position()))
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.journey_scene.set_drop_target(None)
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        type_id = tile_type_of(event.mimeData())
        self.journey_scene.set_drop_target(None)
        if type_id is None or self.journey_scene.journey is None:
            event.ignore()
            return
        at = self.mapToScene(event.position().toPoint())
        added = self.edits.add_tile(type_id, self._drop_target(type_id, event.position()), at)
        event.acceptProposedAction()
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        if added is not None:
            self.tileAdded.emit(added)

    def _drop_target(self, type_id: str, pos: QPointF):  # type: ignore[no-untyped-def]
        tile = REGISTRY[type_id]
        # A tile without outputs cannot continue a link, so it is not offered the links to drop on.
        return self.journey_scene.target_at(self.mapToScene(pos.toPoint()),
                                            edges=bool(tile.ports_for(tile.defaults())))

    # --- keys ---------------------------------------------------------------------------------------------
    def _key_action(self, event: QKeyEvent) -> Callable[[], object] | None:
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        none, ctrl = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier
        standard: list[tuple[QKeySequence.StandardKey, Callable[[], object]]] = [
            (QKeySequence.StandardKey.Copy, self.copy), (QKeySequence.StandardKey.Cut, self.cut),
            (QKeySequence.StandardKey.Paste, self.paste), (QKeySequence.StandardKey.SelectAll, self.select_all),
            (QKeySequence.StandardKey.ZoomIn, self.zoom_in), (QKeySequence.StandardKey.ZoomOut, self.zoom_out)]
        for sequence, action in standard:
            if event.matches(sequence):
                return action
        if mods == none and key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            return self.delete_selection
        if mods == none and key == Qt.Key.Key_F2:
            return self.rename_selected
        if mods == none and key in _ARROW_KEYS:
            return lambda: self.move_selection(_ARROW_KEYS[key])
        if mods == ctrl and key == Qt.Key.Key_D:
            return self.duplicate
        if mods == none and key == Qt.Key.Key_Escape and self.journey_scene.selectedItems():
            return lambda: self.journey_scene.select_steps([])
        if (mods == none and key == Qt.Key.Key_Menu) or (mods == Qt.KeyboardModifier.ShiftModifier
                                                        and key == Qt.Key.Key_F10):
            return self.keyboard_menu  # handled here, so the platform does not open a second one
        return None

    def keyboard_menu(self) -> None:
        """The context menu of the current tile (or of the canvas), as the Menu key or Shift+F10 open it."""
        centre = self.viewport().rect().center()
        self.contextMenuEvent(QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, centre,
                                                self.viewport().mapToGlobal(centre)))

    def event(self, event: QEvent) -> bool:
        choosing = self.flow is not None and bool(self.flow.candidates)
        # Claim our keys before window-wide shortcuts (Edit > Copy...) while the canvas has the focus.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if choosing or self._key_action(event) is not None:
                event.accept()
                return True
        # While choosing an insertion point, Tab moves between points instead of moving the focus away.
        if (choosing and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)):
            self.keyPressEvent(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.flow is not None and self.flow.handle_key(event):
            event.accept()
            return
        action = self._key_action(event)
        if action is not None:
            action()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: object) -> None:
        self._space = False
        super().focusOutEvent(event)  # type: ignore[arg-type]

    # --- public editing actions ---------------------------------------------------------------------------
    def copy(self) -> bool:
        """Copy the selected tiles to the system clipboard."""
        return self.edits.copy()

    def cut(self) -> bool:
        """Copy the selected tiles, then delete them."""
        return self.edits.cut()

    def paste(self) -> list[str]:
        """Paste copied tiles into this journey; returns the new step ids."""
        return self.edits.paste()

    def duplicate(self) -> list[str]:
        """Duplicate the selected tiles; returns the new step ids."""
        return self.edits.duplicate()

    def delete_selection(self) -> bool:
        """Delete the selected tiles (or, when only links are selected, those links)."""
        return self.edits.delete_selection()

    def select_all(self) -> None:
        """Select every tile."""
        self.edits.select_all()

    def move_selection(self, arrow: Arrow) -> str | None:
        """Select the next tile along the links in the arrow's direction."""
        return self.edits.move_selection(arrow)

    def auto_layout(self, direction: Direction = "LR") -> bool:
        """Arrange all tiles in layers as one undoable move, then show the whole journey."""
        done = self.edits.auto_layout(direction)
        if done:
            self.fit()
        return done

    def rename_selected(self, name: str | None = None) -> bool:
        """Rename the selected tile to `name`, or open the inline name editor over it when `name` is None."""
        if not isinstance(name, str):  # connected straight to QAction.triggered, the slot gets `checked`
            name = None
        ids = self.journey_scene.selected_step_ids()
        if not ids:
            return False
        step_id = self.current_step if self.current_step in ids else ids[0]
        if name is not None:
            return self.edits.rename(step_id, name)
        journey, tile = self.journey_scene.journey, self.journey_scene.tile_item(step_id)
        if journey is None or tile is None:
            return False
        self._close_editor()
        self.ensureVisible(tile, 40, 40)
        area = tile.mapRectToScene(QRectF(TEXT_X - 6.0, tile.height / 2 - 16.0, TILE_W - TEXT_X - 2.0, 26.0))
        rect = self.mapFromScene(area).boundingRect()
        rect.setHeight(max(rect.height(), 26))
        rect.setWidth(max(rect.width(), 180))
        self.rename_editor = InlineRename(self.viewport(), step_id, journey.step(step_id).name, rect,
                                          self._rename_done)
        return True

    def _rename_done(self, step_id: str, name: str | None) -> None:
        self.rename_editor = None
        if name is not None:
            self.edits.rename(step_id, name)
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def _close_editor(self) -> None:
        if self.rename_editor is not None and isValid(self.rename_editor):
            self.rename_editor.finish(self.rename_editor.text())
        self.rename_editor = None

    def start_add_flow(self, type_id: str | None = None, menu_pos: QPoint | None = None) -> AddTileFlow | None:
        """Add a tile with the keyboard: pick the type in a list (unless given; shown at `menu_pos`, a global
        point such as under the command bar's Add button), then an insertion point on the canvas."""
        if self.flow is not None:
            self.flow.cancel()
        if self.journey_scene.journey is None:
            self.journeyNeeded.emit()  # adding a tile with no journey open starts a blank one
            if self.journey_scene.journey is None:
                return None
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.flow = AddTileFlow(self, type_id, menu_pos)
        self.flow.finished.connect(self._flow_done)
        self.flow.start()
        return self.flow

    def _flow_done(self, step_id: object) -> None:
        flow, self.flow = self.flow, None
        if flow is not None:
            flow.deleteLater()
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(step_id, str):
            self.tileAdded.emit(step_id)

    def _on_journey_shown(self, journey_id: object) -> None:
        if self.flow is not None:
            self.flow.cancel()
        self._cancel_link()
        if self.rename_editor is not None and isValid(self.rename_editor):
            self.rename_editor.finish(None)  # its tile may be gone
        self.rename_editor = None
        self.show_start()

    def _on_selected(self, ids: list[str]) -> None:
        if len(ids) == 1:
            self.current_step = ids[0]
        elif self.current_step not in ids:
            self.current_step = ids[0] if ids else None
