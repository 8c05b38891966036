"""The canvas items: a tile per step (TileItem) and a curve per link (EdgeItem).

Items only draw what the scene tells them (`TileItem.sync`, `set_status`, `set_findings`); they never read or
edit the model. Everything a paint needs is prepared when the item changes, so painting allocates little.
"""

from __future__ import annotations

import functools
import html
import itertools
import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPainterPathStroker, QPen,
                           QPolygonF, QTransform)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.model.journey import Step
from app.model.registry import END, REGISTRY
from app.words import STATUS_SEP, compact_count
from designer.canvas.boards import FlowBoard, StatusBoard
from designer.canvas.geometry import END_STUB, PORT_HIT, PORT_R, TILE_W, output_port_y, tile_height
from designer.canvas.summary import step_summary
from designer.canvas.theme import Theme, type_color
from designer.icons import paint_glyph

if TYPE_CHECKING:
    from designer.canvas.motion import Motion
    from designer.canvas.overview import Overview

LOD_SIMPLE = 0.4   # below this zoom tiles are coloured cards with only their name
LOD_NAME = 0.12    # below this even the name does not fit: a coloured card
BAND_W = 36.0      # the coloured band holding the type glyph
TEXT_X = BAND_W + 10.0
TEXT_W = TILE_W - TEXT_X - 10.0
RADIUS = 8.0
ARROW = 9.0
END_R = 6.5        # radius of the ringed dot that marks the end of a path
FLOW_LABEL_W = 64.0  # the widest flow count a link leaves room for ('12,345,678')
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter
TILE_FLAGS = (QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
              | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)


@functools.lru_cache(maxsize=16)
def _card_paths(height: float) -> tuple[QPainterPath, QPainterPath]:
    """The coloured band and the shadow sliver of a card of `height` (shared by all tiles of that height)."""
    card = QPainterPath()
    card.addRoundedRect(QRectF(0.0, 0.0, TILE_W, height), RADIUS, RADIUS)
    band = QPainterPath()
    band.addRoundedRect(QRectF(0.0, 0.0, BAND_W + RADIUS, height), RADIUS, RADIUS)
    clip = QPainterPath()
    clip.addRect(QRectF(0.0, 0.0, BAND_W, height))
    # Only the part of the shadow that shows below the card: filling a whole card for it costs pixels.
    return band.intersected(clip), card.translated(0.0, 2.0).subtracted(card)


def port_label_rect(port_pos: QPointF, text: str, side: int, theme: Theme) -> QRectF:
    """Where a port's label goes: just right of the port, above (side -1) or below (side 1) the link."""
    width = theme.label_metrics.horizontalAdvance(text) + 6.0
    return QRectF(port_pos.x() + PORT_R + 3.0, port_pos.y() + (-15.0 if side < 0 else 3.0), width, 13.0)


def label_side(index: int, count: int) -> int:
    """Labels of the upper half of the ports go above their link, the others below: they never collide."""
    return -1 if index < count / 2 else 1


def paint_port_label(painter: QPainter, rect: QRectF, text: str, theme: Theme) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(theme.background_brush)
    painter.drawRoundedRect(rect, 3.0, 3.0)
    painter.setPen(theme.muted_pen)
    painter.setFont(theme.label_font)
    painter.drawText(rect, CENTER, text)


def wrap_text(text: str, metrics: QFontMetricsF, width: float, max_lines: int = 2) -> list[str]:
    """Word-wrap `text` into at most `max_lines` lines of `width`, eliding the last one."""
    words = text.split()
    lines: list[str] = []
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        if metrics.horizontalAdvance(line) > width:  # one word longer than the line
            line = metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
        lines.append(line)
    if words:
        lines.append(metrics.elidedText(" ".join(words), Qt.TextElideMode.ElideRight, width))
    return lines or [""]




def _pack(parts: list[str], metrics: QFontMetricsF, width: float, max_lines: int) -> list[str] | None:
    """Whole parts on lines of `width` ('300k sent · 63k opened'), or None when they need more lines."""
    lines: list[str] = []
    for part in parts:
        if lines and metrics.horizontalAdvance(lines[-1] + STATUS_SEP + part) <= width:
            lines[-1] += STATUS_SEP + part
        elif metrics.horizontalAdvance(part) <= width and len(lines) < max_lines:
            lines.append(part)
        else:
            return None
    return lines


def fit_status(text: str, metrics: QFontMetricsF, width: float, max_lines: int) -> list[str]:
    """A status line measured into at most `max_lines` lines of `width`, never cutting a figure: its parts
    ('0 waiting · 300k sent · 63k opened') are kept whole; when they do not fit, the parts that count nothing are
    left out first ('0 waiting'), and only then is the last line elided. The tooltip has every figure."""
    if max_lines <= 0 or not text:
        return []
    parts = [p for p in text.split(STATUS_SEP) if p]
    fitted = _pack(parts, metrics, width, max_lines)
    if fitted is None:
        counted = [p for p in parts if not (p.startswith("0 ") or p.endswith(" 0"))]
        fitted = _pack(counted, metrics, width, max_lines) if counted != parts else None
    return fitted if fitted is not None else wrap_text(text, metrics, width, max_lines)


def _blit(painter: QPainter, device: QTransform, picture: QImage, x: int, y: int) -> bool:
    """Paint `picture` with its top left corner on device pixel (x, y), unscaled. The device transform is the
    world's followed by the painter's own (where the viewport sits in the window's backing store, and the device
    pixel ratio): the picture goes on whole device pixels through the painter's own, with a world transform that
    only undoes the pixel ratio. False: nothing painted (a transform that cannot be undone)."""
    world = painter.worldTransform()
    unworld, invertible = world.inverted()
    if not invertible:
        return False
    own = unworld * device
    ratio = own.m11()
    if ratio <= 0.0:
        return False
    pixels = QTransform.fromScale(1.0 / ratio, 1.0 / ratio)
    back, invertible = (pixels * own).inverted()
    if not invertible:
        return False
    painter.setWorldTransform(pixels)
    unscaled_copy(painter, back.map(QPointF(x, y)), picture)
    painter.setWorldTransform(world)
    return True


def unscaled_copy(painter: QPainter, at: QPointF, picture: QImage) -> None:
    """Draw `picture` at `at` where the painter's transform neither scales nor moves it off whole pixels. The
    view asks for smooth pixmap transforms (for what is drawn scaled); with that hint on, Qt's raster engine
    draws even such a copy as a textured fill, handed to its worker threads and waited for: 3 to 20 times as
    long, for the same pixels."""
    smooth = painter.testRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    if smooth:
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    painter.drawImage(at, picture)
    if smooth:
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)


_GEOMETRIES = itertools.count()  # each route of a link, named in the keys of its line's pictures (see Strokes)


class TileItem(QGraphicsItem):
    """A step drawn as a card: type colour and glyph, name, type, status line, ports, badges."""

    def __init__(self, step_id: str, theme: Theme) -> None:
        super().__init__()
        self.step_id = step_id
        self.theme = theme
        self.edges: list[EdgeItem] = []      # links into and out of this tile; the scene keeps this list
        self.type_id = ""
        self.ports: tuple[tuple[str, str], ...] = ()   # (port id, label shown; "" for an unlabelled next)
        self.linked: frozenset[str] = frozenset()
        self.is_entry = False
        self.height = tile_height(0)
        self._name = self._type_label = self._summary = ""
        self._status: str | None = None
        self.status_board: StatusBoard | None = None  # the scene's status lines, read when needed (see boards)
        self.overview: Overview | None = None  # told of every change of look while the view paints it zoomed out
        self.motion: Motion | None = None  # told of a hover or a drop highlight while the view paints a replay
        self._board_gen = -1
        self._lod_text: tuple[tuple[str, int], str] = (("", 0), "")  # the name as drawn when zoomed out
        self._errors = self._warnings = 0
        self._drop_port: str | None = None
        self._hover_port: str | None = None
        self._link_target = False
        self._rows: list[tuple[str, QRectF, str]] = []
        self._name_lines: tuple[object, list[str]] = (None, [])  # the name wrapped, and what it was wrapped for
        self._type_line: tuple[object, str] = (None, "")  # the type's label elided, and what for
        self._rows_dirty = False
        self._labels: list[tuple[QRectF, str]] = []
        self._notes: list[str] = []
        self._status_notes: list[str] = []   # figures behind the status line (a simulation replay), for the tooltip
        self._bounds = QRectF()
        self._look_rect = QRectF()  # what the body covers (see _paint_look)
        self._card = QRectF()
        self._band = QPainterPath()
        self._shadow = QPainterPath()
        self.setFlags(TILE_FLAGS)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    # --- state from the scene -----------------------------------------------------------------------------
    def sync(self, step: Step, *, is_entry: bool) -> None:
        """Take over what the step looks like now (type, name, ports, links, summary)."""
        tile = REGISTRY.get(step.type)
        ports = tuple((p.id, "" if p.id == "next" else p.label) for p in step.ports())
        state = (step.type, step.display_name, ports, frozenset(step.outputs), is_entry, step_summary(step))
        if state == (self.type_id, self._name, self.ports, self.linked, self.is_entry, self._summary):
            return
        if ports != self.ports or step.type != self.type_id or is_entry != self.is_entry:
            self.prepareGeometryChange()
        self.type_id, self._name, self.ports, self.linked, self.is_entry, self._summary = state
        self._type_label = tile.label if tile else f"Unknown type '{step.type}'"
        self._layout()
        self.update()
        if self.overview is not None:
            self.overview.touch()

    def set_status(self, text: str | None, notes: list[str] | None = None, *, visible: bool = True) -> None:
        """Show `text` on the status line (None: the summary of the step's properties); `notes` (plain text
        lines, e.g. the figures with their intervals) go in the tooltip. `visible=False`: the view is zoomed out
        so far that tiles are drawn without text, so nothing needs repainting now."""
        self._status_notes = [html.escape(n) for n in notes or ()]
        if self.status_board is not None:
            self._board_gen = self.status_board.generation  # what the board says now is superseded
        if text != self._status:
            self._status = text
            # the text rows are placed when next painted: a replay changes every tile's line on every frame,
            # and only the tiles drawn with text need them
            self._rows_dirty = True
            if visible:
                self.update()

    def refresh_status(self, *, now: bool) -> None:
        """The scene posted new status lines on the board: read this tile's now (`now`: it is in sight) and
        repaint it if it changed, or only drop its cached picture (it reads the board when next drawn)."""
        if not now:
            self.update()
        elif self._resolve_status():
            self.update()

    def _resolve_status(self) -> bool:
        """Read the status board if it changed since last read; whether this tile's line changed."""
        board = self.status_board
        if board is None or board.generation == self._board_gen:
            return False
        self._board_gen = board.generation
        self._status_notes = [html.escape(n) for n in board.notes.get(self.step_id, ())]
        text = board.lines.get(self.step_id)
        if text == self._status:
            return False
        self._status = text
        self._rows_dirty = True
        return True

    @property
    def status_text(self) -> str:
        self._resolve_status()
        return self._status if self._status is not None else self._summary

    @property
    def name(self) -> str:
        return self._name

    def set_findings(self, errors: int, warnings: int, notes: list[str] | None = None) -> None:
        """Show a red (errors) or amber (warnings only) badge with the count; `notes` go in the tooltip."""
        notes = [html.escape(n) for n in notes or ()]
        if (errors, warnings, notes) != (self._errors, self._warnings, self._notes):
            self._errors, self._warnings, self._notes = errors, warnings, notes
            self._layout()
            self.update()
            if self.overview is not None:
                self.overview.touch()

    @property
    def findings_count(self) -> tuple[int, int]:
        return self._errors, self._warnings

    def set_drop_port(self, port: str | None) -> None:
        """Highlight the port a dragged tile would be dropped on (None: no highlight)."""
        if port != self._drop_port:
            self._drop_port = port
            self.update()
            self._touch_motion()

    def set_link_target(self, on: bool) -> None:
        """Highlight the tile as the target of a link being dragged."""
        if on != self._link_target:
            self._link_target = on
            self.update()
            self._touch_motion()

    def _touch_motion(self) -> None:
        if self.motion is not None:
            self.motion.touch()

    def _layout(self) -> None:
        t = self.theme
        self.height = tile_height(len(self.ports))
        self._card = QRectF(0.0, 0.0, TILE_W, self.height)
        self._layout_rows()
        self._band, self._shadow = _card_paths(self.height)
        self._labels = []
        right, top, bottom = TILE_W + PORT_R + 4.0, -24.0, self.height + 6.0
        for i, (port, label) in enumerate(self.ports):
            if label and port not in self.linked:
                rect = port_label_rect(self.port_local_pos(port), label, label_side(i, len(self.ports)), t)
                self._labels.append((rect, label))
                right, bottom = max(right, rect.right() + 2.0), max(bottom, rect.bottom() + 2.0)
        self._bounds = QRectF(-PORT_R - 4.0, top, right + PORT_R + 4.0, bottom - top)
        look_top = top if self.is_entry else -4.0  # the "Start" pill, else the selection's halo
        self._look_rect = QRectF(self._bounds.left(), look_top, self._bounds.width(), bottom - look_top)

    def _layout_rows(self) -> None:
        """Place the type, name and status lines (they never change the tile's size)."""
        t = self.theme
        self._resolve_status()
        self._rows_dirty = False
        mode = Qt.TextElideMode.ElideRight
        type_w = TEXT_W - (22.0 if self._errors or self._warnings else 0.0)
        if self._name_lines[0] != (self._name, t.name_metrics):  # kept: a replay lays the rows out at each frame
            self._name_lines = ((self._name, t.name_metrics), wrap_text(self._name, t.name_metrics, TEXT_W, 2))
        names = self._name_lines[1]
        status = fit_status(self.status_text, t.status_metrics, TEXT_W, 3 - len(names))
        if len(names) == 2 and self._status is not None and STATUS_SEP.join(status) != self._status:
            status = fit_status(self._status, t.status_metrics, TEXT_W, 2)
        # Type, name and status stacked and centred vertically; a long name or status takes two lines. Figures
        # (a replay) that need two lines under a two-line name take the type's line: the band's colour and glyph
        # say the type.
        if self._type_line[0] != (self._type_label, type_w, t.type_metrics):
            self._type_line = ((self._type_label, type_w, t.type_metrics),
                               t.type_metrics.elidedText(self._type_label, mode, type_w))
        rows = [] if len(names) + len(status) > 3 else [("type", self._type_line[1], 14.0)]
        rows += [("name", line, 17.0) for line in names] + [("status", line, 14.0) for line in status]
        total = sum(h for _, _, h in rows) + 3.0 + (3.0 if status else 0.0)
        y = (self.height - total) / 2
        self._rows = []
        for i, (kind, text, h) in enumerate(rows):
            if (i == 1 and rows[0][0] == "type") or (kind == "status" and rows[i - 1][0] == "name"):
                y += 3.0
            self._rows.append((kind, QRectF(TEXT_X, y, TEXT_W + 8.0, h), text))
            y += h

    def status_lines(self) -> list[str]:
        """The status lines as drawn (measured into the card)."""
        self._resolve_status()
        if self._rows_dirty:
            self._layout_rows()
        return [text for kind, _rect, text in self._rows if kind == "status"]

    def tooltip(self) -> str:
        """Rich text for the tooltip (built when asked: setting a tooltip on every tile is slow)."""
        self._resolve_status()
        tile = REGISTRY.get(self.type_id)
        tip = [f"<b>{html.escape(self._name)}</b> ({html.escape(self.step_id)})",
               html.escape(tile.label if tile else self.type_id)]
        if self._status_notes:
            tip.extend(self._status_notes)
        elif self.status_text:
            tip.append(html.escape(self.status_text))
        return "<br>".join(tip + self._notes)

    def lod_name(self, size: int, metrics: QFontMetricsF, width: float, lod: float) -> str:
        """The name as drawn zoomed out in `size` px (`metrics`) into `width`: measured once per name and size,
        not per frame; two lines once the card is tall enough on screen."""
        if self._lod_text[0] != (self._name, size):
            lines = 2 if self._card.height() * lod >= 28.0 else 1
            self._lod_text = ((self._name, size), "\n".join(wrap_text(self._name, metrics, width, lines)))
        return self._lod_text[1]

    # --- geometry -----------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds

    def card_rect(self) -> QRectF:
        """The card, in the tile's coordinates (without ports, labels and badges)."""
        return QRectF(self._card)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self._card, RADIUS, RADIUS)
        for i in range(len(self.ports)):
            path.addEllipse(QPointF(TILE_W, output_port_y(i, len(self.ports), self.height)), PORT_HIT, PORT_HIT)
        return path

    def port_local_pos(self, port: str) -> QPointF:
        ids = [p for p, _ in self.ports]
        index = ids.index(port) if port in ids else 0
        return QPointF(TILE_W, output_port_y(index, len(ids), self.height))

    def port_scene_pos(self, port: str) -> QPointF:
        """Centre of an output port, in scene coordinates."""
        return self.mapToScene(self.port_local_pos(port))

    def input_scene_pos(self) -> QPointF:
        """Centre of the input port, in scene coordinates."""
        return self.mapToScene(QPointF(0.0, self.height / 2.0))

    def port_at(self, scene_pos: QPointF, tolerance: float = PORT_HIT) -> str | None:
        """The output port within `tolerance` of a scene point, if any."""
        local = self.mapFromScene(scene_pos)
        for i, (port, _label) in enumerate(self.ports):
            centre = QPointF(TILE_W, output_port_y(i, len(self.ports), self.height))
            if QLineF(local, centre).length() <= tolerance:
                return port
        return None

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.adjust()
            if self.overview is not None:
                self.overview.touch()
        return super().itemChange(change, value)

    def hoverMoveEvent(self, event: object) -> None:
        port = self.port_at(event.scenePos())  # type: ignore[attr-defined]
        if port != self._hover_port:
            self._hover_port = port
            self.setCursor(Qt.CursorShape.CrossCursor if port else Qt.CursorShape.ArrowCursor)
            self.update()
            self._touch_motion()

    def hoverLeaveEvent(self, event: object) -> None:
        if self._hover_port is not None:
            self._hover_port = None
            self.unsetCursor()
            self.update()
            self._touch_motion()

    # --- painting -----------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        t = self.theme
        color = type_color(self.type_id)
        selected = self.isSelected()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < LOD_SIMPLE:
            painter.setPen(t.select_pen if selected else Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(self._card, RADIUS, RADIUS)
            if self._errors:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(t.error)
                painter.drawEllipse(QPointF(TILE_W - 6.0, 6.0), 14.0, 14.0)
            if lod >= LOD_NAME:  # semantic zoom: the name stays readable (11 px on screen), elided
                size = max(1, round(11.0 / lod))
                font = QFont(t.name_font)
                font.setPixelSize(size)
                painter.setFont(font)
                painter.setPen(QColor("#ffffff"))
                box = self._card.adjusted(6.0 / lod, 0.0, -6.0 / lod, 0.0)
                painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter),
                                 self.lod_name(size, QFontMetricsF(font), box.width(), lod))
            return
        self._resolve_status()
        if self._rows_dirty:
            self._layout_rows()
        if self.cacheMode() != QGraphicsItem.CacheMode.NoCache or not self._paint_look(painter, color, selected):
            self._paint_body(painter, color, selected)
        for kind, rect, text in self._rows:
            if kind == "name":
                painter.setFont(t.name_font)
                painter.setPen(t.text_pen)
            elif kind == "status":
                painter.setFont(t.status_font)
                painter.setPen(t.muted_pen)
            else:
                continue  # the type's line is part of the body
            painter.drawText(rect, LEFT, text)
        if self._errors or self._warnings:
            self._paint_badge(painter)

    def still_rows(self) -> tuple[object, ...]:
        """Where the rows other than the status lines are (a status line that takes one line more moves them)."""
        self._resolve_status()
        if self._rows_dirty:
            self._layout_rows()
        return tuple((kind, rect.top(), text) for kind, rect, text in self._rows if kind != "status")

    def paint_still(self, painter: QPainter, lod: float) -> None:
        """The tile but its status lines, at LOD_SIMPLE or closer (see motion.py)."""
        t = self.theme
        self._paint_body(painter, type_color(self.type_id), self.isSelected())  # exactly as the cached tile
        painter.setFont(t.name_font)
        painter.setPen(t.text_pen)
        for kind, rect, text in self._rows:
            if kind == "name":
                painter.drawText(rect, LEFT, text)
        if self._errors or self._warnings:
            self._paint_badge(painter)

    def paint_status(self, painter: QPainter) -> None:
        """The status lines alone (see motion.py)."""
        t = self.theme
        painter.setFont(t.status_font)
        painter.setPen(t.muted_pen)
        for kind, rect, text in self._rows:
            if kind == "status":
                painter.drawText(rect, LEFT, text)

    def _paint_body(self, painter: QPainter, color: QColor, selected: bool) -> None:
        """Everything but the name, the status lines and the badge: the same for every tile of a type in the
        same state (see _paint_look)."""
        t = self.theme
        card = self._card
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.shadow)
        painter.drawPath(self._shadow)
        if selected or self._link_target:
            painter.setPen(t.halo_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(card, RADIUS, RADIUS)
        painter.setPen(t.select_pen if selected or self._link_target else t.border_pen)
        painter.setBrush(t.card_brush)
        painter.drawRoundedRect(card, RADIUS, RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawPath(self._band)
        glyph = 20.0
        paint_glyph(painter, QRectF((BAND_W - glyph) / 2, (self.height - glyph) / 2, glyph, glyph),
                    REGISTRY[self.type_id].icon if self.type_id in REGISTRY else "exit")
        for kind, rect, text in self._rows:
            if kind == "type":
                painter.setFont(t.type_font)
                painter.setPen(t.muted_pen if t.dark else color)
                painter.drawText(rect, LEFT, text)
        self._paint_ports(painter)
        if self.is_entry:
            self._paint_start(painter)

    def _paint_look(self, painter: QPainter, color: QColor, selected: bool) -> bool:
        """Paint the body from a picture made at this scale for every tile that looks the same (type, ports,
        state), and shared by them: while a zoom or a replay paints tiles straight into the view, a frame paints
        each look once instead of each tile. The picture is placed on whole device pixels (at most half a pixel
        from where the tile's own drawing would put it). False: the transform is not a plain scale."""
        device = painter.deviceTransform()
        if device.type().value > QTransform.TransformationType.TxScale.value or device.m11() <= 0.0:
            return False
        scale = device.m11()
        type_row = next(((rect.top(), text) for kind, rect, text in self._rows if kind == "type"), None)
        key = (self.type_id, self.height, self.ports, self.linked, self.is_entry, selected, self._link_target,
               self._drop_port, self._hover_port, type_row)
        looks = self.theme.looks
        if looks.scale != scale:
            looks.clear(scale)
        picture = looks.pictures.get(key)
        bounds = self._look_rect
        if picture is None:
            picture = QImage(math.ceil(bounds.width() * scale) + 1, math.ceil(bounds.height() * scale) + 1,
                             QImage.Format.Format_ARGB32_Premultiplied)
            picture.fill(0)
            p = QPainter(picture)
            p.setRenderHints(painter.renderHints())
            p.scale(scale, scale)
            p.translate(-bounds.left(), -bounds.top())
            self._paint_body(p, color, selected)
            p.end()
            looks.put(key, picture)
        at = device.map(bounds.topLeft())
        return _blit(painter, device, picture, round(at.x()), round(at.y()))

    def _paint_ports(self, painter: QPainter) -> None:
        t = self.theme
        painter.setPen(t.port_pen)
        painter.setBrush(t.port_free_brush)
        painter.drawEllipse(QPointF(0.0, self.height / 2), PORT_R - 1.0, PORT_R - 1.0)
        n = len(self.ports)
        for i, (port, _label) in enumerate(self.ports):
            centre = QPointF(TILE_W, output_port_y(i, n, self.height))
            hot = port in (self._drop_port, self._hover_port)
            painter.setPen(t.port_pen)
            painter.setBrush(t.port_hot_brush if hot else
                             t.port_linked_brush if port in self.linked else t.port_free_brush)
            radius = PORT_R + 2.0 if hot else PORT_R
            painter.drawEllipse(centre, radius, radius)
        for rect, label in self._labels:
            paint_port_label(painter, rect, label, t)

    def _paint_start(self, painter: QPainter) -> None:
        t = self.theme
        rect = QRectF(0.0, -21.0, 58.0, 17.0)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.start_brush)
        painter.drawRoundedRect(rect, 8.5, 8.5)
        paint_glyph(painter, QRectF(5.0, -19.0, 13.0, 13.0), "entry")
        painter.setPen(t.white)
        painter.setFont(t.label_font)
        painter.drawText(rect.adjusted(19.0, 0.0, 0.0, 0.0),
                         LEFT, "Start")

    def _paint_badge(self, painter: QPainter) -> None:
        t = self.theme
        count = self._errors or self._warnings
        centre = QPointF(TILE_W - 16.0, 16.0)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.error if self._errors else t.warning)
        painter.drawEllipse(centre, 9.0, 9.0)
        painter.setPen(t.white)
        painter.setFont(t.badge_font)
        painter.drawText(QRectF(centre.x() - 9.0, centre.y() - 9.0, 18.0, 18.0), CENTER,
                         str(count) if count < 10 else "9+")


class EdgeItem(QGraphicsItem):
    """A link from an output port to a tile's input (an arrow), or to the end of the journey (a stub)."""

    def __init__(self, source: TileItem, port: str, target: TileItem | None, theme: Theme) -> None:
        super().__init__()
        self.source, self.port, self.target, self.theme = source, port, target, theme
        self.label = dict(source.ports).get(port, "")
        self._path = QPainterPath()
        self._arrow = QPolygonF()
        self._label_rect = QRectF()
        self._end_at: QPointF | None = None
        self._bounds = QRectF()
        self._shape: QPainterPath | None = None
        self._outlines: dict[float, QPainterPath] = {}  # pen width -> the stroke's outline (see _stroke)
        self._moving_bands: dict[float, QPainterPath] = {}  # band width -> its outline (see paint_moving_band)
        self._band_pen = QPen()  # the flow's band: its pen and the width of its outline in _outlines[-1.0]
        self._band_width = 0.0
        self._geometry = next(_GEOMETRIES)  # the route's name in the keys of the line's pictures
        self._stroke_scale = 0.0  # the scale of the latest paint (a picture of the line is made at a steady one)
        self._drop = False
        self._flow: int | None = None   # contacts that passed along the link (a simulation replay), or None
        self.flow_board: FlowBoard | None = None  # the scene's flows, read when needed (see boards)
        self.overview: Overview | None = None  # told of every change of look while the view paints it zoomed out
        self._flow_gen = -1
        self._flow_w = 0.0
        self._flow_text: str | None = ""
        self._flow_rect = QRectF()
        self._flow_at = QPointF()
        self.setZValue(-1.0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.adjust()

    @property
    def key(self) -> tuple[str, str]:
        return self.source.step_id, self.port

    @property
    def target_id(self) -> str:
        return self.target.step_id if self.target is not None else END

    def point_at(self, fraction: float) -> QPointF:
        """A point along the drawn link (0: at the port, 1: at the arrow tip or the end marker)."""
        return self._path.pointAtPercent(fraction)

    @property
    def flow(self) -> int | None:
        self._resolve_flow()
        return self._flow

    @property
    def _flow_width(self) -> float:
        """The flow's stroke width as drawn (0.0: no flow band)."""
        self._resolve_flow()
        return self._flow_w

    def refresh_flow(self) -> None:
        """The scene posted new flows on the board and this link is in sight: read it, repaint if it changed."""
        count, width = self.flow_board.flow(self.key) if self.flow_board is not None else (None, 0.0)
        self.set_flow(count, width)

    def _resolve_flow(self) -> None:
        board = self.flow_board
        if board is not None and board.generation != self._flow_gen:
            self._flow_gen = board.generation
            self._take_flow(*board.flow(self.key))

    def _take_flow(self, count: int | None, width: float) -> bool:
        if (count, width) == (self._flow, self._flow_w):
            return False
        self._flow, self._flow_w = count, width
        self._flow_text = None  # written when drawn with text: zoomed out, links show their width only
        self._flow_rect = QRectF()  # measured when painted
        return True

    def set_flow(self, count: int | None, width: float = 0.0) -> None:
        """Draw the flow that has passed along the link: `count` contacts as a label, `width` the stroke (None:
        no flow shown, the plain link). The bounds always leave room for the label, so a changing count is a
        repaint, not a geometry change (a replay changes every link's count on every frame)."""
        if self.flow_board is not None:
            self._flow_gen = self.flow_board.generation  # what the board says now is superseded
        # abbreviated as the status lines are ('161k'), so a short link's label stays clear of the port dots;
        # the tooltip (tooltip()) has the exact count
        if self._take_flow(count, width):
            self.update()

    @property
    def flow_text(self) -> str:
        """The flow's count as its label shows it ('' when no flow is shown)."""
        self._resolve_flow()
        if self._flow_text is None:
            self._flow_text = "" if self._flow is None else compact_count(self._flow)
        return self._flow_text

    def _flow_label_rect(self) -> QRectF:
        if self._flow_rect.isNull() and self.flow_text:
            w = min(FLOW_LABEL_W, self.theme.status_metrics.horizontalAdvance(self.flow_text) + 10.0)
            self._flow_rect = QRectF(self._flow_at.x() - w / 2, self._flow_at.y() - 8.0, w, 16.0)
        return self._flow_rect

    def set_drop_highlight(self, on: bool) -> None:
        if on != self._drop:
            self._drop = on
            self.update()
            if self.overview is not None:
                self.overview.touch()

    def pen_kind(self) -> str:
        """Which of the theme's pens the link is drawn with: 'drop', 'selected' or 'plain'."""
        return "drop" if self._drop else "selected" if self.isSelected() else "plain"

    def path(self) -> QPainterPath:
        """The link's curve, in scene coordinates."""
        return self._path

    def adjust(self) -> None:
        """Re-route the curve after a tile moved or its ports changed."""
        self.prepareGeometryChange()
        ports = [p for p, _ in self.source.ports]
        self.label = dict(self.source.ports).get(self.port, "")
        start = self.source.port_scene_pos(self.port)
        side = label_side(ports.index(self.port) if self.port in ports else 0, len(ports))
        self._label_rect = port_label_rect(start, self.label, side, self.theme) if self.label else QRectF()
        path = QPainterPath(start)
        if self.target is None:
            path.lineTo(start.x() + END_STUB, start.y())
            self._end_at = QPointF(start.x() + END_STUB + END_R, start.y())
            self._arrow = QPolygonF()
        else:
            tip = self.target.input_scene_pos() - QPointF(PORT_R + 1.0, 0.0)
            dx = tip.x() - start.x()
            reach = max(40.0, abs(dx) * 0.5) if dx > 0 else max(80.0, min(240.0, -dx * 0.5 + 80.0))
            path.cubicTo(QPointF(start.x() + reach, start.y()), QPointF(tip.x() - ARROW - reach, tip.y()),
                         QPointF(tip.x() - ARROW, tip.y()))
            path.lineTo(tip)
            self._arrow = QPolygonF([tip, QPointF(tip.x() - ARROW, tip.y() - ARROW * 0.55),
                                     QPointF(tip.x() - ARROW, tip.y() + ARROW * 0.55)])
            self._end_at = None
        self._path = path
        self._shape = None
        self._outlines = {}
        self._moving_bands = {}
        self._geometry = next(_GEOMETRIES)
        bounds = path.controlPointRect().adjusted(-10.0, -10.0, 10.0, 10.0)
        if self._end_at is not None:
            bounds = bounds.united(QRectF(self._end_at.x() - END_R - 3.0, self._end_at.y() - END_R - 3.0,
                                          2 * END_R + 6.0, 2 * END_R + 6.0))
        if self.label:
            bounds = bounds.united(self._label_rect.adjusted(-2.0, -2.0, 2.0, 2.0))
        bounds = bounds.adjusted(-6.0, -6.0, 6.0, 6.0)  # room for a thick flow stroke
        if self.overview is not None:
            self.overview.touch()
        self._flow_at = self._path.pointAtPercent(0.5 if self.target is not None else 0.55)
        self._flow_rect = QRectF()
        room = QRectF(self._flow_at.x() - FLOW_LABEL_W / 2 - 2.0, self._flow_at.y() - 10.0, FLOW_LABEL_W + 4.0, 20.0)
        self._bounds = bounds.united(room)

    def tooltip(self) -> str:
        self._resolve_flow()
        via = f" ({self.label})" if self.label else ""
        text = f"{html.escape(self.source.name)}{via} → " + (
            html.escape(self.target.name) if self.target is not None else "the journey ends here")
        if self._flow is not None:
            text += f"<br>{self._flow:,} contact{'s' if self._flow != 1 else ''} passed so far"
        return text

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:  # built on demand: only hit tests and rubber bands need it
            stroker = QPainterPathStroker()
            stroker.setWidth(14.0)
            self._shape = stroker.createStroke(self._path)
            if self._end_at is not None:
                self._shape.addEllipse(self._end_at, END_R + 4.0, END_R + 4.0)
        return self._shape

    def _stroke(self, painter: QPainter, pen: QPen, lod: float, *, band: bool = False) -> None:
        """Stroke the link with `pen`. A line at least a pixel wide is filled from its outline, made once per
        pen width when the link moves: stroking a curve anew on every frame cost most of a zoom frame. A
        thinner line (zoomed out) is stroked: the rasterizer draws hairlines faster than it fills them. The
        flow's band (`band`) keeps the outline of its latest width only (a replay changes it at every frame)."""
        if pen.widthF() * lod < 1.0:
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self._path)
            return
        key = -1.0 if band else pen.widthF()
        outline = self._outlines.get(key)
        if outline is None or (band and self._band_width != pen.widthF()):
            stroker = QPainterPathStroker(pen)
            outline = self._outlines[key] = stroker.createStroke(self._path)
            if band:
                self._band_width = pen.widthF()
        if not band and self._blit_stroke(painter, pen, outline):
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pen.brush())
        painter.drawPath(outline)

    def _blit_stroke(self, painter: QPainter, pen: QPen, outline: QPainterPath) -> bool:
        """Paint the line from a picture of it made at this scale (see Strokes): filling a curve's outline costs
        the rasterizer a pass over every row the link spans, copying its picture a fraction of that. The picture
        is made on the second paint at the same scale (while a zoom changes the scale at every frame, the line
        is filled as before) with the same sub-pixel phase as the view's, so it lands exactly where the fill
        would. False: not painted (a changing scale, a transform that is not a plain scale, a large picture)."""
        device = painter.deviceTransform()
        if device.type().value > QTransform.TransformationType.TxScale.value or device.m11() <= 0.0:
            return False
        scale = device.m11()
        if scale != self._stroke_scale:
            self._stroke_scale = scale
            return False
        bounds = outline.controlPointRect()
        at = device.map(bounds.topLeft())
        ix, iy = math.floor(at.x()), math.floor(at.y())
        fx, fy = at.x() - ix, at.y() - iy
        strokes = self.theme.strokes
        if strokes.scale != scale:
            strokes.clear(scale)
        key = (self._geometry, pen.widthF(), pen.color().rgba(), round(fx * 64.0), round(fy * 64.0))
        picture = strokes.pictures.get(key)
        if picture is None:
            width, height = math.ceil(bounds.width() * scale + fx) + 2, math.ceil(bounds.height() * scale + fy) + 2
            if width * height > strokes.LARGEST:
                return False
            picture = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
            picture.fill(0)
            p = QPainter(picture)
            p.setRenderHints(painter.renderHints())
            p.translate(fx, fy)
            p.scale(scale, scale)
            p.translate(-bounds.left(), -bounds.top())
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pen.brush())
            p.drawPath(outline)
            p.end()
            strokes.put(key, picture)
        return _blit(painter, device, picture, ix, iy)

    def paint_flow_label(self, painter: QPainter) -> None:
        """The flow's count on the link (nothing when no flow is shown)."""
        if self.flow_text:
            t = self.theme
            rect = self._flow_label_rect()
            painter.setPen(t.flow_label_pen)
            painter.setBrush(t.flow_label_brush)
            painter.drawRoundedRect(rect, 8.0, 8.0)
            painter.setPen(t.highlighted_text_pen)
            painter.setFont(t.status_font)
            painter.drawText(rect, CENTER, self.flow_text)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        self.draw(painter, option.levelOfDetailFromTransform(painter.worldTransform()))

    def draw(self, painter: QPainter, lod: float) -> None:
        """Paint the link at `lod` (zoomed out, the view paints links in batches instead: see overview.py)."""
        t = self.theme
        self._resolve_flow()
        if self._flow_w > 0.0:  # the flow under the link, as a translucent band as wide as the flow
            if self._band_pen.widthF() != self._flow_w or self._band_pen.color() != t.flow_pen.color():
                self._band_pen = QPen(t.flow_pen)
                self._band_pen.setWidthF(self._flow_w)
            if t.rough_bands and painter.testRenderHint(QPainter.RenderHint.Antialiasing):
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
                self._stroke(painter, self._band_pen, lod, band=True)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            else:
                self._stroke(painter, self._band_pen, lod, band=True)
        self._paint_line(painter, lod)
        if lod < LOD_SIMPLE:
            return
        self.paint_flow_label(painter)
        self._paint_marks(painter)

    def paint_still(self, painter: QPainter, lod: float) -> None:
        """What a replay's frame leaves as it is: the line, the arrow or the end marker, the port's label (see
        motion.py: the band and the count are painted apart)."""
        self._paint_line(painter, lod)
        if lod >= LOD_SIMPLE:
            self._paint_marks(painter)

    def moving_band(self) -> QPainterPath | None:
        """The outline of the flow's band while a replay moves, kept per width to a quarter of a scene unit (a
        replay changes every link's width at every frame; see motion.py). None: no flow on this link."""
        self._resolve_flow()
        if self._flow_w <= 0.0:
            return None
        width = max(0.25, round(self._flow_w * 4.0) / 4.0)
        outline = self._moving_bands.get(width)
        if outline is None:
            if len(self._moving_bands) >= 64:
                self._moving_bands.pop(next(iter(self._moving_bands)))
            pen = QPen(self.theme.flow_pen)
            pen.setWidthF(width)
            outline = self._moving_bands[width] = QPainterPathStroker(pen).createStroke(self._path)
        return outline

    def flow_label_rect(self) -> QRectF:
        """Where the flow's count goes (an empty rectangle when no flow is shown)."""
        return self._flow_label_rect() if self.flow_text else QRectF()

    def _paint_line(self, painter: QPainter, lod: float) -> None:
        t = self.theme
        self._stroke(painter, t.edge_drop_pen if self._drop else t.edge_selected_pen if self.isSelected()
                     else t.edge_pen, lod)

    def _paint_marks(self, painter: QPainter) -> None:
        """The arrow or the end marker, and the port's label."""
        t = self.theme
        hot = self._drop or self.isSelected()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.edge_selected_brush if hot else t.edge_brush)
        if not self._arrow.isEmpty():
            painter.drawPolygon(self._arrow)
        if self._end_at is not None:
            painter.setPen(t.edge_selected_pen if hot else t.edge_pen)
            painter.setBrush(t.card_brush)
            painter.drawEllipse(self._end_at, END_R, END_R)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(t.edge_selected_brush if hot else t.edge_brush)
            painter.drawEllipse(self._end_at, END_R - 3.0, END_R - 3.0)
        if self.label:
            paint_port_label(painter, self._label_rect, self.label, t)
