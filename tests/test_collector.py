"""Cycles are collected on the GUI thread only while the application runs (designer/collector.py)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from designer.collector import GuiThreadCollector


class _Marked:
    """Part of a reference cycle; records the thread that finalises it."""

    seen: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Marked.seen.append(threading.current_thread().name)


def test_garbage_made_on_a_worker_is_collected_on_the_gui_thread(qtbot: Any) -> None:
    # (the GUI tests' own fixture already runs a collector; this one is the test's)
    collector = GuiThreadCollector(interval_ms=20)
    _Marked.seen.clear()
    try:
        assert not gc.isenabled()

        kept: list[Any] = []

        def worker() -> None:
            _Marked()  # unreachable at once, but only the cyclic collector can free it
            kept.append([[i] for i in range(200_000)])  # allocations that would trigger a collection here

        thread = threading.Thread(target=worker, name="count-worker")
        thread.start()
        thread.join()
        assert _Marked.seen == []  # nothing was collected on the worker
        qtbot.waitUntil(lambda: _Marked.seen != [], timeout=5000)
        assert _Marked.seen == [threading.main_thread().name]
    finally:
        collector.stop()
        collector.deleteLater()
    assert not gc.isenabled()  # the fixture's collector still runs: collection stays with the GUI thread


def test_stopping_gives_collection_back_as_it_was(qapp: Any) -> None:
    was = gc.isenabled()
    collector = GuiThreadCollector()
    assert not gc.isenabled()
    collector.stop()
    collector.deleteLater()
    assert gc.isenabled() == was
