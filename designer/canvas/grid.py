"""The dotted grid behind the canvas, painted as one textured fill per frame."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsView

from designer.canvas.theme import Theme

GRID = 24.0           # scene units between dots at 1x
TILE_PX = 120         # the dot tile is made at least this wide (whole steps)
MIN_DOT_GAP = 14.0    # dots never closer than this on screen: zoomed out, every other row and column goes


class DotGrid:
    """Paints the background of a view: its colour with a dot every GRID scene units."""

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self._tiles: dict[tuple[int, float], QPixmap] = {}  # per dot step and pixel ratio (a zoom goes back and forth)

    def invalidate(self) -> None:
        """Forget the cached dot tiles (after a palette change)."""
        self._tiles = {}

    def paint(self, painter: QPainter, view: QGraphicsView, rect: QRectF) -> None:
        zoom = view.transform().m11()
        gap = GRID
        while gap * zoom < MIN_DOT_GAP:
            gap *= 2.0
        step = max(6, round(gap * zoom))
        ratio = view.devicePixelRatioF()
        tile = self._tiles.get((step, ratio))
        if tile is None:
            if len(self._tiles) >= 32:
                self._tiles.pop(next(iter(self._tiles)))
            tile = self._tiles[(step, ratio)] = self._make_tile(step, ratio)
        # One textured fill in device pixels, its origin pinned to the scene origin, instead of drawing dots.
        painter.save()
        painter.resetTransform()
        painter.setBrushOrigin(view.mapFromScene(QPointF(0.0, 0.0)))
        painter.fillRect(view.mapFromScene(rect).boundingRect(), QBrush(tile))
        painter.restore()

    def _make_tile(self, step: int, ratio: float) -> QPixmap:
        # Several dots a side: the textured fill copies the tile a row's width at a time, and a tile of one dot
        # (24 px) made that 60 copies a row (about twice the time of a fill with tiles over TILE_PX wide).
        repeat = max(1, math.ceil(TILE_PX / step))
        side = step * repeat
        pm = QPixmap(round(side * ratio), round(side * ratio))
        pm.setDevicePixelRatio(ratio)
        pm.fill(self.theme.background)  # opaque: the grid fill is the whole background
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.theme.grid)
        for i in range(repeat + 1):
            for j in range(repeat + 1):
                p.drawEllipse(QPointF(i * step, j * step), 1.3, 1.3)
        p.end()
        return pm
