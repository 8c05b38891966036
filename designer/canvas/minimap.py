"""The minimap: the whole journey in small, with the visible part framed; click or drag in it to go there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from designer.canvas.theme import type_color

if TYPE_CHECKING:
    from designer.canvas.view import JourneyView

PAD = 8.0


class Minimap(QWidget):
    """A small overview drawn over a corner of the canvas view."""

    SIZE = QSize(200, 128)

    def __init__(self, view: JourneyView) -> None:
        super().__init__(view)
        self.view = view
        self.setFixedSize(self.SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move around the journey")
        self._pixmap: QPixmap | None = None
        self._world = QRectF()
        self._scale = 1.0
        self._offset = QPointF()
        self.wanted = True

    def invalidate(self) -> None:
        """Redraw the tiles (after they were added, removed or moved)."""
        self._pixmap = None
        self.refresh()

    def refresh(self) -> None:
        """Show the minimap when it is wanted and part of the journey is out of sight; repaint the frame."""
        if self.view.scene() is None:  # the scene is going away (its items are already gone)
            self.hide()
            return
        content = self.view.journey_scene.content_rect()
        needed = self.wanted and not content.isNull() and not self.view.visible_scene_rect().contains(content)
        if needed != self.isVisible():
            self.setVisible(needed)
        if needed:
            self.update()

    def _map(self) -> None:
        world = self.view.journey_scene.content_rect()
        if world.isNull():
            world = QRectF(-200.0, -150.0, 400.0, 300.0)
        world = world.adjusted(-40.0, -40.0, 40.0, 40.0)
        inner = QRectF(PAD, PAD, self.width() - 2 * PAD, self.height() - 2 * PAD)
        self._scale = min(inner.width() / world.width(), inner.height() / world.height())
        self._offset = QPointF(inner.center().x() - world.center().x() * self._scale,
                               inner.center().y() - world.center().y() * self._scale)
        self._world = world

    def to_map(self, p: QPointF) -> QPointF:
        """A scene point in minimap coordinates."""
        self._map()
        return self._to_map(p)

    def _to_map(self, p: QPointF) -> QPointF:
        return QPointF(p.x() * self._scale + self._offset.x(), p.y() * self._scale + self._offset.y())

    def to_scene(self, p: QPointF) -> QPointF:
        """A minimap point in scene coordinates."""
        self._map()
        return QPointF((p.x() - self._offset.x()) / self._scale, (p.y() - self._offset.y()) / self._scale)

    def _render(self) -> QPixmap:
        self._map()
        ratio = self.devicePixelRatioF()
        pm = QPixmap(self.size() * ratio)
        pm.setDevicePixelRatio(ratio)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        theme = self.view.journey_scene.theme
        p.setPen(QPen(theme.edge, 1.0))
        for edge in self.view.journey_scene.edge_items():
            start = self._to_map(edge.source.port_scene_pos(edge.port))
            end = self._to_map(edge.target.input_scene_pos()) if edge.target is not None else start
            p.drawLine(start, end)
        p.setPen(Qt.PenStyle.NoPen)
        s = self._scale
        for tile in self.view.journey_scene.tile_items():
            top_left = self._to_map(tile.pos())
            p.setBrush(type_color(tile.type_id))
            p.drawRoundedRect(QRectF(top_left.x(), top_left.y(), max(2.0, 200.0 * s), max(1.5, tile.height * s)),
                              1.5, 1.5)
        p.end()
        return pm

    def paintEvent(self, event: QPaintEvent) -> None:
        theme = self.view.journey_scene.theme
        if self._pixmap is None or self._pixmap.size() != self.size() * self.devicePixelRatioF():
            self._pixmap = self._render()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(theme.border, 1.0))
        p.setBrush(theme.minimap_background)
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6.0, 6.0)
        p.drawPixmap(0, 0, self._pixmap)
        visible = self.view.visible_scene_rect()
        frame = QRectF(self._to_map(visible.topLeft()), self._to_map(visible.bottomRight()))
        frame = frame.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        fill = QColor(theme.highlight)
        fill.setAlphaF(0.12)
        p.setBrush(fill)
        p.setPen(QPen(theme.highlight, 1.5))
        p.drawRect(frame)
        p.end()

    def _go(self, event: QMouseEvent) -> None:
        self.view.centerOn(self.to_scene(event.position()))
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._go(event)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()
