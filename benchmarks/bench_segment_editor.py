"""Benchmark (not a test): the segment editor's event loop while a large population is counted in a worker.

Run: python -m benchmarks.bench_segment_editor [contacts] [project file]   -- prints JSON figures.
Generates the population (default 1,000,000 contacts) unless an existing project file is given, opens the
editor offscreen on a four-block query, edits one value and measures, from the edit until the count is shown,
the longest gap between ticks of a 2 ms timer (how long the window could not repaint or take input), next to
the time the same count takes when run on the UI thread.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.audience import members  # noqa: E402
from app.audience.population import generate  # noqa: E402
from app.model.segment import Segment  # noqa: E402
from app.store import ProjectFile  # noqa: E402

QUERY: dict[str, Any] = {"blocks": [
    {"where": {"any": [{"attribute": "email", "op": "contains", "value": "an"},
                       {"attribute": "full_name", "op": "ends_with", "value": "n"}]}},
    {"op": "union", "root": "account", "where": {"all": [{"attribute": "name", "op": "contains", "value": "e"}]}},
    {"op": "exclude", "root": "interactions", "where": {"all": [
        {"attribute": "kind", "op": "equals", "value": "purchase"},
        {"attribute": "at", "op": "in_last_days", "value": 90}]}},
    {"op": "intersect", "where": {"any": [{"attribute": "city", "op": "contains", "value": "a"},
                                          {"attribute": "subscription_lists", "op": "contains",
                                           "value": "Newsletter"}]}}]}


def _wait(app: QApplication, done: Any, timeout_s: float = 600.0) -> None:
    end = time.perf_counter() + timeout_s
    while not done() and time.perf_counter() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)


def main(contacts: int, path: Path | None) -> dict[str, Any]:
    """Measure and return the figures."""
    app = QApplication.instance() or QApplication([])
    from designer.document import Document
    from designer.segments import SegmentEditor
    if path is None:
        path = Path(tempfile.mkdtemp()) / "bench.jstudio"
        with ProjectFile.create(path) as pf:
            generate(pf, contacts, seed=5, as_of=date(2026, 6, 1))
    document = Document(ProjectFile.open(path))
    editor = SegmentEditor(document, Segment("Heavy", query=QUERY))
    editor.show()
    _wait(app, lambda: editor._count_ticket is None and not editor.runner.busy())
    row = editor.builder.blocks()[3].group.rows()[0]
    edited = Segment("x", query={"blocks": QUERY["blocks"][:3] + [{"op": "intersect", "where": {"any": [
        {"attribute": "city", "op": "contains", "value": "e"}, QUERY["blocks"][3]["where"]["any"][1]]}}]})
    started = time.perf_counter()
    n = members.count(document.file, edited)
    on_ui_thread = time.perf_counter() - started
    clock, gaps = QElapsedTimer(), []
    ticker = QTimer()
    ticker.setInterval(2)
    ticker.timeout.connect(lambda: gaps.append(clock.restart()))
    clock.start()
    ticker.start()
    started = time.perf_counter()
    row.value_input.edit.setText("e")
    _wait(app, lambda: not editor._timer.isActive() and editor._count_ticket is None)
    shown = time.perf_counter() - started
    ticker.stop()
    text = editor.count_label.text()
    editor.reject()
    document.close()
    return {"contacts": members_total(path), "members": n, "count_shown": text,
            "count_on_ui_thread_ms": round(on_ui_thread * 1000), "edit_to_count_ms": round(shown * 1000),
            "debounce_ms": 300, "timer_ticks": len(gaps), "longest_stall_ms": max(gaps) if gaps else None}


def members_total(path: Path) -> int:
    """How many contacts the file holds."""
    with ProjectFile.open(path, readonly=True) as pf:
        return members.contact_count(pf)


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    given = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    print(json.dumps(main(size, given), indent=2))
