"""Colours, pens and fonts of the canvas, derived once from the view's palette (light or dark) and shared.

Items read these objects in `paint()` instead of building pens and fonts there: painting a thousand tiles
must not allocate. A palette change re-fills the same Theme object and the scene repaints.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPalette, QPen

from app.model.registry import REGISTRY


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """`a` blended towards `b` by `t` (0 gives a, 1 gives b)."""
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t, a.alphaF() + (b.alphaF() - a.alphaF()) * t)


@functools.lru_cache(maxsize=None)
def type_color(type_id: str) -> QColor:
    """The tile type's colour from the registry (grey for an unknown type)."""
    tile = REGISTRY.get(type_id)
    return QColor(tile.color if tile else "#6b7280")


def _font(pixel_size: int, weight: QFont.Weight = QFont.Weight.Normal) -> QFont:
    font = QFont()
    font.setPixelSize(pixel_size)  # pixels, not points: tiles are laid out in scene units, whatever the DPI
    font.setWeight(weight)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)  # text keeps its shape while zooming
    return font


class Theme:
    """Everything the canvas items paint with."""

    def __init__(self, palette: QPalette | None = None) -> None:
        self.name_font = _font(13, QFont.Weight.DemiBold)
        self.type_font = _font(11, QFont.Weight.DemiBold)
        self.status_font = _font(11)
        self.label_font = _font(10, QFont.Weight.DemiBold)
        self.badge_font = _font(10, QFont.Weight.Bold)
        self.marker_font = _font(12, QFont.Weight.Bold)
        self.name_metrics = QFontMetricsF(self.name_font)
        self.type_metrics = QFontMetricsF(self.type_font)
        self.status_metrics = QFontMetricsF(self.status_font)
        self.label_metrics = QFontMetricsF(self.label_font)
        self.error = QColor("#dc2626")
        self.warning = QColor("#d97706")
        self.white = QColor("#ffffff")
        self.looks = Looks()
        self.strokes = Strokes()
        # While a replay's flows change at every frame, their bands are filled without antialiasing (about a
        # third of the cost); the scene paints them smooth again once the frames stop (see JourneyScene.set_flows)
        self.rough_bands = False
        self.apply(palette or QPalette())

    def apply(self, palette: QPalette) -> None:
        """Re-derive the colours from a palette (called when the view's palette changes)."""
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.looks.clear(0.0)
        self.strokes.clear(0.0)
        self.dark = base.lightnessF() < 0.5
        self.highlight = palette.color(QPalette.ColorRole.Highlight)
        # The canvas sits a shade away from the cards: darker than the page in light mode, darker still in dark.
        self.background = mix(base, QColor("#000000"), 0.25) if self.dark else mix(base, text, 0.035)
        self.grid = mix(self.background, text, 0.22)
        self.card = base if not self.dark else mix(base, text, 0.08)
        self.text = text
        self.muted = mix(text, self.card, 0.42)
        self.faint = mix(text, self.card, 0.7)
        self.border = mix(self.card, text, 0.2)
        self.edge = mix(self.background, text, 0.5)
        self.shadow = QColor(0, 0, 0, 60 if self.dark else 26)

        self.card_brush = QBrush(self.card)
        self.background_brush = QBrush(self.background)
        self.border_pen = QPen(self.border, 1.0)
        self.select_pen = QPen(self.highlight, 2.5)
        halo = QColor(self.highlight)
        halo.setAlphaF(0.28)
        self.halo_pen = QPen(halo, 6.0)
        self.text_pen = QPen(self.text)
        self.muted_pen = QPen(self.muted)
        self.edge_pen = QPen(self.edge, 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.edge_selected_pen = QPen(self.highlight, 2.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.edge_drop_pen = QPen(self.highlight, 4.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.edge_brush = QBrush(self.edge)
        flow = QColor(self.highlight)
        flow.setAlphaF(0.35)
        self.flow_pen = QPen(flow, 4.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.flow_label_pen = QPen(self.highlight.darker(115), 1.0)
        self.flow_label_brush = QBrush(self.highlight)
        self.edge_selected_brush = QBrush(self.highlight)
        self.port_pen = QPen(self.muted, 1.5)
        self.port_free_brush = QBrush(self.card)
        self.port_linked_brush = QBrush(self.edge)
        self.port_hot_brush = QBrush(self.highlight)
        self.rubber_pen = QPen(self.highlight, 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap)
        self.start_brush = QBrush(QColor("#16a34a"))
        self.marker_brush = QBrush(self.highlight)
        self.marker_idle_brush = QBrush(mix(self.highlight, self.card, 0.45))
        self.highlighted_text = palette.color(QPalette.ColorRole.HighlightedText)
        self.highlighted_text_pen = QPen(self.highlighted_text)
        self.minimap_background = QColor(self.card)


class Looks:
    """Tile bodies painted at one scale, shared by the tiles that look alike (see TileItem._paint_look): kept
    while the scale stays, dropped when it changes or the colours do."""

    LIMIT = 256

    def __init__(self) -> None:
        self.scale = 0.0
        self.pictures: dict[object, QImage] = {}

    def clear(self, scale: float) -> None:
        self.scale = scale
        self.pictures = {}

    def put(self, key: object, picture: QImage) -> None:
        if len(self.pictures) >= self.LIMIT:
            self.pictures.pop(next(iter(self.pictures)))
        self.pictures[key] = picture


class Strokes:
    """Pictures of links' lines painted at one scale (see EdgeItem._blit_stroke), each at the sub-pixel phase
    the view put it at: kept while the scale stays (a pan or a replay paints the same lines again), dropped when
    it changes or the colours do, the oldest first beyond a budget of pixels."""

    LARGEST = 400_000    # pixels of one picture: a longer line (zoomed in far) is filled each time
    BUDGET = 8_000_000   # pixels of all of them (32 MB)

    def __init__(self) -> None:
        self.scale = 0.0
        self.pictures: dict[object, QImage] = {}
        self._pixels = 0

    def clear(self, scale: float) -> None:
        self.scale = scale
        self.pictures = {}
        self._pixels = 0

    def put(self, key: object, picture: QImage) -> None:
        self._pixels += picture.width() * picture.height()
        while self.pictures and self._pixels > self.BUDGET:
            old = self.pictures.pop(next(iter(self.pictures)))
            self._pixels -= old.width() * old.height()
        self.pictures[key] = picture
