"""The journey zoomed out (below LOD_SIMPLE): every tile and link in sight painted by the view in a few calls.

Zoomed out, a tile is a coloured card with its name and a link a thin line (and its flow's band in a replay).
Painted item by item, a 1,000-tile journey costs some 2,400 calls into Python per frame, each drawing a few
pixels, which is most of a frame's time (a replay posts new flows at every frame). So below LOD_SIMPLE the scene
marks its tiles and links as having no contents (Qt no longer calls their `paint`), and the view paints them
here from its background (`JourneyScene.paint_layers`; `JourneyScene.render` the same way).

Items are grouped in squares of the scene (CELL) by where their bounds start; a frame paints the squares in
sight, each from paths made once until a tile or link changes (`touch`): the flows' bands (one path per width on
screen, made again when the flows change), the links (one path per pen), the cards (one per colour), error dots,
selected outlines and, from LOD_NAME, the names of the tiles in sight. Lines this thin are drawn by Qt's fast
stroker whatever the length of the path; closer in, where links are filled outlines, one path of many outlines
cost more than the links painted one by one, so links paint themselves there. The items keep their shapes: hit
tests, rubber bands and tooltips work as before. Screenshots differ from item-by-item painting only in a few
antialiased pixels (tests/test_canvas_overview.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen

from designer.canvas.boards import FlowBoard
from designer.canvas.geometry import TILE_W
from designer.canvas.items import LOD_NAME, RADIUS, EdgeItem, TileItem
from designer.canvas.theme import Theme, type_color

if TYPE_CHECKING:
    from collections.abc import Iterable

BAND_STEP_PX = 0.25  # flow bands are grouped by their width on screen, to a quarter of a pixel
CELL = 2000.0  # paths are kept per square of the scene this wide: a frame draws those of the squares in sight


class Overview:
    """What the view paints for the scene's tiles and links while zoomed out (see the module docstring)."""

    def __init__(self, theme: Theme, request_update: Callable[[], None]) -> None:
        self.theme = theme
        self.active = False
        self._request_update = request_update
        self._cells: list[_Cell] | None = None
        self._bands: tuple[int, float, dict[int, list[tuple[float, QPainterPath]]]] | None = None
        self.on_touch: Callable[[], None] | None = None  # also told of every touch (the replay's motion layers)

    def touch(self) -> None:
        """A tile or link changed (added, removed, moved, selected, re-typed...): paths are made again."""
        self._cells = None
        self._bands = None
        if self.active:
            self._request_update()
        if self.on_touch is not None:
            self.on_touch()

    def flows_changed(self) -> None:
        self._bands = None
        if self.active:
            self._request_update()

    # --- painting -------------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, rect: QRectF, lod: float, tiles: Iterable[TileItem],
              edges: Iterable[EdgeItem], flows: FlowBoard) -> None:
        if self._cells is None:
            self._cells = self._make_cells(list(tiles), list(edges))
        cells = [cell for cell in self._cells if cell.bounds.intersects(rect)]
        self._paint_far(painter, rect, lod, cells, flows)

    def _band_cache(self, flows: FlowBoard, lod: float) -> dict[int, object]:
        if self._bands is None or self._bands[:2] != (flows.generation, lod):
            self._bands = (flows.generation, lod, {})
        return self._bands[2]

    def _paint_far(self, painter: QPainter, rect: QRectF, lod: float, cells: list[_Cell], flows: FlowBoard) -> None:
        t = self.theme
        if flows.flows is not None:
            made = self._band_cache(flows, lod)
            for cell in cells:
                bands = made.get(id(cell))
                if bands is None:
                    bands = made[id(cell)] = self._make_bands(cell.edges, flows, lod)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                for width, path in bands:  # type: ignore[attr-defined]
                    pen = QPen(t.flow_pen)
                    pen.setWidthF(width)
                    painter.setPen(pen)
                    painter.drawPath(path)
        pens = {"plain": t.edge_pen, "selected": t.edge_selected_pen, "drop": t.edge_drop_pen}
        for cell in cells:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for kind in ("plain", "selected", "drop"):
                line = cell.lines.get(kind)
                if line is not None:
                    painter.setPen(pens[kind])
                    painter.drawPath(line)
        for cell in cells:
            painter.setPen(Qt.PenStyle.NoPen)
            for color, path in cell.cards.values():
                painter.setBrush(color)
                painter.drawPath(path)
            if not cell.dots.isEmpty():
                painter.setBrush(t.error)
                painter.drawPath(cell.dots)
            if not cell.selected.isEmpty():
                painter.setPen(t.select_pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPath(cell.selected)
        if lod >= LOD_NAME:
            self._paint_names(painter, rect, lod, cells)

    def _make_cells(self, tiles: list[TileItem], edges: list[EdgeItem]) -> list[_Cell]:
        """Tiles and links, in cells of CELL x CELL scene units (by where each item's bounds start), so that a
        frame strokes and fills only the cells in sight. A cell's paths are made when first drawn."""
        cells: dict[tuple[int, int], _Cell] = {}

        def cell_of(bounds: QRectF) -> _Cell:
            key = (int(bounds.left() // CELL), int(bounds.top() // CELL))
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _Cell()
            cell.bounds = cell.bounds.united(bounds)
            return cell

        for edge in edges:
            cell = cell_of(edge.sceneBoundingRect())
            kind = edge.pen_kind()
            line = cell.lines.get(kind)
            if line is None:
                line = cell.lines[kind] = QPainterPath()  # stroked: no fill rule needed
            line.addPath(edge.path())
            cell.edges.append(edge)
        for tile in tiles:
            card = tile.card_rect().translated(tile.pos())
            cell = cell_of(card)
            entry = cell.cards.get(tile.type_id)
            if entry is None:
                entry = cell.cards[tile.type_id] = (type_color(tile.type_id), _winding())
            entry[1].addRoundedRect(card, RADIUS, RADIUS)
            if tile.isSelected():
                cell.selected.addRoundedRect(card, RADIUS, RADIUS)
            if tile.findings_count[0]:
                cell.dots.addEllipse(QPointF(card.left() + TILE_W - 6.0, card.top() + 6.0), 14.0, 14.0)
            cell.tiles.append((card, tile))
        return list(cells.values())

    @staticmethod
    def _make_bands(edges: Iterable[EdgeItem], flows: FlowBoard, lod: float) -> list[tuple[float, QPainterPath]]:
        """The flows' bands, one path per width on screen (to BAND_STEP_PX): a replay changes them each frame."""
        if flows.flows is None:
            return []
        step = BAND_STEP_PX / lod
        groups: dict[int, QPainterPath] = {}
        for edge in edges:
            _count, width = flows.flow(edge.key)
            if width > 0.0:
                k = max(1, round(width / step))
                path = groups.get(k)
                if path is None:
                    path = groups[k] = QPainterPath()
                path.addPath(edge.path())
        return [(k * step, groups[k]) for k in sorted(groups)]

    def _paint_names(self, painter: QPainter, rect: QRectF, lod: float, cells: list[_Cell]) -> None:
        """The names of the tiles in sight, 11 px on screen, as TileItem paints them zoomed out."""
        size = max(1, round(11.0 / lod))
        font = QFont(self.theme.name_font)
        font.setPixelSize(size)
        metrics = QFontMetricsF(font)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        margin = 6.0 / lod
        centre = int(Qt.AlignmentFlag.AlignCenter)
        for cell in cells:
            for card, tile in cell.tiles:
                if card.intersects(rect):
                    box = card.adjusted(margin, 0.0, -margin, 0.0)
                    painter.drawText(box, centre, tile.lod_name(size, metrics, box.width(), lod))


def _winding() -> QPainterPath:
    """A path whose overlapping parts are filled once (outlines of strokes, cards that overlap)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    return path


class _Cell:
    """The tiles and links whose bounds start in one cell of the scene, and their paths."""

    def __init__(self) -> None:
        self.bounds = QRectF()
        self.lines: dict[str, QPainterPath] = {}  # by pen: 'plain', 'selected', 'drop'
        self.cards: dict[str, tuple[QColor, QPainterPath]] = {}  # by tile type: its colour and cards
        self.selected = _winding()
        self.dots = _winding()
        self.tiles: list[tuple[QRectF, TileItem]] = []
        self.edges: list[EdgeItem] = []
