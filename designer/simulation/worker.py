"""A simulation run in a worker thread, so that the window stays responsive while millions of contacts are played.

`RunJob` (a QThread) calls `simulator.request.execute` with a snapshot of the project taken on the UI thread.
The project's own contacts are read through a read-only connection the job opens in its thread (SQLite
connections never cross threads, as in designer.segments.jobs). Progress reaches the UI thread as queued
signals, at most `MAX_PROGRESS_PER_S` times a second; `cancel()` sets the engine's cancel token (a
threading.Event) and interrupts a running SQLite read, and the job then reports `cancelled`.

Saving the run is done in the worker too, when asked (`save_to`): storing the record of a million contacts
(about 17 MB, synced to disk) takes over 100 ms, too long for the UI thread. The job opens its own writable
connection and stores the run with app.store.runs.save_run, the same code as ProjectFile.save_run, in one
transaction with its milestone; a cancel that arrives once the run is being stored no longer stops it.

Jobs keep themselves alive until their thread has finished (a panel closed mid-run must not destroy a running
QThread), and every job still running when the application quits is cancelled and waited for.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Iterator

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.errors import JourneyStudioError, one_line
from app.store.opening import make_engine, sqlite_error
from simulator.engine import Cancelled
from simulator.request import RunOutcome, RunRequest, Snapshot, execute

MAX_PROGRESS_PER_S = 20
CANCELLED = "cancelled"


class RunJob(QThread):
    """One run of `request` over `source`; emits progressed, then exactly one of succeeded, failed, cancelled."""

    progressed = Signal(float, str)      # fraction done (0..1), what it is doing
    succeeded = Signal(object, object, str)  # RunOutcome, run id (None: not saved here), why saving failed ('')
    failed = Signal(str)                 # one line, never a traceback
    cancelled = Signal()

    def __init__(self, request: RunRequest, source: Snapshot, project_path: Path | None = None, *,
                 save_to: Path | None = None) -> None:
        """`source` is the snapshot taken on the UI thread; the project's contacts are read from `project_path`;
        the finished run is saved in the project file `save_to` (None: not saved by the job)."""
        super().__init__()  # no parent: the keeper holds the job until its thread ends, whatever the panel does
        self.request = request
        self.source = source if project_path is None else replace(source, connect=partial(self.read_only,
                                                                                           Path(project_path)))
        self.save_to = Path(save_to) if save_to is not None else None
        self.cancel_token = threading.Event()
        self.save_seconds = 0.0  # how long storing the run took (in the worker)
        self.run_id: int | None = None  # the id of the run once stored by the job
        self._lock = threading.Lock()
        self._raw: sqlite3.Connection | None = None
        self._last_progress = 0.0

    def start(self, *args: object) -> None:  # type: ignore[override]
        """Start the run in its thread."""
        _keeper().keep(self)
        super().start(*args)  # type: ignore[arg-type]

    def cancel(self) -> None:
        """Ask the run to stop (safe from the UI thread, before, during and after the run)."""
        self.cancel_token.set()
        with self._lock:
            if self._raw is not None:
                self._raw.interrupt()  # sqlite3's interrupt is the one call meant for another thread

    @contextmanager
    def read_only(self, path: Path) -> Iterator[Connection]:
        """A read-only connection to the project file, in one transaction, opened in the calling (worker) thread;
        `cancel` interrupts its statements."""
        engine = make_engine(path, readonly=True)
        try:
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                with self._lock:
                    self._raw = raw  # type: ignore[assignment]
                    if self.cancel_token.is_set():
                        raw.interrupt()  # type: ignore[union-attr]
                try:
                    with conn.begin():
                        yield conn
                finally:
                    with self._lock:
                        self._raw = None
        finally:
            engine.dispose()

    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 1.0 / MAX_PROGRESS_PER_S or fraction >= 1.0:
            self._last_progress = now
            self.progressed.emit(float(fraction), message)

    def run(self) -> None:
        """The worker thread: execute the request and report how it ended."""
        try:
            outcome = execute(self.request, self.source, progress=self._progress, cancel=self.cancel_token)
        except Cancelled:
            self.cancelled.emit()
        except MemoryError:
            self.failed.emit(f"not enough memory for this run of {self.request.contacts:,} contacts: "
                             "use fewer contacts or replicas")
        except Exception as e:  # reported as one line in the panel, never a traceback
            if self.cancel_token.is_set():  # e.g. an interrupted SQLite read
                self.cancelled.emit()
            elif isinstance(e, JourneyStudioError):
                self.failed.emit(one_line(e))
            else:
                self.failed.emit(f"the simulation failed: {one_line(e)}")
        else:
            if self.cancel_token.is_set():
                self.cancelled.emit()
                return
            run_id, why = None, ""
            if self.save_to is not None:
                self.progressed.emit(1.0, "saving the run in the project")
                try:
                    run_id = self.run_id = self._save(self.save_to, outcome)
                except Exception as e:  # the panel then saves it on the UI thread, or says why it could not
                    why = one_line(e)
            self.succeeded.emit(outcome, run_id, why)

    def _save(self, path: Path, outcome: RunOutcome) -> int:
        """Store the run (and its milestone) through a writable connection of this thread's own."""
        from app.store import runs
        started = time.perf_counter()
        engine = make_engine(path, readonly=False)
        try:
            with engine.connect() as conn:
                try:
                    with conn.begin():
                        return runs.insert_run(conn, outcome.record, name=self.request.name,
                                               journey_id=self.source.journey.id)
                except (SQLAlchemyError, sqlite3.Error) as e:
                    raise sqlite_error(path, e, "cannot save the simulation run") from None
        finally:
            engine.dispose()
            self.save_seconds = time.perf_counter() - started


class _Keeper(QObject):
    """Holds every running job until its thread has finished; cancels and waits for them when the app quits."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: set[RunJob] = set()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def keep(self, job: RunJob) -> None:
        self._jobs.add(job)
        job.finished.connect(self._finished)

    @Slot()
    def _finished(self) -> None:
        for job in [j for j in self._jobs if j.isFinished()]:
            self._jobs.discard(job)

    def running(self) -> list[RunJob]:
        """Jobs whose thread has not finished yet."""
        return [j for j in self._jobs if not j.isFinished()]

    @Slot()
    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Cancel every job and wait for its thread to end."""
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(wait_ms)
        self._jobs.clear()


_KEEPER: _Keeper | None = None


def _keeper() -> _Keeper:
    global _KEEPER
    if _KEEPER is None:
        _KEEPER = _Keeper()
    return _KEEPER


def running_jobs() -> list[RunJob]:
    """Simulation jobs whose thread is still running (for tests and the window's close)."""
    return _keeper().running()


def shutdown_all(wait_ms: int = 30_000) -> None:
    """Cancel every running simulation and wait for the threads to end (the application does it when quitting)."""
    _keeper().shutdown(wait_ms)


__all__ = ["CANCELLED", "RunJob", "running_jobs", "shutdown_all"]
