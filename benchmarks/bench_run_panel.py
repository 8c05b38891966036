"""Benchmark (not a test): the window's event loop while the run panel simulates a million contacts.

Run: python -m benchmarks.bench_run_panel [contacts] [replicas]   -- prints JSON figures.
Creates a temporary project like the demo (the seed journeys, a few generated contacts), opens the run panel
offscreen on the re-engagement journey (ongoing, quiet hours, a wait, an if/then on an open, a goal) and clicks
Run for a synthetic population of 1,000,000 contacts (default). A 5 ms timer records every gap between its ticks
from the click until `runCompleted` (the save of the run on the UI thread included): the longest gap is how long
the window could not repaint or take input (target: under 100 ms). Also given: the total time, the time the
save took on the UI thread and in the worker (where the panel stores a run: over 100 ms for a million contacts),
the size of the saved run and the longest gaps with what the progress bar said then.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.services import create_demo_project  # noqa: E402
from app.store import ProjectFile  # noqa: E402

TICK_MS = 5
JOURNEY = "Re-engagement"


def _wait(app: QApplication, done: Any, timeout_s: float = 1800.0) -> None:
    end = time.perf_counter() + timeout_s
    while not done() and time.perf_counter() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)


def main(contacts: int = 1_000_000, replicas: int = 1) -> dict[str, Any]:
    """Measure and return the figures."""
    app = QApplication.instance() or QApplication([])
    from designer.document import Document
    from designer.simulation.run_panel import RunPanel
    path = Path(tempfile.mkdtemp()) / "bench.jstudio"
    create_demo_project(path, contacts=500)
    document = Document(ProjectFile.open(path))
    journey = document.project.journey(JOURNEY)
    document.set_current_journey(journey.id)
    panel = RunPanel(document)
    panel.resize(900, 700)
    panel.show()
    panel.contacts_spin.setValue(contacts)
    panel.replicas_spin.setValue(replicas)
    panel.seed_spin.setValue(2026)
    _wait(app, lambda: False, 0.3)  # let the window settle

    done: list[Any] = []
    stage = {"text": "clicked Run"}
    clock, gaps = QElapsedTimer(), []

    def completed(record: Any, run_id: Any) -> None:  # the gap since the last tick covers the save
        gaps.append((clock.restart(), "saving the run (UI thread)"))
        done.append((record, run_id))

    jobs: list[Any] = []
    panel.runCompleted.connect(completed)
    panel.runStarted.connect(lambda: jobs.append(panel.job))
    panel.progress.valueChanged.connect(lambda *_: stage.update(text=panel.progress.text()))
    ticker = QTimer()
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(lambda: gaps.append((clock.restart(), stage["text"])))
    clock.start()
    ticker.start()
    started = time.perf_counter()
    panel.run_button.click()
    _wait(app, lambda: bool(done) or (not panel.is_running() and panel.is_error_shown()))
    total = time.perf_counter() - started
    ticker.stop()
    if not done:
        raise SystemExit(f"the run did not complete: {panel.status_text()}")
    record, run_id = done[0]
    longest = sorted(gaps, key=lambda g: -g[0])[:5]
    figures = {
        "contacts": contacts, "replicas": replicas, "journey": JOURNEY,
        "run_id": run_id, "total_s": round(total, 2),
        "save_on_ui_thread_ms": round(panel.last_save_seconds * 1000, 1),
        "save_in_worker_ms": round(jobs[0].save_seconds * 1000, 1) if jobs else None,
        "saved_bytes": len(record.to_bytes()),
        "timer_interval_ms": TICK_MS, "timer_ticks": len(gaps),
        "max_gap_ms": max(g for g, _ in gaps) if gaps else None,
        "gaps_over_50_ms": sum(1 for g, _ in gaps if g > 50),
        "longest_gaps": [{"ms": g, "during": what} for g, what in longest],
        "status": panel.status_text(),
        "target_max_gap_ms": 100,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    panel.close()
    document.close()
    shutil.rmtree(path.parent, ignore_errors=True)
    return figures


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print(json.dumps(main(n, k), indent=2))
