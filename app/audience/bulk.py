"""Fast bulk writes of contact rows inside the caller's transaction: executemany, deferred indexes, ANALYZE, and
SQL that runs on a worker thread while the caller's thread prepares the next rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import islice
from typing import Any, Generic, TypeVar, cast

import numpy as np
from sqlalchemy import Connection, Index, Table
from sqlalchemy.schema import CreateIndex

from app.audience.pages import stat_text

T = TypeVar("T")
CHUNK_ROWS = 50_000
# the phases of a load, recorded when a benchmark sets a list here: (phase, wall seconds, loading thread's CPU)
PHASES: list[tuple[str, float, float]] | None = None
BULK_CACHE_KIB = 256 * 1024  # page cache while loading: index building sorts in memory instead of spilling


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                chunk: int = CHUNK_ROWS) -> int:
    """Insert plain rows (Python values in `columns` order) with the driver's executemany; returns the count.

    Runs on the raw DB-API cursor, inside the transaction `conn` is in: values are bound, never formatted in.
    """
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    total = 0
    try:
        it = iter(rows)
        while batch := list(islice(it, chunk)):
            cursor.executemany(sql, batch)
            total += len(batch)
    finally:
        cursor.close()
    return total


# who is told what a load is doing as each part begins (the command line's progress line): set by `watched`, in
# the loading thread's context
_WATCHER: ContextVar[Callable[[str], None] | None] = ContextVar("bulk_watcher", default=None)


@contextmanager
def watched(tell: Callable[[str], None]) -> Iterator[None]:
    """Within the block, tell `tell` what the load in this thread is doing (a short text for the user) as each
    part begins."""
    token = _WATCHER.set(tell)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def announce(shown: str) -> None:
    """Tell the watcher, if any, that the load is now doing `shown`."""
    tell = _WATCHER.get()
    if tell is not None:
        tell(shown)


@contextmanager
def phase(name: str, shown: str | None = None) -> Iterator[None]:
    """A part of a load: announced to the watcher as `shown` (when given), and timed into PHASES when a
    benchmark asks (benchmarks/bench_project_file.py)."""
    if shown is not None:
        announce(shown)
    if PHASES is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        if PHASES is not None:
            PHASES.append((name, time.perf_counter() - wall, time.thread_time() - cpu))


def drop_indexes(conn: Connection, tables: Sequence[Table], keep: Collection[str] = ()) -> list[Index]:
    """Drop the tables' secondary indexes (except those named in `keep`) for a bulk load; returns them, to be
    built again afterwards (one sort each instead of a b-tree insert per row). Inside the caller's transaction,
    so a failure rolls the drop back too."""
    dropped = [ix for table in tables for ix in table.indexes if ix.name not in keep]
    for ix in dropped:
        ix.drop(conn, checkfirst=True)
    return dropped


def index_ddl(conn: Connection, index: Index) -> str:
    """The CREATE INDEX statement of an index, as this connection's dialect writes it."""
    return str(CreateIndex(index).compile(dialect=conn.dialect))


@contextmanager
def indexes_deferred(conn: Connection, tables: Sequence[Table], keep: Collection[str] = ()) -> Iterator[None]:
    """Drop the tables' secondary indexes (except those named in `keep`) for a bulk load and build them again
    afterwards, one sort each. Inside a transaction, so a failure rolls the indexes back too.
    """
    dropped = drop_indexes(conn, tables, keep)
    yield
    for ix in dropped:
        ix.create(conn)


# SQL to run, or a function that makes SQL when its turn comes (after the statements before it have run)
Statement = str | Callable[[], Sequence[str]]


class _Worker(threading.Thread):
    def __init__(self, driver: Any, statements: Sequence[Statement]) -> None:
        super().__init__(name="bulk-sql", daemon=True)
        self.driver, self.statements = driver, list(statements)
        self.error: BaseException | None = None
        self.stopped = threading.Event()  # the block failed: start no further statement

    def run(self) -> None:
        try:
            for item in self.statements:
                if self.stopped.is_set():
                    return
                for sql in [item] if isinstance(item, str) else item():
                    if self.stopped.is_set():
                        return
                    self.driver.execute(sql)
        except BaseException as e:  # handed to the caller's thread by `in_background`
            self.error = e

    def stop(self) -> None:
        """Interrupt the statement running, and any the worker was about to start (an interrupt only reaches a
        statement already running: the block may fail before the worker has begun its first)."""
        self.stopped.set()
        while self.is_alive():
            self.driver.interrupt()
            self.join(0.05)


@contextmanager
def in_background(conn: Connection, statements: Sequence[Statement]) -> Iterator[None]:
    """Run SQL statements (index builds, statistics) on `conn`, in its transaction, on a worker thread while the
    block runs; the block must not use `conn`. SQLite releases the GIL while it sorts, so the block's Python
    work (formatting the next rows) goes on on the other core. The block's end waits for the statements and
    raises their error; an error in the block interrupts them first. The connection must allow use from
    another thread (app.store.opening makes its connections so; only one thread uses one at a time).
    """
    worker = _Worker(conn.connection.driver_connection, statements)
    worker.start()
    try:
        yield
    except BaseException:
        worker.stop()
        raise
    worker.join()
    if worker.error is not None:
        raise worker.error


@contextmanager
def bulk_pragmas(conn: Connection) -> Iterator[None]:
    """A larger page cache for the connection during a bulk load, restored afterwards."""
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(BULK_CACHE_KIB)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


class Later(Generic[T]):
    """`fn(*args)` on a thread of its own, from now; `result()` waits for it (and raises what it raised). For
    NumPy work that overlaps SQL on the loading thread (both let go of the interpreter lock). Nothing waits for
    it if the load fails first: it ends by itself."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), name="bulk-later", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., T], *args: Any) -> None:
        try:
            self._value = fn(*args)
        except BaseException as e:  # handed to the caller by result()
            self._error = e

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def analyze(conn: Connection, tables: Sequence[str] = ()) -> None:
    """Refresh the planner's statistics after a bulk load (of `tables`, default all).

    A full ANALYZE (about 1 s per million contacts): sampled statistics misjudge low-cardinality columns such
    as country as selective, and the planner then walks half the table through an index.
    """
    conn.exec_driver_sql("PRAGMA analysis_limit = 0")
    for sql in analyze_statements(tables):
        conn.exec_driver_sql(sql)


def analyze_statements(tables: Sequence[str] = ()) -> list[str]:
    """The ANALYZE statements of `tables` (default: the whole file)."""
    return [f'ANALYZE "{name}"' for name in tables] if tables else ["ANALYZE"]


# --- statistics written directly (the load knows its rows: no table scan as ANALYZE makes) ---------------------

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# a column's values for `index_stats`: numbers (NaN: NULL), or a text column as (codes, values) with -1 for NULL
KeyColumn = np.ndarray | tuple[np.ndarray, Sequence[str]]


def _equality_codes(column: KeyColumn, collation: str) -> np.ndarray:
    """Codes equal exactly where SQLite finds the values equal under `collation` (NULL equal to NULL, as ANALYZE
    counts them)."""
    if isinstance(column, tuple):
        codes, values = column
        folded = [v.translate(_ASCII_UPPER) for v in values] if collation.upper() == "NOCASE" else list(values)
        if collation.upper() not in ("NOCASE", "BINARY"):
            raise ValueError(f"no statistics for collation {collation}")
        _, canon = np.unique(np.array(folded + [""], dtype=object), return_inverse=True)
        canon = canon.astype(np.int64)
        canon[-1] = -1  # NULL: apart from every text, even the empty one
        return canon[np.where(codes >= 0, codes, len(values))]
    _, inverse = np.unique(np.asarray(column, dtype=np.float64), return_inverse=True)  # NaNs are one value
    return inverse.astype(np.int64)


def index_stats(n_rows: int, keys: Sequence[np.ndarray]) -> str:
    """The `sqlite_stat1.stat` text ANALYZE writes for an index of `n_rows` rows whose key columns have the
    equality codes `keys` (in index order): the row count, then for each key prefix the average rows per
    distinct value, rounded up as SQLite does (and 2 read as 1 when nearly every row is distinct)."""
    distinct = []
    if n_rows:
        order = np.lexsort(list(keys)[::-1])
        changed = np.zeros(n_rows - 1, dtype=bool)
        for k in keys:
            s = k[order]
            changed |= s[1:] != s[:-1]
            distinct.append(int(changed.sum()) + 1)
    return stat_text(n_rows, distinct)


def stat_rows(driver: Any, table: str, n_rows: int, columns: Mapping[str, KeyColumn]) -> list[tuple[str, str]]:
    """(index, stat) rows of `sqlite_stat1` for every index `table` has now (as ANALYZE with no analysis limit
    would write them), from the values of the table's rows (`columns` by name: every indexed column).
    `driver` is the sqlite3 connection."""
    rows: list[tuple[str, str]] = []
    if not n_rows:
        return rows  # ANALYZE writes no statistics for an empty table
    for _, index, *_ in driver.execute(f'PRAGMA index_list("{table}")').fetchall():
        keys = []
        for _, cid, name, _, collation, key in driver.execute(f'PRAGMA index_xinfo("{index}")').fetchall():
            if key and cid >= 0:
                keys.append(_equality_codes(columns[name], collation))
        rows.append((index, index_stats(n_rows, keys)))
    return rows


def stat_statements(table: str, rows: Sequence[tuple[str, str]]) -> list[str]:
    """SQL that replaces the statistics of `table` by `rows` (from `stat_rows`; sqlite_stat1 must exist, which
    any ANALYZE makes). The planner reads them at the next `ANALYZE sqlite_schema` (or ANALYZE)."""

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return [f"DELETE FROM sqlite_stat1 WHERE tbl = {quoted(table)}",
            *(f"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ({quoted(table)}, {quoted(ix)}, {quoted(stat)})"
              for ix, stat in rows)]


__all__ = ["PHASES", "KeyColumn", "Later", "Statement", "analyze", "analyze_statements", "announce", "bulk_pragmas",
           "drop_indexes", "in_background", "index_ddl", "index_stats", "indexes_deferred", "insert_rows",
           "phase", "stat_rows", "stat_statements", "watched"]
