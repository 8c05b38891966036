"""Zoomed out, the view paints tiles and links itself (designer/canvas/overview.py): what it paints is what the
items paint, and every change of a tile, a link, the selection or the flows shows at once. While zooming, tile
bodies come from pictures shared by the tiles that look alike (TileItem._paint_look)."""

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
        image.height(), -1, 4)[..., 2::-1].astype(int).copy()  # RGB (the words of RGB32 are B, G, R, A in memory)


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


def test_links_are_painted_with_their_selection_and_flows_at_1x(qtbot, tmp_path: Path) -> None:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    c.view.set_zoom(1.0)
    edge = max((e for e in c.scene.edge_items() if e.target is not None and not e.label),
               key=lambda e: e.path().length())
    c.view.centerOn(edge.point_at(0.5))
    at = c.view.mapFromScene(edge.point_at(0.25))
    theme = c.scene.theme

    def closest(pixels: np.ndarray, color: object) -> int:  # how near the pixels around the point come to a colour
        block = pixels[at.y() - 2:at.y() + 3, at.x() - 2:at.x() + 3].reshape(-1, 3)
        return int(np.abs(block - np.array(color.getRgb()[:3])).sum(axis=1).min())  # type: ignore[attr-defined]

    assert closest(_pixels(c), theme.edge) < 150  # the link is drawn in its colour (antialiased: 369 is none)
    edge.setSelected(True)
    assert closest(_pixels(c), theme.highlight) < 150  # selected: in the highlight colour, at once
    edge.setSelected(False)
    c.scene.set_flows({e.key: 500 for e in c.scene.edge_items()}, 1000)
    shown = _pixels(c)
    label = c.view.mapFromScene(edge._flow_label_rect().left() + 3.0, edge._flow_label_rect().center().y())
    assert np.abs(shown[label.y(), label.x()] - np.array(theme.highlight.getRgb()[:3])).sum() < 60  # its count
    assert edge.flow == 500 and c.scene.flow_of(*edge.key) == 500
    c.scene.set_flows(None)
    assert np.abs(_pixels(c) - shown).max() > 100


def test_an_image_of_the_scene_has_its_tiles_and_links_whatever_the_view_shows(canvas: Canvas) -> None:
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QPainter

    def image() -> np.ndarray:
        source = canvas.scene.content_rect()
        out = QImage(int(source.width() * 0.5), int(source.height() * 0.5), QImage.Format.Format_RGB32)
        out.fill(0xffffffff)
        painter = QPainter(out)
        canvas.scene.render(painter, QRectF(out.rect()), source)
        painter.end()
        return np.frombuffer(out.constBits(), np.uint8, out.sizeInBytes()).reshape(out.height(), -1, 4).astype(int)

    assert canvas.scene.overview.active  # the view is zoomed out (0.2x): the image is made at 0.5x
    zoomed_out = image()
    assert canvas.scene.overview.active
    canvas.view.set_zoom(1.0)
    assert np.abs(zoomed_out - image()).max() == 0
    edge = canvas.scene.edge_items()[0]
    at = (edge.point_at(0.5) - canvas.scene.content_rect().topLeft()) * 0.5
    assert zoomed_out[int(at.y()) - 2:int(at.y()) + 3, int(at.x()) - 2:int(at.x()) + 3].min() < 200  # a link


def test_tile_pictures_sit_on_their_tiles_in_a_window(qtbot, tmp_path: Path) -> None:
    """In a window the viewport is painted with an offset (where it sits in the window): the shared pictures
    of tile bodies sit where the tiles are, as in the settled frame."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    window = QWidget()
    qtbot.addWidget(window)
    box = QVBoxLayout(window)
    box.setContentsMargins(137, 91, 20, 20)
    box.addWidget(c.view)
    window.resize(1300, 760)
    window.show()
    qtbot.waitExposed(window)
    c.view.set_zoom(1.21)
    c.view.centerOn(c.scene.content_rect().center())

    def shot() -> np.ndarray:
        image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        return np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
            image.height(), -1, 4)[..., 2::-1].astype(int).copy()

    moving = shot()
    assert c.scene.theme.looks.pictures  # the bodies came from shared pictures
    c.scene._zoom_settled()
    settled = shot()
    far = np.abs(_blurred(moving) - _blurred(settled)).max(axis=2) > 48
    assert far.sum() < far.size // 500
    box.removeWidget(c.view)
    c.view.setParent(None)  # the view goes back to qtbot, which closes it
