"""A simulation run saved into a project file with the standard library's sqlite3 alone, for `journey-studio
simulate`: the same checks, lock, row and transaction as `ProjectFile.open(path)` then `save_run` then `close`,
without importing SQLAlchemy (0.3-0.5 s of CPU that competed with the run for a 2-core machine).

`RunWriter.open(path)` takes the write lock (or says, in `readonly_reason`, why the run cannot be written: the
reasons ProjectFile gives), reads the schema state and checks every page when ProjectFile would
(app.store.integrity); a file of an older schema needs an upgrade, which Alembic does: `NeedsProjectFile` is
raised and the caller opens it with ProjectFile. `save_run` inserts the run and its "simulated" milestone in one
`BEGIN IMMEDIATE` transaction (rolled back on any failure) with the pragmas of ProjectFile's connections
(foreign keys, a rollback journal, FULL sync); `close` releases the lock and records a clean close as
ProjectFile does. The rows are those app.store.runs.insert_run writes (JSON by `json.dumps`, time stamps as
UtcDateTime's ISO text): tests/test_simulate_speed_save.py compares both, and reads the run back with
ProjectFile.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ModelError, ProjectFileError
from app.model.values import printable
from app.store import integrity
from app.store import lock as locking
from app.store.opening import BUSY_TIMEOUT_S, open_access, sqlite_error
from app.store.run_rows import SUMMARY_KEYS, created_at, milestone_detail, run_name, summary_of

if TYPE_CHECKING:
    from app.store.runs import SavedRun

class NeedsProjectFile(ProjectFileError):
    """The file must be upgraded to the current schema before a run is saved in it (ProjectFile does that)."""


def utc_text(moment: datetime) -> str:
    """A time stamp as schema.UtcDateTime stores it."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class RunWriter:
    """A project file opened to save simulation runs in (see the module docstring)."""

    def __init__(self, path: Path, lock: locking.WriteLock | None, readonly_reason: str | None) -> None:
        self.path = path
        self.readonly_reason = readonly_reason
        self._lock = lock
        self._open = True
        self._sound = not (readonly_reason or "").startswith("it is damaged")  # pages checked or not in doubt

    @property
    def readonly(self) -> bool:
        """Whether runs cannot be written (see `readonly_reason`)."""
        return self.readonly_reason is not None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunWriter:
        """The file opened as `ProjectFile.open(path)` opens it (the same refusals, the same read-only reasons);
        NeedsProjectFile for a file of an older schema."""
        path = Path(path)
        access = open_access(path)
        if not access.state.current:
            if access.lock is not None:
                access.lock.release()
            raise NeedsProjectFile(f"{path} must be upgraded to the current schema first")
        lock, reason = access.lock, access.reason
        return cls(path, lock, reason)

    def save_run(self, record: SavedRun, *, name: str = "") -> int:
        """Save a run and a "simulated" milestone for its journey in one transaction; returns the run's id."""
        if self.readonly_reason is not None or self._lock is None:
            raise ProjectFileError(f"{self.path}: cannot save a simulation run: {self.readonly_reason or 'closed'}")
        name = run_name(record, name)
        row = (record.journey_id, record.journey_version, name, utc_text(created_at(record)),
               json.dumps(record.population), json.dumps(record.behaviour), record.seed, record.replicas,
               json.dumps(summary_of(record)), record.to_bytes(), "")
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise sqlite_error(self.path, e, "cannot save the simulation run") from None
        try:
            for pragma in ("foreign_keys = ON", "journal_mode = DELETE", "synchronous = FULL"):
                con.execute(f"PRAGMA {pragma}")
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT 1 FROM journeys WHERE id = ?", (record.journey_id,)).fetchone() is None:
                    names = sorted(r[0] for r in con.execute("SELECT name FROM journeys"))
                    raise ModelError(f"no journey named '{printable(record.journey_id)}' in the project (journeys: "
                                     f"{', '.join(printable(n) for n in names) or 'none'})")
                run_id = int(con.execute(
                    "INSERT INTO simulation_runs (journey_id, journey_version, name, created_at, population, "
                    "behaviour, seed, replicas, summary, data, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row).lastrowid or 0)
                con.execute("INSERT INTO milestones (journey_id, kind, at, detail) VALUES (?, ?, ?, ?)",
                            (record.journey_id, "simulated", utc_text(datetime.now(timezone.utc)),
                             milestone_detail(run_id, record, name)))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise sqlite_error(self.path, e, "cannot save the simulation run") from None
        finally:
            con.close()
        return run_id

    def close(self) -> None:
        """Release the file (idempotent); a sound file that this process held, or that nobody else holds, is
        recorded as closed cleanly (as ProjectFile.close records it)."""
        if not self._open:
            return
        self._open = False
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
        if self._sound and (lock is not None or locking.held_by(self.path) is None):
            integrity.record_clean_close(self.path)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["NeedsProjectFile", "RunWriter", "SUMMARY_KEYS", "summary_of", "utc_text"]
