"""Benchmark (not a test): the canvas with a 1,000-tile journey: open and draw, pan and zoom frames, edit + undo.

Run: python -m benchmarks.bench_canvas   -- prints JSON figures (seconds for opening, milliseconds per frame).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.model.commands import AddStep, SetProps  # noqa: E402
from app.model.journey import Position, Step  # noqa: E402
from benchmarks.journeys import big_project  # noqa: E402


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2)}


def _frame(view: object) -> float:
    t0 = time.perf_counter()
    view.viewport().repaint()  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main(n_steps: int = 1000, frames: int = 50) -> dict[str, object]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from designer.canvas import JourneyScene, JourneyView
    from designer.document import Document

    with tempfile.TemporaryDirectory() as d:
        pf, journey = big_project(Path(d) / "big.jstudio", n_steps)
        doc = Document(pf)

        t0 = time.perf_counter()
        scene = JourneyScene(doc)
        view = JourneyView(scene, doc)
        view.resize(1400, 900)
        view.show()
        app.processEvents()
        image = QImage(view.viewport().size(), QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(image)
        view.render(painter)
        painter.end()
        open_1x = time.perf_counter() - t0

        t1 = time.perf_counter()
        view.fit()
        view.viewport().repaint()
        fit_draw = time.perf_counter() - t1
        fit_zoom = view.zoom
        # Every tile with its text (0.45x is above the simplified level of detail), into one image.
        t2 = time.perf_counter()
        source = scene.content_rect()
        whole = QImage(int(source.width() * 0.45), int(source.height() * 0.45),
                       QImage.Format.Format_ARGB32_Premultiplied)
        whole.fill(0)
        painter = QPainter(whole)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, QRectF(whole.rect()), source)
        painter.end()
        render_all = time.perf_counter() - t2

        view.set_zoom(1.0)
        view.centerOn(scene.tile_item("s0500"))
        app.processEvents()
        _frame(view)
        pan = []
        for i in range(frames):
            bar = view.horizontalScrollBar()
            bar.setValue(bar.value() + (40 if i % 20 < 10 else -40))
            pan.append(_frame(view))
        zoom = []
        for i in range(frames):  # in and out between 0.5x and 2x: every frame is at a new scale
            factor = 1.1 if (i // 7) % 2 == 0 else 1 / 1.1
            view.set_zoom(view.zoom * factor, QPointF(700, 450))
            zoom.append(_frame(view))
        view.set_zoom(0.15)
        overview = [_frame(view) for _ in range(10)]
        pan_far = []
        for i in range(frames):
            bar = view.horizontalScrollBar()
            bar.setValue(bar.value() + (60 if i % 20 < 10 else -60))
            pan_far.append(_frame(view))

        view.set_zoom(1.0)
        view.centerOn(scene.tile_item("s0500"))
        app.processEvents()
        edits: dict[str, list[float]] = {"set_props": [], "add_step": [], "undo": [], "redo": []}
        for k in range(10):
            t = time.perf_counter()
            doc.run(SetProps(journey.id, "s0502", {"content": "Reminder text" if k % 2 else None}))
            _frame(view)
            edits["set_props"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.run(AddStep(journey.id, Step(f"extra{k}", "wait", position=Position(110000.0, 60.0 * k)),
                            connect_from=("s0500", "next")))
            _frame(view)
            edits["add_step"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.undo_stack.undo()
            _frame(view)
            edits["undo"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.undo_stack.redo()
            _frame(view)
            edits["redo"].append(time.perf_counter() - t)
            doc.undo_stack.undo()

        result = {
            "benchmark": "journey canvas",
            "steps": n_steps,
            "edges": len(scene.edge_items()),
            "open_and_draw_at_1x_s": round(open_1x, 3),
            "fit_and_draw_s": round(fit_draw, 3),
            "fit_zoom": round(fit_zoom, 3),
            "render_every_tile_at_0.45x_s": round(render_all, 3),
            "pan_frame_1x": _ms(pan),
            "zoom_frame_0.5x_to_2x": _ms(zoom),
            "frame_at_0.15x": _ms(overview),
            "pan_frame_0.15x": _ms(pan_far),
            "edit_and_redraw": {k: _ms(v) for k, v in edits.items()},
            "viewport": [view.viewport().width(), view.viewport().height()],
            "machine": f"{platform.machine()}, Python {platform.python_version()}, Qt offscreen (software raster)",
        }
        view.close()
        doc.close()
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
