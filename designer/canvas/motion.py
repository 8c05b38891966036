"""A replay in motion (at LOD_SIMPLE and closer): tiles and links in sight painted by the view from two layers.

While a replay's frames come one after another, only the flows' bands, their counts and the tiles' status lines
change; the links' lines, arrows and port labels, and the tiles' cards and names stay as they are. Painted item by
item, a frame at 1x paints some 60 links and 40 tiles again (a picture copied or a curve filled for each line, a
card, a few lines of text), most of a frame's time. So while frames come (the scene's settle timer runs), the
scene marks its tiles and links as having no contents and the view paints them from its background
(`JourneyScene.paint_layers`): every flow's band in one rough fill (each link's outline kept per width, to a
quarter of a scene unit), one picture of every line in sight, the counts (pictures of their text), one picture of
every card in sight, then the status lines. The pictures cover the items in sight at the view's scale and
sub-pixel phase, so they land where the items' own painting would; they are made again when the view moves or a
tile or link changes (`touch`), and a card whose rows move (a status line that takes one line more) is painted
again in its picture. Within a frame every band is under every line, and where bands cross they are filled once
(painted item by item, a link's band covers the links painted before it); once the frames stop, the items paint
themselves again and the view is exactly as before (tests/test_canvas_motion.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPainterPath, QTransform

from designer.canvas.items import EdgeItem, TileItem, unscaled_copy

if TYPE_CHECKING:
    from PySide6.QtWidgets import QGraphicsScene


COUNTS = 1024  # pictures of flows' counts kept ('12k', '611'...)
# Qt's raster engine hands a fill of more than about 96 rows to its worker threads and waits for them: for a
# small area that costs more than the fill, so a card's area is cleared in strips of fewer rows.
STRIP = 40


class _Layers:
    """The pictures of one view at one transform and size: lines in sight, cards in sight."""

    def __init__(self, key: tuple[object, ...], edges: list[EdgeItem], tiles: list[TileItem], frame: QRect,
                 ratio: float) -> None:
        self.key = key
        self.edges = edges
        self.tiles = tiles
        self.frame = frame  # what the pictures cover, in device pixels of the view: the items in sight, no more
        self.ratio = ratio
        self.lines: QImage | None = None
        self.cards: QImage | None = None
        self.rows: list[tuple[object, ...]] = []  # each tile's rows other than its status lines, as in `cards`


class Motion:
    """What the view paints for the tiles and links in sight while a replay moves (see the module docstring)."""

    def __init__(self, request_update: Callable[[], None]) -> None:
        self.active = False
        self.generation = 0
        self._request_update = request_update
        self._layers: _Layers | None = None
        self._counts: dict[tuple[str, int, int], QImage] = {}  # flows' counts at one scale (see _paint_counts)
        self._counts_at = (0.0, 0.0)

    def touch(self) -> None:
        """A tile or link changed its look (moved, selected, hovered...): the pictures are made again."""
        self.generation += 1
        self._layers = None
        if self.active:
            self._request_update()

    def drop(self) -> None:
        """Forget the pictures (the motion stopped: they would be stale when it starts again)."""
        self._layers = None

    def paint(self, painter: QPainter, scene: QGraphicsScene, lod: float) -> bool:
        """Paint the tiles and links in sight. False: nothing painted (a transform that is not a plain scale)."""
        world = painter.worldTransform()
        if world.type().value > QTransform.TransformationType.TxScale.value:
            return False
        device = painter.device()
        width, height, ratio = device.width(), device.height(), device.devicePixelRatioF()
        key = (self.generation, world.m11(), world.m22(), world.dx(), world.dy(), width, height, ratio)
        layers = self._layers
        if layers is None or layers.key != key:
            unworld, _ = world.inverted()
            area = unworld.mapRect(QRectF(0.0, 0.0, width, height))
            found = scene.items(area, Qt.ItemSelectionMode.IntersectsItemBoundingRect,
                                Qt.SortOrder.AscendingOrder)
            edges = [i for i in found if isinstance(i, EdgeItem) and i.isVisible()]
            tiles = [i for i in found if isinstance(i, TileItem) and i.isVisible()]
            covered = QRectF()
            for item in (*edges, *tiles):
                covered = covered.united(item.sceneBoundingRect())
            scaled = world.mapRect(covered)
            frame = QRectF(scaled.x() * ratio, scaled.y() * ratio, scaled.width() * ratio, scaled.height() * ratio)
            frame_px = frame.toAlignedRect().adjusted(-1, -1, 1, 1).intersected(
                QRect(0, 0, round(width * ratio), round(height * ratio)))
            layers = self._layers = _Layers(key, edges, tiles, frame_px, ratio)
            layers.lines = self._picture(layers)
            if layers.lines is not None:
                p = self._painter(layers.lines, painter, layers)
                for edge in edges:
                    edge.paint_still(p, lod)
                p.end()
        self._paint_bands(painter, layers.edges)
        self._blit(painter, layers, layers.lines)
        self._paint_counts(painter, layers.edges, world, ratio)
        self._paint_cards(painter, layers, lod)
        for tile in layers.tiles:
            painter.setWorldTransform(QTransform.fromTranslate(tile.x(), tile.y()) * world)
            tile.paint_status(painter)
        painter.setWorldTransform(world)
        return True

    def _paint_bands(self, painter: QPainter, edges: list[EdgeItem]) -> None:
        """Every flow's band in one rough fill (where bands cross, they are filled once)."""
        bands = QPainterPath()
        bands.setFillRule(Qt.FillRule.WindingFill)
        for edge in edges:
            outline = edge.moving_band()
            if outline is not None:
                bands.addPath(outline)
        if bands.isEmpty():
            return
        smooth = painter.testRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(edges[0].theme.flow_pen.brush())
        painter.drawPath(bands)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, smooth)

    def _paint_counts(self, painter: QPainter, edges: list[EdgeItem], world: QTransform, ratio: float) -> None:
        """The flows' counts, each copied from a picture of its text made at this scale and at the sub-pixel phase
        of its place (to 1/64 of a pixel), so that it lands where the link's own painting puts it."""
        scale = world.m11()
        if self._counts_at != (scale, ratio):
            self._counts_at = (scale, ratio)
            self._counts = {}
        painter.resetTransform()
        for edge in edges:
            text = edge.flow_text
            if not text:
                continue
            rect = edge.flow_label_rect()
            at = world.map(rect.topLeft())
            x, y = math.floor(at.x() * ratio), math.floor(at.y() * ratio)  # device pixels, and the phase in them
            fx, fy = round((at.x() * ratio - x) * 64.0), round((at.y() * ratio - y) * 64.0)
            key = (text, fx, fy)
            picture = self._counts.get(key)
            if picture is None:
                if len(self._counts) >= COUNTS:
                    self._counts.pop(next(iter(self._counts)))
                picture = QImage(math.ceil(rect.width() * scale * ratio) + 4,
                                 math.ceil(rect.height() * scale * ratio) + 4,
                                 QImage.Format.Format_ARGB32_Premultiplied)
                picture.fill(0)
                p = QPainter(picture)
                p.setRenderHints(painter.renderHints())
                p.translate(2.0 + fx / 64.0, 2.0 + fy / 64.0)
                p.scale(scale * ratio, scale * ratio)
                p.translate(-rect.left(), -rect.top())
                edge.paint_flow_label(p)
                p.end()
                picture.setDevicePixelRatio(ratio)
                self._counts[key] = picture
            unscaled_copy(painter, QPointF((x - 2) / ratio, (y - 2) / ratio), picture)
        painter.setWorldTransform(world)

    def _paint_cards(self, painter: QPainter, layers: _Layers, lod: float) -> None:
        """The cards in sight, from their picture; the cards whose rows moved since are painted again in it."""
        rows = [tile.still_rows() for tile in layers.tiles]
        if layers.cards is None:
            layers.cards = self._picture(layers)
            if layers.cards is not None:
                p = self._painter(layers.cards, painter, layers)
                for tile in layers.tiles:
                    self._paint_card(p, tile, lod)
                p.end()
        elif rows != layers.rows:
            p = self._painter(layers.cards, painter, layers)
            world = p.worldTransform()  # scene to the picture's own pixels
            for tile, now, before in zip(layers.tiles, rows, layers.rows):
                if now == before:
                    continue
                around = tile.sceneBoundingRect()
                spot = world.mapRect(around).toAlignedRect()
                p.resetTransform()
                p.setClipping(False)
                p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
                for top in range(spot.top(), spot.bottom() + 1, STRIP):  # see STRIP
                    p.fillRect(QRect(spot.left(), top, spot.width(), min(STRIP, spot.bottom() + 1 - top)),
                               Qt.GlobalColor.transparent)
                p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
                p.setClipRect(spot)
                p.setWorldTransform(world)
                for other in layers.tiles:  # the card and its neighbours' edges, in their order
                    if other.sceneBoundingRect().intersects(around):
                        self._paint_card(p, other, lod)
            p.end()
        layers.rows = rows
        self._blit(painter, layers, layers.cards)

    @staticmethod
    def _paint_card(painter: QPainter, tile: TileItem, lod: float) -> None:
        world = painter.worldTransform()
        painter.setWorldTransform(QTransform.fromTranslate(tile.x(), tile.y()) * world)
        tile.paint_still(painter, lod)
        painter.setWorldTransform(world)

    @staticmethod
    def _picture(layers: _Layers) -> QImage | None:
        """A transparent picture of the part of the view the items in sight cover (None: there are none)."""
        if layers.frame.isEmpty():
            return None
        picture = QImage(layers.frame.size(), QImage.Format.Format_ARGB32_Premultiplied)
        picture.setDevicePixelRatio(layers.ratio)
        picture.fill(0)
        return picture

    @staticmethod
    def _painter(picture: QImage, like: QPainter, layers: _Layers) -> QPainter:
        """A painter on `picture` with the view painter's hints, its transform from the scene moved to where the
        picture sits in the view."""
        p = QPainter(picture)
        p.setRenderHints(like.renderHints())
        origin = QTransform.fromTranslate(-layers.frame.x() / layers.ratio, -layers.frame.y() / layers.ratio)
        p.setWorldTransform(like.worldTransform() * origin)
        return p

    @staticmethod
    def _blit(painter: QPainter, layers: _Layers, picture: QImage | None) -> None:
        if picture is None:
            return
        world = painter.worldTransform()
        painter.resetTransform()
        unscaled_copy(painter, QPointF(layers.frame.x() / layers.ratio, layers.frame.y() / layers.ratio), picture)
        painter.setWorldTransform(world)
