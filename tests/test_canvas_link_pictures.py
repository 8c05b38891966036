"""Links' lines copied from pictures at a steady scale, and replayed flows' bands filled rough while frames come:
what is painted at rest is exactly what the links' own fills paint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from tests.canvas_helpers import Canvas, make_canvas


def _pixels(c: Canvas) -> np.ndarray:
    c.view.viewport().repaint()
    image = c.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(
        image.height(), -1, 4)[..., :3].astype(int).copy()


def _shown(qtbot, tmp_path: Path, zoom: float) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    c.view.set_zoom(zoom)
    c.view.centerOn(c.scene.content_rect().center())
    c.scene._zoom_settled()  # as the settle timer does
    return c


def test_lines_painted_from_pictures_look_exactly_like_their_fills(qtbot, tmp_path: Path) -> None:
    for zoom in (1.0, 0.73):
        (tmp_path / str(zoom)).mkdir()
        c = _shown(qtbot, tmp_path / str(zoom), zoom)
        strokes = c.scene.theme.strokes
        c.scene.set_overview(False)
        first = _pixels(c)  # each link in sight filled (its first paint at this scale)
        assert not strokes.pictures
        second = _pixels(c)  # from pictures
        assert strokes.pictures and strokes.scale == c.view.zoom
        assert np.abs(first - second).max() <= 2
        c.view.horizontalScrollBar().setValue(c.view.horizontalScrollBar().value() + 37)  # a pan: same pictures
        made = len(strokes.pictures)
        panned = _pixels(c)
        assert len(strokes.pictures) <= made + len(c.scene.edge_items())
        edge = c.scene.edge_items()[0]
        edge.setSelected(True)  # a selected link gets its own picture in the highlight's pen
        _pixels(c)
        edge.setSelected(False)
        assert np.abs(_pixels(c) - panned).max() <= 2


def test_bands_are_rough_while_flows_change_and_smooth_once_they_stop(qtbot, tmp_path: Path) -> None:
    c = _shown(qtbot, tmp_path, 1.0)
    flows = {e.key: 500 for e in c.scene.edge_items()}
    c.scene.set_flows(flows, 1000)
    assert c.scene.theme.rough_bands
    _pixels(c)
    c.scene._zoom_settled()  # the frames stopped
    assert not c.scene.theme.rough_bands
    smooth = _pixels(c)
    c.scene.set_flows(flows, 1000)  # the same figures, posted as a frame: rough
    rough = _pixels(c)
    assert 0 < np.abs(smooth - rough).max()  # the bands' edges differ a little...
    assert np.abs(smooth - rough).mean() < 1.0  # ...nothing else
    c.scene._zoom_settled()
    assert np.array_equal(_pixels(c), smooth)
    c.scene.set_flows(None)
    assert not c.scene.theme.rough_bands or c.scene._settle_timer.isActive()
