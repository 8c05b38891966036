"""Benchmark (not a test): the canvas with 1,000- and 5,000-tile journeys: open and draw, pan and zoom frames, edit
and undo, each beside a yardstick measured in the same process.

Run: python -m benchmarks.bench_canvas [SIZE ...] [--rounds N]   -- prints JSON (seconds to open, ms per frame)

Qt runs offscreen (software raster), the view is 1400 x 900. A *frame* is one pan or zoom step and the
synchronous repaint of the whole viewport after it, timed together: `view.horizontalScrollBar().setValue(...)`
or `view.set_zoom(...)`, then `view.viewport().repaint()` (background grid, every tile and link in sight, the
minimap). Each size is built and measured, none extrapolated.

- pan_1x: 50 steps of 40 px left and right at 1x, after the zoom has settled (tiles cached as device pictures).
- zoom_1x_to_2x and zoom_0.5x_to_1x: 50 steps of x1.1 in and out over the range, around the viewport's middle
  (tiles painted directly while the scale changes; above 0.4x every tile has its full text).
- frame_0.15x and pan_0.15x: the simplified level of detail (coloured cards with names).

Yardstick: the same view size and steps over a bare QGraphicsView whose scene holds one QGraphicsRectItem per
tile at the tile's place (Qt's own painting, no Python): what panning and zooming that many items costs on this
machine at this moment. Phases alternate with the yardstick's `rounds` times, so a busy moment of a shared machine
falls on both; each figure is the median (and p95) of all its frames, and `ratio` its median over the yardstick's.
`cpu_median_ms` is the main thread's processor time per frame (`time.thread_time`; Qt's raster engine may hand
parts of large fills to its worker threads), less disturbed than wall-clock time by other processes on a busy
machine; `cpu_ratio` compares it with the yardstick's.
Goals (issue 15): pan and zoom frames <= 16 ms at 1,000 tiles, <= 33 ms at 5,000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QImage, QPainter, QTransform  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsRectItem, QGraphicsScene, QGraphicsView  # noqa: E402

from app.model.commands import AddStep, SetProps  # noqa: E402
from app.model.journey import Position, Step  # noqa: E402
from benchmarks.journeys import big_project  # noqa: E402

GOAL_MS = {1000: 16.0, 5000: 33.0}
FRAMES = 50
_ALIVE: list[object] = []  # views and scenes kept until the process ends (collected midway, Qt calls into them)


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2)}


_CPU: list[float] = []  # the main thread's processor time of each frame timed, in order


def _timed(step: Callable[[], None], view: QGraphicsView) -> float:
    c0, t0 = time.thread_time(), time.perf_counter()
    step()
    view.viewport().repaint()
    elapsed = time.perf_counter() - t0
    _CPU.append(time.thread_time() - c0)
    return elapsed


def _settle(app: QApplication, ms: int = 320) -> None:
    """Let timers run (the scene caches tiles again once a zoom has settled) as a pause of the user would."""
    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def _set_zoom(view: QGraphicsView, zoom: float) -> None:
    set_zoom = getattr(view, "set_zoom", None)
    if set_zoom is not None:
        set_zoom(zoom, QPointF(700, 450))
        return
    centre = view.mapToScene(view.viewport().rect().center())
    view.setTransform(QTransform.fromScale(zoom, zoom))
    view.centerOn(centre)


def _zoom_of(view: QGraphicsView) -> float:
    return view.transform().m11()


def _phases(app: QApplication, view: QGraphicsView, centre: QPointF) -> tuple[dict[str, list[float]],
                                                                              dict[str, list[float]]]:
    """One round of every pan and zoom phase on `view` (the journey's or the yardstick's): wall-clock and
    processor times of its frames."""
    out: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def start(zoom: float) -> None:
        _set_zoom(view, zoom)
        view.centerOn(centre)
        _settle(app)
        view.viewport().repaint()

    def pan(step_px: int) -> list[float]:
        bar = view.horizontalScrollBar()
        return [_timed(lambda i=i: bar.setValue(bar.value() + (step_px if i % 20 < 10 else -step_px)), view)
                for i in range(FRAMES)]

    def sweep(low: float, high: float) -> list[float]:
        times, zoom_in = [], True
        for _ in range(FRAMES):
            zoom = _zoom_of(view) * (1.1 if zoom_in else 1 / 1.1)
            if zoom > high * 1.0001 or zoom < low * 0.9999:
                zoom_in = not zoom_in
                zoom = _zoom_of(view) * (1.1 if zoom_in else 1 / 1.1)
            times.append(_timed(lambda z=zoom: _set_zoom(view, z), view))
        return times

    def phase(name: str, frames: Callable[[], list[float]]) -> None:
        mark = len(_CPU)
        out[name] = frames()
        cpu[name] = _CPU[mark:]

    start(1.0)
    phase("pan_1x", lambda: pan(40))
    phase("zoom_1x_to_2x", lambda: sweep(1.0, 2.0))
    start(1.0)
    phase("zoom_0.5x_to_1x", lambda: sweep(0.5, 1.0))
    start(0.15)
    phase("frame_0.15x", lambda: [_timed(lambda: None, view) for _ in range(10)])
    phase("pan_0.15x", lambda: pan(60))
    return out, cpu


def _yardstick(tiles: list[QRectF]) -> tuple[QGraphicsScene, QGraphicsView]:
    scene = QGraphicsScene()
    for rect in tiles:
        scene.addItem(QGraphicsRectItem(rect))
    view = QGraphicsView(scene)
    view.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
    view.resize(1400, 900)
    view.show()
    return scene, view


def measure(app: QApplication, n_steps: int, rounds: int) -> dict[str, Any]:
    """Every figure for one journey size."""
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

        middle = scene.tile_item(f"s{n_steps // 2:04d}")
        assert middle is not None
        centre = middle.sceneBoundingRect().center()
        yard_scene, yard_view = _yardstick([t.sceneBoundingRect() for t in scene.tile_items()])
        frames: dict[str, list[float]] = {}
        yard: dict[str, list[float]] = {}
        frames_cpu: dict[str, list[float]] = {}
        yard_cpu: dict[str, list[float]] = {}
        for _ in range(rounds):
            for into, cpu_into, v in ((frames, frames_cpu, view), (yard, yard_cpu, yard_view)):
                wall, cpu = _phases(app, v, centre)
                for name, times in wall.items():
                    into.setdefault(name, []).extend(times)
                    cpu_into.setdefault(name, []).extend(cpu[name])
        yard_view.close()

        view.set_zoom(1.0)
        view.centerOn(centre)
        _settle(app)
        edits: dict[str, list[float]] = {"set_props": [], "add_step": [], "undo": [], "redo": []}
        mid, after = f"s{n_steps // 2:04d}", f"s{n_steps // 2 + 2:04d}"
        for k in range(10):
            t = time.perf_counter()
            doc.run(SetProps(journey.id, after, {"content": "Reminder text" if k % 2 else None}))
            view.viewport().repaint()
            edits["set_props"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.run(AddStep(journey.id, Step(f"extra{k}", "wait", position=Position(110000.0, 60.0 * k)),
                            connect_from=(mid, "next")))
            view.viewport().repaint()
            edits["add_step"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.undo_stack.undo()
            view.viewport().repaint()
            edits["undo"].append(time.perf_counter() - t)
            t = time.perf_counter()
            doc.undo_stack.redo()
            view.viewport().repaint()
            edits["redo"].append(time.perf_counter() - t)
            doc.undo_stack.undo()

        figures: dict[str, Any] = {}
        for name, times in frames.items():
            ours, theirs = _ms(times), _ms(yard[name])
            cpu_ours, cpu_theirs = _ms(frames_cpu[name]), _ms(yard_cpu[name])
            figures[name] = {**ours, "yardstick": theirs,
                             "ratio": round(ours["median_ms"] / max(theirs["median_ms"], 1e-6), 2),
                             "cpu_median_ms": cpu_ours["median_ms"],
                             "cpu_yardstick_median_ms": cpu_theirs["median_ms"],
                             "cpu_ratio": round(cpu_ours["median_ms"] / max(cpu_theirs["median_ms"], 1e-6), 2)}
        result = {
            "steps": n_steps,
            "edges": len(scene.edge_items()),
            "open_and_draw_at_1x_s": round(open_1x, 3),
            "fit_and_draw_s": round(fit_draw, 3),
            "fit_zoom": round(fit_zoom, 3),
            "render_every_tile_at_0.45x_s": round(render_all, 3),
            "frames": figures,
            "goal_ms": GOAL_MS.get(n_steps),
            "edit_and_redraw": {k: _ms(v) for k, v in edits.items()},
        }
        view.close()
        doc.close()
        _ALIVE.extend([scene, view, yard_scene, yard_view, doc])
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 5000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    result = {
        "benchmark": "journey canvas",
        "frame": "one pan or zoom step plus view.viewport().repaint(), timed together, offscreen, 1400 x 900",
        "yardstick": "the same steps over a bare QGraphicsView with one QGraphicsRectItem per tile",
        "sizes": [measure(app, n, args.rounds) for n in args.sizes],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, Qt offscreen "
                   "(software raster)",
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
