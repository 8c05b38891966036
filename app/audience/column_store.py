"""Whole columns of the audience tables kept in the project file, so that reading them again costs milliseconds.

`read(driver, table, key, columns)` returns what app.audience.columns.read_table returns (every row's key, in
key order, and the columns asked), from the `audience_columns` table when the columns kept there were read at
the current stamp of their table (schema 4: a number per audience table that triggers in the file move on every
insert, update and delete of its rows, whoever makes the change); whatever is not kept is read from the rows
and, on a connection that may write, kept for next time. A kept column is exactly what reading the rows gave, so a
reader cannot tell the two apart (a test holds them equal); one whose stamp is not the current one is never
used, and is replaced when the column is kept again.

A bulk load drops the stamps' triggers for its own transaction (a trigger per loaded row would cost about a
second a million rows, and SQLite copies a table record by record only into a table without triggers), then
moves every stamp once: `stamp_paused`.

Takes the sqlite3 connection (SQLAlchemy's driver connection), as app.audience.columns does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from app.audience.base import Text
from app.audience.columns import read_table

KEYS = "#keys"


def interaction_kind_sql() -> str:
    """The SQL that reads an interaction's kind as its code in INTERACTION_KINDS (-1: another kind); its text
    names the kept column, so every reader uses this one."""
    from app.model.attributes import INTERACTION_KINDS

    return "CASE kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(INTERACTION_KINDS)) + " ELSE -1 END"
MAX_KEPT_BYTES = 512 * 1024 * 1024  # a column larger than this (SQLite's blobs stop at 1 GB) is not kept
def current_stamp(driver: Any, table: str) -> int | None:
    """The stamp of an audience table; None for a file without one (a database that is not a schema-4 project
    file, or a table that is not an audience table)."""
    try:
        row = driver.execute("SELECT n FROM audience_stamp WHERE tbl = ?", (table,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else int(row[0])


def entry_name(table: str, key: str, column: str, kind: str) -> str:
    """The name a column read from `table` in `key` order (`column`: a column or an SQL expression) is kept as."""
    return f"{table}|{key}|{kind}|{column}"


PLAIN = "plain"  # `texts` of a number column known to hold no text: read as "number" or "real", it is the same


def _ints(values: np.ndarray) -> bytes:
    """Whole numbers in the fewest bytes that hold them: one byte saying how many, then the numbers."""
    values = np.asarray(values, dtype=np.int64)
    lo, hi = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    width = next(w for w in (1, 2, 4, 8) if -(1 << (8 * w - 1)) <= lo and hi < (1 << (8 * w - 1)))
    return bytes([width]) + values.astype(f"<i{width}").tobytes()


def _from_ints(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=f"<i{data[0]}", offset=1).astype(np.int64)


def _encode(column: Any, kind: str) -> tuple[bytes, str | None]:
    if kind == "text":
        return _ints(column.codes), json.dumps(list(column.values))
    if kind == "int":
        return _ints(column), None
    return np.ascontiguousarray(column, dtype="<f8").tobytes(), PLAIN if kind == PLAIN else None


def _decode(kind: str, data: bytes, texts: str | None) -> Any:
    if kind == "text":
        return Text(_from_ints(data).astype(np.int32), tuple(json.loads(texts or "[]")))
    if kind == "int":
        return _from_ints(data)
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


def _may_write(driver: Any) -> bool:
    try:
        return not driver.execute("PRAGMA query_only").fetchone()[0]
    except sqlite3.Error:
        return False


def read(driver: Any, table: str, key: str, columns: Sequence[tuple[str, str]], *,
         keep: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """(keys, {column: values}) of every row of `table` in `key` order, as `read_table` reads them (`columns`:
    (column or SQL expression, kind)), from the kept columns where they are current. With `keep` (and a
    connection that may write), columns read from the rows are kept for the next reader, in the same
    transaction as the reading (the caller's, or one of its own), so what is kept is what the stamp says."""
    driver.execute("SAVEPOINT journey_studio_columns")
    try:
        got = _read(driver, table, key, columns, keep)
    except BaseException:
        quietly(driver, "ROLLBACK TO journey_studio_columns", "RELEASE journey_studio_columns")
        raise
    driver.execute("RELEASE journey_studio_columns")
    return got


def quietly(driver: Any, *statements: str) -> None:
    """Run the statements that end a savepoint after a failure, ignoring their own errors: an interrupted
    statement may have ended the transaction already, and the first error is the one to report."""
    for sql in statements:
        try:
            driver.execute(sql)
        except sqlite3.Error:
            pass


def _read(driver: Any, table: str, key: str, columns: Sequence[tuple[str, str]],
          keep: bool) -> tuple[np.ndarray, dict[str, Any]]:
    stamp = current_stamp(driver, table)  # first: rows read after it are at least as new (here, one snapshot)
    if stamp is None:
        return read_table(driver, table, key, columns)
    names = {column: entry_name(table, key, column, kind) for column, kind in columns}
    keys_name = entry_name(table, key, KEYS, "int")
    # a real column may be kept as a number column that holds no text (the two readings are then the same)
    plain = {column: entry_name(table, key, column, "number") for column, kind in columns if kind == "real"}
    wanted = [keys_name, *names.values(), *plain.values()]
    found: dict[str, tuple[bytes, str | None]] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        for name, data, texts in driver.execute(
                f"SELECT name, data, texts FROM audience_columns WHERE stamp = ? AND name IN "
                f"({', '.join('?' * len(part))})", (stamp, *part)):
            found[name] = (data, texts)
    for column, name in plain.items():
        if names[column] not in found and name in found and found[name][1] == PLAIN:
            found[names[column]] = found[name]
    kept_keys = found.get(keys_name)
    missing = [(column, kind) for column, kind in columns if names[column] not in found]
    if kept_keys is not None and not missing:
        return _decode("int", *kept_keys), {c: _decode(k, *found[names[c]]) for c, k in columns}
    keys, fresh = read_table(driver, table, key, missing)
    out = {c: fresh[c] if names[c] not in found else _decode(k, *found[names[c]]) for c, k in columns}
    if keep and _may_write(driver):
        _keep(driver, stamp, [(keys_name, "int", keys)] if kept_keys is None else [], keys,
              [(names[c], k, fresh[c]) for c, k in missing])
    return keys, out


def _encoded(first: list[tuple[str, str, Any]], keys: np.ndarray,
             columns: list[tuple[str, str, Any]]) -> list[tuple[str, bytes, str | None]]:
    """(entry name, data, texts) of the columns that are kept (not too large, one value a key)."""
    out = []
    for name, kind, values in [*first, *columns]:
        data, texts = _encode(values, kind)
        if len(data) + len(texts or "") <= MAX_KEPT_BYTES and len(values if kind != "text" else values.codes) \
                == len(keys):
            out.append((name, data, texts))
    return out


def _keep(driver: Any, stamp: int, first: list[tuple[str, str, Any]], keys: np.ndarray,
          columns: list[tuple[str, str, Any]]) -> None:
    """Keep columns read at `stamp` (best effort: a file another connection is writing keeps nothing)."""
    _keep_encoded(driver, stamp, _encoded(first, keys, columns))


def _keep_encoded(driver: Any, stamp: int, encoded: Sequence[tuple[str, bytes, str | None]]) -> None:
    rows = [(name, stamp, data, texts) for name, data, texts in encoded]
    if not rows:
        return
    driver.execute("SAVEPOINT journey_studio_keep")
    try:
        driver.executemany("INSERT OR REPLACE INTO audience_columns (name, stamp, data, texts) VALUES (?, ?, ?, ?)",
                           rows)
    except sqlite3.OperationalError:  # busy, locked, read-only, full: the columns are simply read again next time
        if not driver.in_transaction:  # the failure ended the transaction (an interrupt): that is the news
            raise
        driver.execute("ROLLBACK TO journey_studio_keep")
    driver.execute("RELEASE journey_studio_keep")


def keep_columns(driver: Any, table: str, key: str, keys: np.ndarray,
                 columns: Sequence[tuple[str, str, Any]]) -> None:
    """Keep columns a loader knows (it wrote the rows they come from, in this transaction): (column, kind,
    values as `read_table` would read them), at the current stamp, replacing any kept before. Kind "plain" is
    a number column the loader knows holds no text: kept once, it serves both the "number" and "real" readings."""
    keep_encoded(driver, table, encode_columns(table, key, keys, columns))


def encode_columns(table: str, key: str, keys: np.ndarray,
                   columns: Sequence[tuple[str, str, Any]]) -> list[tuple[str, bytes, str | None]]:
    """What `keep_columns` keeps, encoded (NumPy work, no SQL: a loader may do it on another thread)."""
    return _encoded([(entry_name(table, key, KEYS, "int"), "int", keys)], keys,
                    [(entry_name(table, key, c, "number" if kind == PLAIN else kind), kind, values)
                     for c, kind, values in columns])


def keep_encoded(driver: Any, table: str, encoded: Sequence[tuple[str, bytes, str | None]]) -> None:
    """Keep columns `encode_columns` encoded, at the table's current stamp."""
    stamp = current_stamp(driver, table)
    if stamp is not None:
        _keep_encoded(driver, stamp, encoded)


def trigger_names(driver: Any) -> list[str]:
    """The audience stamp's triggers the file has."""
    return [r[0] for r in driver.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'audience_stamp_*' ORDER BY name")]


@contextmanager
def stamp_paused(driver: Any) -> Iterator[None]:
    """Inside the caller's transaction: drop the stamps' triggers for a bulk load, then make them again, move
    every stamp once and forget the kept columns (their stamps are gone for good). If the block fails, the
    caller's rollback brings the triggers back."""
    had = pause_stamps(driver)
    yield
    resume_stamps(driver, had)


def pause_stamps(driver: Any) -> set[str] | None:
    """Drop the stamps' triggers (a bulk load moves the stamps once, with `resume_stamps`); the names dropped, or
    None for a file without stamps."""
    had = set(trigger_names(driver))
    if not had and current_stamp(driver, "contacts") is None:  # not a project file of schema 4: nothing to pause
        return None
    for name in sorted(had):
        driver.execute(f'DROP TRIGGER "{name}"')
    return had


def resume_stamps(driver: Any, had: set[str] | None) -> None:
    """After `pause_stamps` and the load (in the same transaction or a later one on the same file): the triggers
    made again, every stamp moved once, the kept columns forgotten."""
    from app.store.schema import stamp_triggers

    if had is None:
        return
    for name, sql in stamp_triggers():
        if name in had:
            driver.execute(sql)
    driver.execute("UPDATE audience_stamp SET n = n + 1")
    driver.execute("DELETE FROM audience_columns")


__all__ = ["KEYS", "PLAIN", "current_stamp", "encode_columns", "entry_name", "interaction_kind_sql", "keep_columns",
           "keep_encoded", "pause_stamps", "quietly", "read", "resume_stamps", "stamp_paused", "trigger_names"]
