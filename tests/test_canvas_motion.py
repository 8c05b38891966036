"""While a replay's frames come, the view paints the tiles and links in sight from pictures of what stays
(designer/canvas/motion.py): it shows every frame's figures, looks like the items' own painting, follows changes
of the selection and of the rows, and once the frames stop the items paint themselves exactly as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

from tests.canvas_helpers import Canvas, make_canvas

NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


def _pixels(c: Canvas) -> np.ndarray:
    c.view.viewport().repaint()
    image = c.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
        image.height(), -1, 4)[..., :3].astype(int).copy()


def _region(c: Canvas, pixels: np.ndarray, step: str) -> np.ndarray:
    tile = c.scene.tile_item(step)
    assert tile is not None
    rect = c.view.mapFromScene(tile.sceneBoundingRect()).boundingRect()
    return pixels[max(0, rect.top()):rect.bottom(), max(0, rect.left()):rect.right()]


def _frame(c: Canvas, lines: dict[str, str], flow: int) -> None:
    """Post a replay's frame as the replay controller does: status lines and flows."""
    c.scene.set_status_lines(lines)
    c.scene.set_flows({e.key: flow * (i + 1) for i, e in enumerate(c.scene.edge_items())}, 10_000)


@pytest.fixture
def canvas(qtbot, tmp_path: Path) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    c.view.set_zoom(1.0)
    c.view.centerOn(c.scene.content_rect().center())
    c.scene._zoom_settled()
    return c


def _lines(c: Canvas, n: int) -> dict[str, str]:
    return {t.step_id: f"{n} waiting · {n * 7:,} sent" for t in c.scene.tile_items()}


def test_frames_are_painted_by_the_view_and_look_like_the_items_painting(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 12), 300)
    c.scene._zoom_settled()  # the frames stopped: the items paint themselves
    assert not c.scene.motion.active
    assert not any(i.flags() & NO_CONTENTS for i in c.scene.tile_items() + c.scene.edge_items())
    rest = _pixels(c)
    _frame(c, _lines(c, 12), 300)  # the same figures, as a frame of a moving replay
    assert c.scene.motion.active
    assert all(i.flags() & NO_CONTENTS for i in c.scene.tile_items() + c.scene.edge_items())
    moving = _pixels(c)
    d = np.abs(moving - rest).max(axis=2)
    assert d.max() > 0  # bands are rough, and filled once where they cross
    assert (d > 40).sum() < d.size // 2000  # ...only some edge pixels of the bands differ
    for tile in c.scene.tile_items():  # the cards and their text are where the items paint them
        assert np.abs(_region(c, moving, tile.step_id) - _region(c, rest, tile.step_id)).mean() < 2.0
    assert np.array_equal(_pixels(c), moving)  # painting again (from the pictures) changes nothing
    c.scene._zoom_settled()
    assert np.array_equal(_pixels(c), rest)  # at rest exactly as before


def test_each_frame_shows_its_own_figures(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 12), 300)
    first = _pixels(c)
    step = c.scene.tile_items()[0].step_id
    _frame(c, _lines(c, 48), 900)
    second = _pixels(c)
    assert not np.array_equal(_region(c, first, step), _region(c, second, step))  # the status line changed
    c.scene._zoom_settled()
    c.scene.set_status_lines(_lines(c, 48))
    c.scene.set_flows({e.key: 900 * (i + 1) for i, e in enumerate(c.scene.edge_items())}, 10_000)
    c.scene._zoom_settled()
    rest = _pixels(c)
    d = np.abs(second - rest).max(axis=2)
    assert (d > 40).sum() < d.size // 300  # the frame showed what the items show at rest


def test_rows_that_move_are_painted_again_as_a_fresh_picture_would(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 1), 300)
    _pixels(c)
    long = dict(_lines(c, 1))
    step = c.scene.tile_items()[1].step_id
    long[step] = "12,345 waiting · 67,890 sent · 12,345 opened · 6,789 clicked · 5 bounced"  # takes 2 lines
    _frame(c, long, 300)
    moved = _pixels(c)  # the card's picture painted again where its rows moved
    c.scene.motion.touch()  # forget the pictures: made afresh
    assert np.array_equal(_pixels(c), moved)
    tile = c.scene.tile_item(step)
    assert tile is not None and len(tile.status_lines()) == 2


def test_selection_and_hover_show_while_frames_come(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 12), 300)
    before = _pixels(c)
    tile = c.scene.tile_items()[0]
    tile.setSelected(True)
    selected = _pixels(c)
    assert not np.array_equal(_region(c, before, tile.step_id), _region(c, selected, tile.step_id))
    tile.set_drop_port(tile.ports[0][0] if tile.ports else None)
    if tile.ports:
        assert not np.array_equal(_pixels(c), selected)


def test_an_image_of_the_scene_is_painted_by_the_items(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 12), 300)
    assert c.scene.motion.active
    image = QImage(400, 300, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    c.scene.render(painter, QRectF(image.rect()), c.scene.content_rect())
    painter.end()
    assert not c.scene.motion.active
    assert not any(i.flags() & NO_CONTENTS for i in c.scene.tile_items() + c.scene.edge_items())
    assert image.pixelColor(200, 150).alpha() > 0 or any(
        image.pixelColor(x, y).alpha() > 0 for x in range(0, 400, 10) for y in range(0, 300, 10))


def test_zoomed_out_the_overview_paints_instead(canvas: Canvas) -> None:
    c = canvas
    _frame(c, _lines(c, 12), 300)
    assert c.scene.motion.active
    c.view.set_zoom(0.2)
    assert c.scene.overview.active and not c.scene.motion.active
    _frame(c, _lines(c, 13), 300)
    assert not c.scene.motion.active
    c.view.set_zoom(1.0)
    _frame(c, _lines(c, 14), 300)
    assert c.scene.motion.active and not c.scene.overview.active
