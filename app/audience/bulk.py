"""Fast bulk writes of contact rows inside the caller's transaction: executemany, deferred indexes, ANALYZE, and
SQL that runs on a worker thread while the caller's thread prepares the next rows."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Index, Table
from sqlalchemy.schema import CreateIndex

CHUNK_ROWS = 50_000
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


class _Worker(threading.Thread):
    def __init__(self, driver: Any, statements: Sequence[str]) -> None:
        super().__init__(name="bulk-sql", daemon=True)
        self.driver, self.statements = driver, list(statements)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for sql in self.statements:
                self.driver.execute(sql)
        except BaseException as e:  # handed to the caller's thread by `in_background`
            self.error = e


@contextmanager
def in_background(conn: Connection, statements: Sequence[str]) -> Iterator[None]:
    """Run SQL statements (index builds, ANALYZE) on `conn`, in its transaction, on a worker thread while the
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
        if worker.is_alive():
            worker.driver.interrupt()
        worker.join()
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


__all__ = ["analyze", "analyze_statements", "bulk_pragmas", "drop_indexes", "in_background", "index_ddl",
           "indexes_deferred", "insert_rows"]
