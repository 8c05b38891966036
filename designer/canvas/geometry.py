"""Where things are on the canvas: tile size, port positions and free spots for new tiles.

A step's model position is the top-left corner of its tile, in scene units (the layout module spaces layers
260 apart for 200-wide tiles).
"""

from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QPointF, QRectF

from app.model.journey import Position
from app.model.layout import LAYER_GAP, ROW_GAP

TILE_W = 200.0
TILE_H = 84.0
PORT_R = 5.5           # radius of a port circle
PORT_HIT = 11.0        # how close the pointer must be to a port to grab or drop on it
PORT_SPACING = 18.0    # minimum vertical room per output port (a 10-path split grows taller)
END_STUB = 28.0        # length of the line before the end marker (a ringed dot) of a path that ends


def tile_height(n_ports: int) -> float:
    """A tile is 84 high unless it has so many outputs that their ports need more room."""
    return max(TILE_H, n_ports * PORT_SPACING + 12.0)


def output_port_y(index: int, count: int, height: float) -> float:
    """Vertical position of output `index` of `count` on a tile of `height`, spread evenly."""
    if count <= 1:
        return height / 2.0
    top, bottom = min(26.0, height / (count + 1)), height - min(26.0, height / (count + 1))
    return top + (bottom - top) * index / (count - 1)


def free_spot(preferred: QPointF, occupied: Iterable[QRectF], *, step: float = ROW_GAP,
              tries: int = 40) -> QPointF:
    """The top-left corner nearest `preferred` (looking down, then up, one row at a time) where a tile fits
    without overlapping any of `occupied`."""
    rects = [r.adjusted(-12, -12, 12, 12) for r in occupied]
    for k in range(tries):
        for sign in ((1,) if k == 0 else (1, -1)):
            p = QPointF(preferred.x(), preferred.y() + sign * k * step)
            candidate = QRectF(p.x(), p.y(), TILE_W, TILE_H)
            if not any(candidate.intersects(r) for r in rects):
                return p
    return preferred


def after_port_spot(source_pos: QPointF, port_index: int, port_count: int) -> QPointF:
    """Where a tile added after a source's output would go before collisions: one layer to the right,
    fanned out by port so that yes lands above no."""
    offset = (port_index - (port_count - 1) / 2.0) * ROW_GAP if port_count > 1 else 0.0
    return QPointF(source_pos.x() + LAYER_GAP, source_pos.y() + offset)


def to_position(p: QPointF) -> Position:
    return Position(round(p.x(), 1), round(p.y(), 1))


def to_point(p: Position) -> QPointF:
    return QPointF(p.x, p.y)
