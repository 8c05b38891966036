"""The dotted grid behind the canvas, painted as one textured fill per frame."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsView

from designer.canvas.theme import Theme

GRID = 24.0           # scene units between dots at 1x
MIN_DOT_GAP = 14.0    # dots never closer than this on screen: zoomed out, every other row and column goes


class DotGrid:
    """Paints the background of a view: its colour with a dot every GRID scene units."""

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self._tile: tuple[int, float, QPixmap] | None = None

    def invalidate(self) -> None:
        """Forget the cached dot tile (after a palette change)."""
        self._tile = None

    def paint(self, painter: QPainter, view: QGraphicsView, rect: QRectF) -> None:
        zoom = view.transform().m11()
        gap = GRID
        while gap * zoom < MIN_DOT_GAP:
            gap *= 2.0
        step = max(6, round(gap * zoom))
        ratio = view.devicePixelRatioF()
        if self._tile is None or self._tile[:2] != (step, ratio):
            self._tile = (step, ratio, self._make_tile(step, ratio))
        # One textured fill in device pixels, its origin pinned to the scene origin, instead of drawing dots.
        painter.save()
        painter.resetTransform()
        painter.setBrushOrigin(view.mapFromScene(QPointF(0.0, 0.0)))
        painter.fillRect(view.mapFromScene(rect).boundingRect(), QBrush(self._tile[2]))
        painter.restore()

    def _make_tile(self, step: int, ratio: float) -> QPixmap:
        pm = QPixmap(round(step * ratio), round(step * ratio))
        pm.setDevicePixelRatio(ratio)
        pm.fill(self.theme.background)  # opaque: the grid fill is the whole background
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.theme.grid)
        for x in (0, step):
            for y in (0, step):
                p.drawEllipse(QPointF(x, y), 1.3, 1.3)
        p.end()
        return pm
