"""Reads of the project file in worker threads, so that counting a large population never freezes the editor.

SQLite connections must not cross threads, so every job opens its own read-only connection to the project
file in the worker (the editor's own connection stays on the UI thread), runs one read and closes it. Results
come back to the UI thread as a queued signal carrying the job's ticket; the caller keeps the ticket of its
latest request per channel and drops older answers (an older count finishing after a newer one). A newer
request on a channel also interrupts the older one's SQLite statement, so stale work stops early.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from sqlalchemy import Connection

from app.errors import one_line
from app.store.opening import make_engine

Read = Callable[[Connection], Any]
_tickets = itertools.count(1)


class _Signals(QObject):
    """Lives on the UI thread; emitting from the worker queues the call to the runner's slots."""

    done = Signal(object)  # (channel, ticket, ok, result or message)


class _Job:
    """One read on its own read-only connection; `cancel` interrupts it from any thread."""

    def __init__(self, path: Path, channel: str, ticket: int, read: Read) -> None:
        self.path, self.channel, self.ticket, self.read = path, channel, ticket, read
        self.signals = _Signals()
        self._lock = threading.Lock()
        self._raw: sqlite3.Connection | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop the read (it then reports 'cancelled'); safe before, during and after it runs."""
        with self._lock:
            self._cancelled = True
            if self._raw is not None:
                self._raw.interrupt()  # sqlite3's interrupt is the one call meant for another thread

    def run(self) -> None:
        """Run in a worker thread: open, read, close, report."""
        ok, result = False, "cancelled"
        engine = None
        try:
            if not self._cancelled:
                engine = make_engine(self.path, readonly=True)
                with engine.connect() as conn:
                    raw = conn.connection.driver_connection
                    with self._lock:
                        self._raw = raw  # type: ignore[assignment]
                        if self._cancelled:
                            raw.interrupt()  # type: ignore[union-attr]
                    try:
                        with conn.begin():
                            result, ok = self.read(conn), True
                    finally:
                        with self._lock:
                            self._raw = None
        except Exception as e:  # reported as one line in the editor, never a traceback
            ok, result = False, "cancelled" if self._cancelled else one_line(e)
        finally:
            if engine is not None:
                engine.dispose()
        self.signals.done.emit((self.channel, self.ticket, ok, result))


class JobRunner(QObject):
    """Runs reads of one project file in worker threads and reports each result with its ticket."""

    finished = Signal(str, int, object)  # channel, ticket, result
    failed = Signal(str, int, str)       # channel, ticket, one-line message ('cancelled' when interrupted)

    def __init__(self, path: Path, parent: QObject | None = None, *, threads: int = 2) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._jobs: dict[int, _Job] = {}
        self._latest: dict[str, int] = {}

    def submit(self, channel: str, read: Read, *, replace: bool = True) -> int:
        """Start a read; returns its ticket. With `replace`, the channel's older job still running is cancelled."""
        if replace:
            old = self._jobs.get(self._latest.get(channel, 0))
            if old is not None:
                old.cancel()
        ticket = next(_tickets)
        job = _Job(self.path, channel, ticket, read)
        job.signals.done.connect(self._on_done)
        self._jobs[ticket] = job  # kept alive (with its signals object) until it reports
        self._latest[channel] = ticket
        self.pool.start(job.run)
        return ticket

    def latest(self, channel: str) -> int | None:
        """The ticket of the newest job submitted on a channel."""
        return self._latest.get(channel)

    def busy(self) -> bool:
        """Whether a job is still running or queued."""
        return bool(self._jobs)

    def cancel(self, channel: str) -> None:
        """Interrupt the newest job of a channel (its answer is then dropped as stale by the caller)."""
        job = self._jobs.get(self._latest.get(channel, 0))
        if job is not None:
            job.cancel()

    def cancel_all(self) -> None:
        """Interrupt every job (their answers are still delivered, as failures)."""
        for job in list(self._jobs.values()):
            job.cancel()

    def shutdown(self, wait_ms: int = 3000) -> None:
        """Interrupt every job and wait for the worker threads to finish (before the editor goes away)."""
        self.cancel_all()
        self.pool.waitForDone(wait_ms)

    @Slot(object)
    def _on_done(self, report: tuple[str, int, bool, Any]) -> None:
        channel, ticket, ok, result = report
        self._jobs.pop(ticket, None)
        if ok:
            self.finished.emit(channel, ticket, result)
        else:
            self.failed.emit(channel, ticket, str(result))


__all__ = ["JobRunner"]
