"""Fast bulk writes of contact rows inside the caller's transaction: executemany, deferred indexes, ANALYZE."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table

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


@contextmanager
def indexes_deferred(conn: Connection, tables: Sequence[Table], keep: Collection[str] = ()) -> Iterator[None]:
    """Drop the tables' secondary indexes (except those named in `keep`) for a bulk load and build them again
    afterwards, one sort each. Inside a transaction, so a failure rolls the indexes back too.
    """
    dropped = [ix for table in tables for ix in table.indexes if ix.name not in keep]
    for ix in dropped:
        ix.drop(conn, checkfirst=True)
    yield
    for ix in dropped:
        ix.create(conn)


@contextmanager
def bulk_pragmas(conn: Connection) -> Iterator[None]:
    """A larger page cache for the connection during a bulk load, restored afterwards."""
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(BULK_CACHE_KIB)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics after a bulk load.

    A full ANALYZE (about 1 s per million contacts): sampled statistics misjudge low-cardinality columns such
    as country as selective, and the planner then walks half the table through an index.
    """
    conn.exec_driver_sql("PRAGMA analysis_limit = 0")
    conn.exec_driver_sql("ANALYZE")


__all__ = ["analyze", "bulk_pragmas", "indexes_deferred", "insert_rows"]
