"""Run one function in a worker thread and hand its result back on the UI thread (loading a saved run's replay
index, which sorts every event of the trace, must not freeze the window).

`Background.submit(fn, done, failed)` calls `fn()` in the pool; `done(result)` or `failed(one_line_message)` run
on the UI thread afterwards. A newer submission on the same channel makes an older one's answer stale: it is
dropped rather than delivered.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.errors import one_line

_tickets = itertools.count(1)


class _Signals(QObject):
    done = Signal(object)  # (ticket, ok, result or message)


class _Task(QRunnable):
    def __init__(self, ticket: int, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.ticket, self.fn, self.signals = ticket, fn, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result, ok = self.fn(), True
        except Exception as e:  # reported as one line by the caller, never a traceback dialog
            result, ok = one_line(e), False
        self.signals.done.emit((self.ticket, ok, result))


class Background(QObject):
    """A small pool for reads and index builds; answers come back per channel, the newest only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._waiting: dict[int, tuple[str, Callable[[Any], None], Callable[[str], None]]] = {}
        self._latest: dict[str, int] = {}

    def submit(self, channel: str, fn: Callable[[], Any], done: Callable[[Any], None],
               failed: Callable[[str], None]) -> int:
        ticket = next(_tickets)
        self._waiting[ticket] = (channel, done, failed)
        self._latest[channel] = ticket
        self.pool.start(_Task(ticket, fn, self._signals))
        return ticket

    def busy(self, channel: str) -> bool:
        """Whether the newest job of `channel` has not answered yet."""
        return self._latest.get(channel) in self._waiting

    def wait(self, msecs: int = -1) -> bool:
        """Wait for every job to finish (at exit and in tests); answers still arrive through the event loop."""
        return self.pool.waitForDone(msecs)

    @Slot(object)
    def _on_done(self, message: tuple[int, bool, Any]) -> None:
        ticket, ok, result = message
        entry = self._waiting.pop(ticket, None)
        if entry is None:
            return
        channel, done, failed = entry
        if self._latest.get(channel) != ticket:
            return  # a newer job on the channel superseded this one
        (done if ok else failed)(result)
