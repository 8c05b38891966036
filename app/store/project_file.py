"""A project file on disk: one SQLite file per project, kept up to date as the project is edited.

`ProjectFile.open` loads the Project and, unless the file is read-only, subscribes to `project.committed`:
every batch of changes (one user gesture) is written in one transaction, so a crash loses at most the edit in
flight. A file is read-only when asked, when its permission bits forbid writing, or when another Journey
Studio process already has it open for writing (see app.store.lock).
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator, Literal

from sqlalchemy import Connection, Engine, Text, insert, select, text, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from app.codec.plain import PlainError, journey_from_doc, journey_to_doc
from app.errors import ModelError, ProjectFileError, one_line
from app.model.content import Content
from app.model.journey import Change, Journey
from app.model.project import Project
from app.model.segment import Segment
from app.model.values import printable, shown
from app.store import integrity
from app.store import lock as locking
from app.store import migrate
from app.store import runs as _runs
from app.store import schema as t
from app.store.flush import flushing
from app.store.loading import encode_settings, load_project, stored_json, stored_time
from app.store.opening import (check_header, make_engine, open_access, sqlite_error, take_lock)
from app.store.runs import RunInfo, SavedRun
from app.store.writing import write_changes, write_project

BACKUP_STEP_PAGES = 8192  # pages copied per step of a rebuilt file's backup (32 MB at the usual page size)
MILESTONE_KINDS: tuple[str, ...] = ("created", "checked", "simulated", "approved", "exported")
"""Milestones the application records; other lower-case words are accepted too."""
_MILESTONE_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
Write = Callable[[Connection], None]


def _backup_step(status: int, remaining: int, total: int) -> None:
    """Called after each step of a rebuilt file's backup (a hook for tests: the transaction is open here)."""


def _upgrade(path: Path, conn: Connection, old: int) -> None:
    """Migrate an older file to the current schema in one transaction (all or nothing)."""
    try:
        with conn.begin():
            migrate.upgrade(conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {int(migrate.SCHEMA_VERSION)}")
    except Exception as e:
        raise ProjectFileError(f"{path} could not be upgraded from schema {old} to schema "
                               f"{migrate.SCHEMA_VERSION}: {one_line(e)}") from None


class ProjectFile:
    """An open project file and the Project loaded from it."""

    path: Path
    readonly_reason: str | None
    project: Project

    def __init__(self, path: Path, engine: Engine, conn: Connection, project: Project,
                 lock: locking.WriteLock | None, readonly_reason: str | None) -> None:
        self.path = path
        self.project = project
        self.readonly_reason = readonly_reason
        self._engine: Engine | None = engine
        self._conn: Connection | None = conn
        self._lock = lock
        self._unsaved: list[Change] = []
        self._queued: list[Write] = []
        self._attached = False
        self._rebuilding = False  # a load is rebuilding the file from a copy (see `rebuilt`)
        self.pending_check: str | None = None  # why the pages are in doubt, until `verify()` checks them
        self.sound = readonly_reason is None and lock is not None  # pages known sound (a new file's are)
        if not self.readonly:
            project.committed.connect(self._on_committed)
            self._attached = True

    @property
    def readonly(self) -> bool:
        """Whether edits are not written (see `readonly_reason`)."""
        return self.readonly_reason is not None

    @property
    def readonly_reason_is_damage(self) -> bool:
        """Whether the file was found damaged (its reason says so)."""
        return bool(self.readonly_reason and self.readonly_reason.startswith("it is damaged"))

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._conn is None

    @property
    def unsaved(self) -> bool:
        """Whether a batch failed to be written (it is written again with the next one)."""
        return bool(self._unsaved or self._queued)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.readonly else "writable")
        return f"ProjectFile({str(self.path)!r}, {state})"

    # --- opening and closing ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], *, name: str | None = None,
               project: Project | None = None) -> ProjectFile:
        """Create a new project file (refused if `path` exists) holding `project` or an empty project."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise ProjectFileError(f"{path} already exists; choose another name")
        if not path.parent.is_dir():
            raise ProjectFileError(f"{path} cannot be created: the folder {path.parent} does not exist")
        lock, reason = take_lock(path)
        if lock is None:
            raise ProjectFileError(f"{path} cannot be created: {reason}")
        project = project if project is not None else Project(name or path.stem)
        if name is not None:
            project.name = name
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except OSError as e:
            lock.release()
            if isinstance(e, FileExistsError):
                raise ProjectFileError(f"{path} already exists; choose another name") from None
            raise ProjectFileError(f"{path} cannot be created: {e.strerror or e}") from None
        engine = conn = None
        try:
            engine = make_engine(path, readonly=False)
            conn = engine.connect()
            with conn.begin():
                migrate.upgrade(conn)
                conn.execute(insert(t.project).values(id=1, name=project.name,
                                                      settings=encode_settings(project.settings)))
                write_project(conn, project, t.utcnow())
        except BaseException as e:
            if conn is not None:
                conn.close()
            if engine is not None:
                engine.dispose()
            for leftover in (path, path.with_name(path.name + "-journal")):
                leftover.unlink(missing_ok=True)
            lock.release()
            if isinstance(e, (SQLAlchemyError, sqlite3.Error)):
                raise sqlite_error(path, e, "cannot be created") from None
            if isinstance(e, Exception) and not isinstance(e, ProjectFileError):
                raise ProjectFileError(f"{path} cannot be created: {one_line(e)}") from None
            raise
        return cls(path, engine, conn, project, lock, None)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False,
             check: Literal["auto", "defer", "never"] = "auto") -> ProjectFile:
        """Open a project file and load its project; writable unless asked, read-only on disk, or in use.

        When its pages are in doubt (not closed cleanly, changed since it was last closed here: see
        app/store/integrity.py) they are all checked first (`check="auto"`), and a damaged file opens read-only;
        `check="defer"` leaves the doubt in `pending_check` for the caller to `verify()` later (the designer does
        it in the background); `check="never"` skips it."""
        path = Path(path)
        lock: locking.WriteLock | None = None
        engine = conn = None
        try:
            access = open_access(path, readonly=readonly, check=check)  # releases its lock if it fails
            lock, reason, state, pending = access.lock, access.reason, access.state, access.pending
            engine = make_engine(path, readonly=lock is None)
            conn = engine.connect()
            if not state.current:
                _upgrade(path, conn, state.user_version)
            with conn.begin():
                project = load_project(conn, path)
        except BaseException as e:
            if conn is not None:
                conn.close()
            if engine is not None:
                engine.dispose()
            if lock is not None:
                lock.release()
            if isinstance(e, (SQLAlchemyError, sqlite3.Error)):
                raise sqlite_error(path, e) from None
            if isinstance(e, Exception) and not isinstance(e, ProjectFileError):
                raise ProjectFileError(f"{path} cannot be read: {one_line(e)}") from None
            raise
        pf = cls(path, engine, conn, project, lock, reason)
        pf.pending_check = pending
        pf.sound = check != "never" and pending is None and not pf.readonly_reason_is_damage
        return pf

    def verify(self) -> list[str]:
        """Check every page now (the deferred check of `open`); a damaged file becomes read-only. The problems
        found, [] when the file is sound."""
        return self.apply_check(integrity.full_check(self.path))

    def apply_check(self, problems: list[str]) -> list[str]:
        """Act on a full check's result (run elsewhere, e.g. in a background thread): damage makes the file
        read-only. Returns the problems."""
        self.pending_check = None
        self.sound = not problems
        if problems:
            integrity.forget(self.path)
            self.make_readonly(integrity.damage_reason(problems))
        return problems

    def make_readonly(self, reason: str) -> None:
        """Stop writing: later edits are refused with `reason` (the file and its project stay open to read)."""
        if self.readonly or self._conn is None:
            return
        if self._attached:
            self.project.committed.disconnect(self._on_committed)
            self._attached = False
        self._release()
        self.readonly_reason = reason
        self._engine = make_engine(self.path, readonly=True)
        self._conn = self._engine.connect()

    def close(self) -> None:
        """Stop writing through and release the file (idempotent); a sound file that this process wrote, or that
        nobody else holds, is recorded as closed cleanly (its next open need not check every page)."""
        if self._attached:
            self.project.committed.disconnect(self._on_committed)
            self._attached = False
        sound = self._conn is not None and self.sound
        wrote = self._lock is not None
        self._release()
        if sound and (wrote or locking.held_by(self.path) is None):
            integrity.record_clean_close(self.path)

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        engine, self._engine = self._engine, None
        if conn is not None:
            conn.close()
        if engine is not None:
            engine.dispose()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> ProjectFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        if self._conn is None:
            raise ProjectFileError(f"{self.path} is closed")
        if self._rebuilding:
            raise ProjectFileError(f"{self.path} {doing}: a load is being written into it; try again when it ends")
        try:
            with self._conn.begin():
                yield self._conn
        except ProjectFileError:
            raise
        except (SQLAlchemyError, sqlite3.Error) as e:
            raise sqlite_error(self.path, e, doing) from None

    def _require_writable(self, doing: str) -> None:
        if self.readonly:
            raise ProjectFileError(f"{self.path}: cannot {doing}: {self.readonly_reason}")

    def _on_committed(self, changes: list[Change]) -> None:
        if self._rebuilding:  # a load replaces the file's content from a copy made before these edits
            self._unsaved += list(changes)
            return
        pending = self._unsaved + list(changes)
        queued = self._queued
        try:
            with self._transaction("could not save the change") as conn:
                write_changes(conn, self.project, pending, t.utcnow())
                for write in queued:
                    write(conn)
        except Exception as e:
            self._unsaved, self._queued = pending, queued
            if isinstance(e, ProjectFileError):
                raise
            raise ProjectFileError(f"{self.path} could not save the change: {one_line(e)}") from None
        self._unsaved, self._queued = [], []

    def _write_for(self, journey_id: str, write: Write, doing: str) -> None:
        """Write now, or with the pending batch when the journey has not reached the file yet."""
        with self._transaction(doing) as conn:
            known = conn.execute(select(t.journeys.c.id).where(t.journeys.c.id == journey_id)).first()
            if known is not None and not self._queued:
                write(conn)
                return
        self._queued.append(write)

    # --- versions -----------------------------------------------------------------------------------------
    def freeze(self, journey_key: str) -> int:
        """Freeze a journey as version N (its current version) and make later edits a draft of N + 1."""
        self._require_writable("freeze a version")
        journey = self.project.journey(journey_key)
        number = journey.version
        with self._transaction("cannot freeze a version") as conn:
            frozen = conn.execute(select(t.journey_versions.c.version).where(
                t.journey_versions.c.journey_id == journey.id, t.journey_versions.c.version == number)).first()
        if frozen is not None:
            raise ProjectFileError(f"{self.path}: version {number} of journey '{journey.name}' is already frozen")
        document = journey_to_doc(journey, self.project.content, self.project.segments)
        now = t.utcnow()

        def write(conn: Connection) -> None:
            conn.execute(insert(t.journey_versions).values(journey_id=journey.id, version=number, frozen_at=now,
                                                           document=document))
            conn.execute(insert(t.milestones).values(journey_id=journey.id, kind="exported", at=now,
                                                     detail=f"version {number}"))

        self._queued.append(write)  # written in the same transaction as the version bump below
        with self.project.batch():
            journey.update(version=number + 1)
        return number

    def _journey_label(self, journey: Journey) -> str:
        return f"{self.path}: journey '{printable(journey.name)}'"

    def versions(self, journey_key: str) -> list[tuple[int, datetime]]:
        """The frozen versions of a journey and when each was frozen, oldest first.

        A damaged row (a version number or a time stamp edited by hand into something else) is a
        ProjectFileError naming the journey and the version: the history is not shown with a hole in it."""
        journey = self.project.journey(journey_key)
        v = t.journey_versions
        with self._transaction("cannot be read") as conn:
            rows = conn.execute(select(v.c.version, type_coerce(v.c.frozen_at, Text).label("frozen_at"))
                                .where(v.c.journey_id == journey.id).order_by(v.c.version)).all()
        label = self._journey_label(journey)
        out = []
        for r in rows:
            if isinstance(r.version, bool) or not isinstance(r.version, int):
                raise ProjectFileError(f"{label}: a frozen version is damaged: its number {shown(r.version)} is not "
                                       "a whole number")
            out.append((r.version, stored_time(r.frozen_at, f"{label}, version {r.version}")))
        return out

    def read_version(self, journey_key: str, version: int) -> tuple[Journey, list[Content], list[Segment]]:
        """A frozen version of a journey, with the content and segments it used then."""
        journey = self.project.journey(journey_key)
        v = t.journey_versions
        with self._transaction("cannot be read") as conn:
            stored = conn.execute(select(type_coerce(v.c.document, Text)).where(
                v.c.journey_id == journey.id, v.c.version == version)).first()
        if stored is None:
            known = ", ".join(str(n) for n, _ in self.versions(journey.id)) or "none"
            raise ModelError(f"journey '{journey.name}' has no frozen version {version} (frozen: {known})")
        where = f"{self._journey_label(journey)}, version {version}"
        doc = stored_json(stored[0], where)
        try:
            return journey_from_doc(doc, journey_id=journey.id)
        except (PlainError, ModelError) as e:
            raise ProjectFileError(f"{where} is damaged: {printable(str(e))}") from None
        except RecursionError:
            raise ProjectFileError(f"{where} is damaged: its document is nested too deeply") from None

    # --- milestones ---------------------------------------------------------------------------------------
    def add_milestone(self, journey_key: str, kind: str, detail: str = "") -> None:
        """Record that something happened to a journey (checked, simulated...); skipped when read-only."""
        if not _MILESTONE_KIND.fullmatch(kind):
            raise ValueError(f"milestone kind must be a lower-case word such as {', '.join(MILESTONE_KINDS)}")
        if self.readonly:
            return
        journey = self.project.journey(journey_key)

        def write(conn: Connection) -> None:
            conn.execute(insert(t.milestones).values(journey_id=journey.id, kind=kind, at=t.utcnow(),
                                                     detail=detail))

        self._write_for(journey.id, write, "cannot record a milestone")

    def milestones(self, journey_key: str) -> list[tuple[str, datetime, str]]:
        """What happened to a journey: (kind, when, detail), oldest first.

        A damaged row (a time stamp, kind or detail edited by hand into something else) is a ProjectFileError
        naming the journey and the milestone's row id."""
        journey = self.project.journey(journey_key)
        m = t.milestones
        with self._transaction("cannot be read") as conn:
            rows = conn.execute(select(m.c.id, m.c.kind, type_coerce(m.c.at, Text).label("at"), m.c.detail)
                                .where(m.c.journey_id == journey.id).order_by(m.c.at, m.c.id)).all()
        label = self._journey_label(journey)
        out = []
        for r in rows:
            where = f"{label}, milestone {r.id}"
            if not isinstance(r.kind, str) or not isinstance(r.detail, str):
                raise ProjectFileError(f"{where} is damaged: its kind and detail must be text")
            out.append((r.kind, stored_time(r.at, where), r.detail))
        return out

    # --- saved simulation runs (app.store.runs) -------------------------------------------------------------
    def save_run(self, record: SavedRun, *, name: str = "") -> int:
        """Save a simulation run and a "simulated" milestone, in one transaction; returns the run id."""
        return _runs.save_run(self, record, name=name)

    def runs(self, journey_key: str | None = None) -> list[RunInfo]:
        """Saved runs, oldest first (of one journey, by name or id, if given)."""
        return _runs.runs(self, journey_key)

    def load_run_bytes(self, run_id: int) -> bytes:
        """A saved run's bytes (`simulator.runs.load_run` reads them as a record to replay or compare)."""
        return _runs.load_run_bytes(self, run_id)

    def saved_journey_doc(self, run_id: int) -> dict[str, Any]:
        """The journey document a saved run simulated."""
        return _runs.saved_journey_doc(self, run_id)

    def delete_run(self, run_id: int) -> None:
        """Delete a saved run."""
        _runs.delete_run(self, run_id)

    def run_info(self, run_id: int) -> RunInfo:
        """What the browser lists about one saved run."""
        return _runs.run_info(self, run_id)

    def rename_run(self, run_id: int, name: str) -> RunInfo:
        """Give a saved run another name."""
        return _runs.rename_run(self, run_id, name)

    def set_run_notes(self, run_id: int, text: str) -> RunInfo:
        """Replace a saved run's review notes."""
        return _runs.set_run_notes(self, run_id, text)

    def approve_run(self, run_id: int, by: str) -> RunInfo:
        """Mark a saved run approved by `by` and record an "approved" milestone, in one transaction."""
        return _runs.approve_run(self, run_id, by)

    def withdraw_approval(self, run_id: int) -> RunInfo:
        """Take back a saved run's approval."""
        return _runs.withdraw_approval(self, run_id)

    def approved_run(self, journey_key: str, version: int | None = None) -> RunInfo | None:
        """The run of a journey approved last (of journey `version` if given), or None."""
        return _runs.approved_run(self, journey_key, version)

    # --- save as ------------------------------------------------------------------------------------------
    def save_as(self, new_path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Copy the project to `new_path` and continue on the new file (writable), as desktop apps do."""
        new = Path(new_path)
        if self._conn is None:
            raise ProjectFileError(f"{self.path} is closed")
        if new.exists() and new.resolve() == self.path.resolve():
            return
        if new.exists() and (not overwrite or new.is_dir()):
            raise ProjectFileError(f"{new} already exists; choose another name")
        if not new.parent.is_dir():
            raise ProjectFileError(f"{new} cannot be created: the folder {new.parent} does not exist")
        lock, reason = take_lock(new)
        if lock is None:
            raise ProjectFileError(f"{new} cannot be written: {reason}")
        tmp = new.with_name(f".{new.name}.{os.getpid()}.tmp")
        try:
            source = self._conn.connection.driver_connection
            target = sqlite3.connect(tmp, isolation_level=None)
            try:
                source.backup(target)  # type: ignore[union-attr]
            finally:
                target.close()
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            for sidecar in ("-journal", "-wal", "-shm"):  # never let a stale journal "recover" into the copy
                new.with_name(new.name + sidecar).unlink(missing_ok=True)
            os.replace(tmp, new)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            lock.release()
            if isinstance(e, OSError):
                raise ProjectFileError(f"{new} cannot be written: {e.strerror or e}") from None
            if isinstance(e, sqlite3.Error):
                raise sqlite_error(new, e, "cannot be written") from None
            raise
        self._release()
        self.path, self._lock, self.readonly_reason = new, lock, None
        self._engine = make_engine(new, readonly=False)
        self._conn = self._engine.connect()
        if not self._attached:
            self.project.committed.connect(self._on_committed)
            self._attached = True
        if self._unsaved or self._queued:
            self._on_committed([])

    # --- audience data -----------------------------------------------------------------------------------
    @contextmanager
    def connection(self, *, write: bool = False) -> Iterator[Connection]:
        """The file's connection inside one transaction, for the audience tables (never loaded into memory).

        The transaction commits when the block ends and rolls back if it raises, so a bulk write is all or
        nothing. `write=True` refuses a read-only file up front. Do not edit the Project inside the block:
        its changes are written through the same connection.
        """
        if write:
            self._require_writable("change the contacts")
        with self._transaction("cannot use the contacts") as conn:
            yield conn

    @contextmanager
    def bulk_connection(self) -> Iterator[Connection]:
        """Like `connection(write=True)`, for a loader that writes rows it knows to be consistent (ids it made
        itself): foreign keys are not enforced during the transaction, which saves a parent lookup per row.

        Still one transaction (all or nothing, crash-safe through the rollback journal); enforcement is back
        on when the block ends, whatever happens, and any database the loader attached is detached. SQLite only
        switches enforcement (and detaches) outside a transaction, hence a method of its own.
        """
        self._require_writable("change the contacts")
        if self._conn is None:
            raise ProjectFileError(f"{self.path} is closed")
        if self._conn.in_transaction():
            raise ProjectFileError(f"{self.path}: a bulk load cannot start inside another transaction")
        driver = self._conn.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with self._transaction("cannot change the contacts") as conn:
                yield conn
        finally:
            driver.execute("PRAGMA foreign_keys = ON")
            # a loader may attach scratch files (app.audience.side_load); SQLite lets go of them only now
            for _, schema, _ in driver.execute("PRAGMA database_list").fetchall():
                if schema not in ("main", "temp"):
                    driver.execute(f'DETACH DATABASE "{schema}"')

    @contextmanager
    def rebuilt(self, copy: str | os.PathLike[str], *,
                saving: AbstractContextManager[Any] | None = None) -> Iterator[Path]:
        """A copy of the file at `copy` (a new path) for a loader to rebuild as it likes, through connections of
        its own or pages it writes itself; when the block ends without error, the copy becomes this file's
        content in one transaction: SQLite's backup of the copy into this file, all or nothing (crash-safe
        through the rollback journal; other connections see the old content or the new, never a mix). Nothing
        is written into this file before that, and nothing if the block fails. `saving` is entered around the
        backup (a progress phase).

        The copy starts as this file is; edits to the project made meanwhile are written after the backup, and
        other writes are refused until it is done.
        """
        self._require_writable("change the contacts")
        if self._conn is None:
            raise ProjectFileError(f"{self.path} is closed")
        if self._conn.in_transaction() or self._rebuilding:
            raise ProjectFileError(f"{self.path}: a bulk load cannot start inside another transaction")
        copy = Path(copy)
        driver = self._conn.connection.driver_connection
        assert driver is not None
        try:
            target = sqlite3.connect(copy, isolation_level=None)
            try:
                driver.backup(target)
            finally:
                target.close()
        except sqlite3.Error as e:
            raise sqlite_error(self.path, e, "cannot be copied for the load") from None
        self._rebuilding = True
        failed = True
        try:
            yield copy
            with saving if saving is not None else nullcontext():
                source = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    # read once, straight from the page cache; the pages written go to disk as they come, so
                    # that the commit's sync has little left to wait for (app.store.flush)
                    source.execute(f"PRAGMA mmap_size = {int(copy.stat().st_size)}")
                    with flushing(self.path):
                        source.backup(driver, pages=BACKUP_STEP_PAGES, progress=_backup_step)
                except sqlite3.Error as e:
                    raise sqlite_error(self.path, e, "could not take the load (nothing was changed)") from None
                finally:
                    source.close()
            failed = False
        finally:
            self._rebuilding = False
            if self._unsaved or self._queued:  # edits made during the load (or before it), written now
                try:
                    self._on_committed([])
                except ProjectFileError:
                    if not failed:  # (else the load's own failure is the one to report; they stay unsaved)
                        raise

    def schema_version(self) -> int:
        """The schema number recorded in the file (PRAGMA user_version)."""
        with self._transaction("cannot be read") as conn:
            return int(conn.execute(text("PRAGMA user_version")).scalar_one())


def is_project_file(path: str | os.PathLike[str]) -> bool:
    """Whether a file carries the Journey Studio mark (a quick check; it may still be damaged)."""
    try:
        check_header(Path(path))
    except ProjectFileError:
        return False
    return True


__all__ = ["MILESTONE_KINDS", "ProjectFile", "is_project_file"]
