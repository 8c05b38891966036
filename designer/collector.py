"""Garbage collection on the GUI thread only.

Python's cyclic collector runs in whichever thread happens to allocate when a generation fills up. If that is
a worker thread (a segment count, a simulation) and the garbage holds a Qt object, the object is destroyed
there: QObject's destructor then waits on Qt's locks while the GUI thread, holding one, waits for the
interpreter lock, and the application hangs (seen once in the GUI tests: QObject::~QObject on a count worker
against QObjectPrivate::connectImpl on the GUI thread). So the application turns automatic collection off and
collects on a GUI-thread timer instead, generation by generation as Python would (the pattern of pyqtgraph's
GarbageCollector, without importing pyqtgraph at start-up).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """While it runs, cycles are collected only on the thread that made it (the GUI thread), every
    `interval_ms` when a generation is over Python's own threshold; `stop` collects once and gives collection
    back to Python as it was."""

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the generations that are over their thresholds, youngest first."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in range(3):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


__all__ = ["GuiThreadCollector"]
