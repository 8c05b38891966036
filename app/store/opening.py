"""Checks before a file is opened as a project, and the SQLite connections a project file uses.

Nothing here creates or changes a file that is not a project: the header is read with plain file I/O
(size, SQLite magic, `application_id`) before SQLite is involved, and the schema is then inspected through a
read-only (`mode=ro`) connection. Only once a file is known to be ours is it opened for writing.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app import APP_NAME
from app.errors import ProjectFileError
from app.store import integrity, migrate
from app.store import lock as locking
from app.store.plain_schema import APPLICATION_ID, SQLITE_MAGIC

if TYPE_CHECKING:
    from sqlalchemy import Engine

HEADER_SIZE = 100
BUSY_TIMEOUT_S = 5.0
NOT_A_PROJECT = f"is not a {APP_NAME} project"


def not_a_project(path: Path, why: str) -> ProjectFileError:
    """The error for a file that is not a project."""
    return ProjectFileError(f"{path} {NOT_A_PROJECT} ({why})")


def damaged(path: Path, why: str) -> ProjectFileError:
    """The error for a project file whose content is broken: what it means and what to do first, SQLite's own
    words last (for whoever looks into it)."""
    return ProjectFileError(f"{path} is damaged: part of it cannot be read (a disk or copy error, or another "
                            f"program wrote into it). {APP_NAME} did not change it; open a backup or an earlier "
                            f"copy. Technical detail: {why}")


def newer_schema(path: Path, number: int) -> ProjectFileError:
    """The error for a file written with a schema this version does not know."""
    from app import __version__
    form = (f" (file format {number}; this version reads up to {migrate.SCHEMA_VERSION})"
            if number > migrate.SCHEMA_VERSION else " (a file format this version does not know)")
    return ProjectFileError(
        f"{path} was saved by a newer version of {APP_NAME} than this one ({__version__}), in a form this version "
        f"cannot read{form}. Install the newer {APP_NAME} to open it; the file was not changed.")


def sqlite_error(path: Path, exc: BaseException, doing: str = "cannot be opened") -> ProjectFileError:
    """One line for an SQLite failure; corruption is reported as damage."""
    orig: Any = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    name = getattr(orig, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return damaged(path, text)
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return ProjectFileError(f"{path} {doing}: another program is using it ({text})")
    if name.startswith("SQLITE_FULL"):
        return ProjectFileError(f"{path} {doing}: the disk is full")
    return ProjectFileError(f"{path} {doing}: {text}")


def writable_bits(path: Path) -> bool:
    """Whether this process may write the file: the OS is asked (a 0644 file of another user is not writable),
    and a file without write bits counts as read-only even for root (for whom os.access says yes to any file).
    A folder that cannot be written to is found when the write lock's sidecar cannot be made."""
    return bool(path.stat().st_mode & 0o222) and os.access(path, os.W_OK)


def check_header(path: Path) -> None:
    """Refuse, without touching it, anything that is not an SQLite file marked as a Journey Studio project."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ProjectFileError(f"{path} does not exist") from None
    except OSError as e:
        raise ProjectFileError(f"{path} cannot be opened: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise not_a_project(path, "it is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise not_a_project(path, "not a regular file")
    if st.st_size == 0:
        raise ProjectFileError(f"{path} is empty (0 bytes), not a {APP_NAME} project")
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_SIZE)
    except OSError as e:
        raise ProjectFileError(f"{path} cannot be read: {e.strerror or e}") from None
    if not header.startswith(SQLITE_MAGIC):
        raise not_a_project(path, "not an SQLite database")
    if len(header) < HEADER_SIZE:
        raise damaged(path, f"the file is cut short ({len(header)} bytes)")
    app_id = int.from_bytes(header[68:72], "big", signed=True) & 0xFFFFFFFF
    if app_id != APPLICATION_ID:
        raise not_a_project(path, "an SQLite database of another application" if app_id
                            else "an SQLite database without project tables")


@dataclass(frozen=True)
class SchemaState:
    """What the file records about its schema."""

    revision: str | None
    user_version: int

    @property
    def current(self) -> bool:
        """Whether the file is at the schema this version writes."""
        return self.revision == migrate.HEAD_REVISION and self.user_version == migrate.SCHEMA_VERSION


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only SQLite connection that can never create or change the file."""
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _inspect(path: Path) -> SchemaState:
    con = connect_readonly(path)
    try:
        # No page is read here (a full check of a large file takes seconds: see app/store/integrity.py for
        # when it runs); a file shorter than its header says is cut short, whatever else is right.
        pages, page_size = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        if path.stat().st_size < pages * page_size:
            raise damaged(path, f"the file is cut short ({path.stat().st_size:,} of {pages * page_size:,} bytes)")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        user_version = con.execute("PRAGMA user_version").fetchone()[0]
        if "alembic_version" not in tables:
            raise not_a_project(path, "an SQLite database without project tables")
        revisions = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
    finally:
        con.close()
    if len(revisions) != 1:
        raise damaged(path, f"it records {len(revisions)} schema revisions instead of one")
    return SchemaState(revisions[0], user_version)


def _recover(path: Path) -> None:
    """Let SQLite roll back a transaction that a crash left unfinished (a 'hot journal')."""
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        con.close()


def inspect_schema(path: Path, *, may_write: bool) -> SchemaState:
    """Read the schema state of a file that passed `check_header`; refuse damaged and too-new files.

    With `may_write`, a transaction left unfinished by a crash is rolled back first (the file is ours).
    """
    try:
        try:
            state = _inspect(path)
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorname", "") != "SQLITE_READONLY_ROLLBACK":
                raise
            if not may_write:
                raise ProjectFileError(f"{path} holds a change that was interrupted by a crash; open it for "
                                       "writing once to recover it") from None
            _recover(path)
            state = _inspect(path)
    except sqlite3.Error as e:
        raise sqlite_error(path, e) from None
    number = max(state.user_version, migrate.schema_number(state.revision))
    if state.current:
        return state
    if number > migrate.SCHEMA_VERSION or state.revision not in migrate.known_revisions():
        raise newer_schema(path, number)
    return state


def make_engine(path: Path, *, readonly: bool) -> Engine:
    """An engine on one project file; transactions are real SQLite transactions (DDL included)."""
    # imported here: the checks above serve app.store.plain_read, which reads without SQLAlchemy
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if readonly:
        def creator() -> sqlite3.Connection:
            return connect_readonly(path)
    else:
        def creator() -> sqlite3.Connection:
            # check_same_thread=False: a bulk load builds indexes on a worker thread while the caller's thread
            # prepares rows (app.audience.bulk.in_background); one thread uses the connection at a time
            return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)

    engine = create_engine("sqlite+pysqlite://", creator=creator, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # isolation_level=None stops the sqlite3 module from issuing its own BEGIN (it skips DDL and SELECT);
        # the "begin" hook below emits a real BEGIN so that every SQLAlchemy transaction is an SQLite one.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        if readonly:
            cur.execute("PRAGMA query_only = ON")
        else:
            # A rollback journal keeps the project one self-contained file (no -wal/-shm beside it that a
            # user copying the file could leave behind); FULL sync makes each committed edit durable.
            cur.execute("PRAGMA journal_mode = DELETE")
            cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def lock_reason(holder: int) -> str:
    """Why a file is opened read-only when another process holds its write lock."""
    who = f" (process {holder})" if holder else ""
    return f"it is open for writing in another {APP_NAME} window{who}"


def take_lock(path: Path) -> tuple[locking.WriteLock | None, str | None]:
    """The write lock, or the reason the file must be opened read-only instead."""
    try:
        got = locking.try_acquire(path)
    except OSError as e:
        return None, f"its folder cannot be written to ({e.strerror or e})"
    if isinstance(got, int):
        return None, lock_reason(got)
    return got, None


@dataclass
class Access:
    """How a project file is opened: its write lock (None: read-only, for `reason`), its schema, and a doubt about
    its pages left for the caller to check (`pending`, with check="defer")."""

    lock: locking.WriteLock | None
    reason: str | None
    state: SchemaState
    pending: str | None


def open_access(path: Path, *, readonly: bool = False,
                check: Literal["auto", "defer", "never"] = "auto") -> Access:
    """The steps every opening of a project file for its contents takes, in order (ProjectFile.open, and
    plain_write.RunWriter.open, which saves runs with sqlite3 alone): the header checked, the write lock taken
    unless read-only, the schema read (a crash's unfinished transaction rolled back when the lock is ours), the
    pages checked when in doubt (app/store/integrity.py; a damaged file is opened read-only), and an older
    schema refused when the file cannot be written (it must be upgraded). The lock is released on any error."""
    check_header(path)
    lock: locking.WriteLock | None = None
    reason: str | None
    if readonly:
        reason = "it was opened read-only"
    elif not writable_bits(path):
        reason = "the file is read-only"
    else:
        lock, reason = take_lock(path)
    unclean = lock.stale if lock is not None else (
        locking.lock_path(path).exists() and locking.held_by(path) is None)
    try:
        state = inspect_schema(path, may_write=lock is not None)
        pending = integrity.doubt(path, unclean=unclean) if check != "never" else None
        if pending is not None and check == "auto":
            problems = integrity.full_check(path)
            pending = None
            if problems:
                integrity.forget(path)
                if lock is not None:
                    lock.release()
                    lock = None
                reason = integrity.damage_reason(problems)
        if not state.current and lock is None:
            raise ProjectFileError(
                f"{path} uses schema {state.user_version} of an older {APP_NAME} and must be upgraded, "
                f"which cannot be done while {reason}")
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return Access(lock, reason, state, pending)
