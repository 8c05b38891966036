"""Icons: the tile types' SVG glyphs on their colour, and application icons (crisp at any DPI)."""

from __future__ import annotations

import functools

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app.model.registry import REGISTRY
from app.resources import resource_path


@functools.lru_cache(maxsize=None)
def _renderer(name: str) -> QSvgRenderer:
    return QSvgRenderer(str(resource_path("icons", f"{name}.svg")))


def paint_glyph(painter: QPainter, rect: QRectF, icon_name: str) -> None:
    """Draw an icon's white glyph into `rect` (vector: sharp at every zoom and device pixel ratio)."""
    _renderer(icon_name).render(painter, rect)


def tile_pixmap(type_id: str, size: int, ratio: float = 1.0) -> QPixmap:
    """The tile type's glyph on a rounded square of its colour."""
    tile = REGISTRY[type_id]
    pm = QPixmap(QSize(int(size * ratio), int(size * ratio)))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(tile.color))
    p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
    m = size * 0.18
    paint_glyph(p, QRectF(m, m, size - 2 * m, size - 2 * m), tile.icon)
    p.end()
    return pm


@functools.lru_cache(maxsize=None)
def tile_icon(type_id: str) -> QIcon:
    """An icon for palettes and menus, with pixmaps for 1x, 2x and 3x displays."""
    icon = QIcon()
    for size in (16, 24, 32):
        for ratio in (1.0, 2.0, 3.0):
            icon.addPixmap(tile_pixmap(type_id, size, ratio))
    return icon


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons", "app.svg")))
