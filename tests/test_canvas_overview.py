"""Zoomed out, the view paints tiles and links itself (designer/canvas/overview.py): what it paints is what the
items paint, and every change of a tile, a link, the selection or the flows shows at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGraphicsItem

from app.model.commands import MoveSteps
from app.model.journey import Position
from designer.canvas.items import LOD_SIMPLE
from tests.canvas_helpers import Canvas, make_canvas

NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


def _pixels(c: Canvas) -> np.ndarray:
    c.view.viewport().repaint()
    image = c.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
        image.height(), -1, 4)[..., :3].astype(int).copy()


def _by_items(c: Canvas) -> np.ndarray:
    """The same view painted item by item (the overview off), then the overview back on."""
    c.scene.set_overview(False)
    try:
        return _pixels(c)
    finally:
        c.scene.set_overview(True)


def _alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Alike to the eye: only antialiased edge pixels may differ, a little (bands are grouped by width)."""
    d = np.abs(a - b).max(axis=2)
    return int((d > 40).sum()) <= a.shape[0] * a.shape[1] // 2000


@pytest.fixture
def canvas(qtbot, tmp_path: Path) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    c.view.set_zoom(0.2)
    c.view.centerOn(c.scene.content_rect().center())
    return c


def test_zoomed_out_the_view_paints_what_the_items_paint(canvas: Canvas) -> None:
    c = canvas
    assert c.scene.overview.active
    assert all(i.flags() & NO_CONTENTS for i in c.scene.tile_items() + c.scene.edge_items())
    shown = _pixels(c)
    assert _alike(shown, _by_items(c))
    assert (np.abs(shown - _pixels(c)).max() == 0)  # painting again changes nothing
    tiles = c.scene.tile_items()
    tiles[0].setSelected(True)
    tiles[1].set_findings(2, 0, ["Error: no content"])
    c.scene.set_flows({e.key: 100 * (i + 1) for i, e in enumerate(c.scene.edge_items())}, 2000)
    changed = _pixels(c)
    assert np.abs(changed - shown).max() > 100  # the selection, the error dot and the flows show at once
    assert _alike(changed, _by_items(c))
    c.view.set_zoom(0.12)
    assert _alike(_pixels(c), _by_items(c))  # names and bands at another scale


def test_zoomed_out_edits_are_painted_and_zooming_in_gives_the_items_back(canvas: Canvas) -> None:
    c = canvas
    before = _pixels(c)
    step = c.journey.entry
    assert step is not None
    pos = c.journey.step(step).position
    assert pos is not None
    c.doc.run(MoveSteps(c.journey.id, {step: Position(pos.x, pos.y + 600.0)}))
    moved = _pixels(c)
    assert np.abs(moved - before).max() > 100
    assert _alike(moved, _by_items(c))
    c.doc.undo_stack.undo()
    assert _alike(_pixels(c), before)
    c.view.set_zoom(LOD_SIMPLE + 0.1)
    assert not c.scene.overview.active
    assert not any(i.flags() & NO_CONTENTS for i in c.scene.tile_items() + c.scene.edge_items())
    c.view.fit()
    assert c.scene.overview.active == (c.view.zoom < LOD_SIMPLE)


def _blurred(a: np.ndarray) -> np.ndarray:
    """A 3 x 3 box blur: sub-pixel shifts of antialiased edges fade, anything missing or misplaced stays."""
    p = np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(p[dy:dy + a.shape[0], dx:dx + a.shape[1]] for dy in range(3) for dx in range(3)) / 9.0


def test_while_zooming_tiles_that_look_alike_share_one_picture(qtbot, tmp_path: Path) -> None:
    """While the scale changes, tile bodies are painted once per look and placed on whole pixels: the frame
    looks like the tiles' own drawing once the zoom settles (cached pictures, drawn exactly)."""
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml", "abandoned-cart.yaml")
    c.view.set_zoom(1.37)
    c.view.centerOn(c.scene.content_rect().center())
    moving = _pixels(c)
    tiles = [t for t in c.scene.tile_items() if t.cacheMode() == t.CacheMode.NoCache]
    looks = c.scene.theme.looks
    assert tiles and looks.scale == pytest.approx(1.37)
    assert 0 < len(looks.pictures) <= len({t.type_id for t in c.scene.tile_items()}) + 1  # + the start tile's
    c.scene._zoom_settled()  # as the settle timer does: tiles cached as pictures, drawn exactly
    assert all(t.cacheMode() != t.CacheMode.NoCache for t in c.scene.tile_items())
    settled = _pixels(c)
    far = np.abs(_blurred(moving) - _blurred(settled)).max(axis=2) > 48  # edges moved by a pixel or more
    assert far.sum() < far.size // 500  # a missing or misplaced card, port or glyph would be thousands
    assert np.abs(moving - settled).mean() < 1.0
