"""Read whole columns of the audience tables into NumPy quickly: SQLite joins each chunk of a column into one
text (`group_concat`) that NumPy or `str.split` parses in C, instead of handing Python a row object per value.

Numbers are exact: a real is joined with 17 significant digits (from 1e100 up, fetched on its own); a text in a
number column is +inf (SQLite orders text after every number). Texts are split on a control character; a
column that contains it is read row by row instead. Missing values are NaN (numbers, dates as days, date-times
as seconds) or code -1 (texts), as app.audience.base reads them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from app.audience.base import Text

CHUNK = 1_000_000  # rows per group_concat (bounds the text SQLite builds)
_SEP, _MARK = "\x1e", "\x1f"  # between values; before every present text (NULL: empty)


def _number_sql(col: str, other: str = "inf") -> str:
    """A number as text that reads back exactly, else 'nan' (missing), `other` for a text or blob ('inf' by
    default: SQLite orders them after every number, so comparisons with a number agree) or 'x' (fetch it
    alone). A real is written with 17 significant digits, which NumPy reads back as the same double; SQLite
    writes them right below 1e100 but not always above (its arithmetic is long double), so larger reals and
    the infinities are fetched alone. (Fifteen digits, SQLite's own text of a real, do not always read back
    as the same double; nor does SQLite's reading of its own text always agree with a correct one.)"""
    return (f"CASE WHEN {col} IS NULL THEN 'nan' WHEN typeof({col}) NOT IN ('integer', 'real') THEN '{other}' "
            f"WHEN typeof({col}) = 'integer' THEN CAST({col} AS TEXT) "
            f"WHEN abs({col}) < 1e100 THEN printf('%!.17g', {col}) ELSE 'x' END")


def _date_sql(col: str, days: bool) -> str:
    """A stored date ('YYYY-MM-DD', days) or date-time (seconds) as a number, else 'nan' (as base.days_of /
    seconds_of read them: a date must be exactly 10 characters)."""
    if days:
        return f"ifnull(CASE WHEN length({col}) = 10 THEN unixepoch({col}) / 86400 END, 'nan')"
    return f"ifnull(unixepoch({col}), 'nan')"


def read_table(driver: Any, table: str, key: str,
               columns: Sequence[tuple[str, str]]) -> tuple[np.ndarray, dict[str, Any]]:
    """(keys, {name: column}) of every row of `table` in `key` order (an integer key). `columns` are (SQL
    expression or column name, kind) with kind one of: int (NULL: -1), number, real (a number column whose
    texts are missing values, NaN, as app.audience.base_store reads them), days, seconds, text."""
    exprs = ["group_concat(k)"]
    for i, (_, kind) in enumerate(columns):
        col = f"c{i}"
        if kind == "int":
            exprs.append(f"group_concat(ifnull({col}, -1))")
        elif kind in ("number", "real"):
            exprs.append(f"group_concat({_number_sql(col, 'inf' if kind == 'number' else 'nan')})")
        elif kind in ("days", "seconds"):
            exprs.append(f"group_concat({_date_sql(col, kind == 'days')})")
        else:
            exprs.append(f"group_concat(ifnull('{_MARK}' || {col}, ''), '{_SEP}')")
    inner = ", ".join([f"{key} AS k", *(f"{col} AS c{i}" for i, (col, _) in enumerate(columns))])
    try:  # one pass in whatever order SQLite likes (a covering index when there is one); sorted below
        chunks = [driver.execute(f"SELECT {', '.join(exprs)} FROM (SELECT {inner} FROM {table})").fetchone()]
    except sqlite3.DataError:  # a text longer than SQLite allows: key range by key range
        chunks = list(_chunks(driver, table, key, exprs, inner))
    chunks = [c for c in chunks if c[0] is not None]
    keys = np.fromstring(",".join(c[0] for c in chunks), dtype=np.int64, sep=",") if chunks \
        else np.zeros(0, np.int64)
    out: dict[str, Any] = {}
    for i, (col, kind) in enumerate(columns):
        out[col] = _parse(driver, table, key, col, kind, [c[1 + i] for c in chunks], keys)
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        out = {name: Text(col.codes[order], col.values) if isinstance(col, Text) else col[order]
               for name, col in out.items()}
    return keys, out


def _chunks(driver: Any, table: str, key: str, exprs: list[str], inner: str) -> Iterator[tuple[Any, ...]]:
    after = -(1 << 62)
    while True:
        row = driver.execute(f"SELECT {', '.join(exprs)} FROM (SELECT {inner} FROM {table} WHERE {key} > ? "
                             f"ORDER BY {key} LIMIT {CHUNK})", (after,)).fetchone()
        if row[0] is None:
            return
        yield row
        keys = np.fromstring(row[0], dtype=np.int64, sep=",")
        if len(keys) < CHUNK:
            return
        after = int(keys[-1])


def _parse(driver: Any, table: str, key: str, col: str, kind: str, parts: list[Any], keys: np.ndarray) -> Any:
    n = len(keys)
    if kind == "text":
        values: list[str] = []
        for part in parts:
            values.extend(part.split(_SEP) if part is not None else [])
        if len(values) != n:  # a value holds the separator: row by row
            got = dict(driver.execute(f"SELECT {key}, {col} FROM {table}").fetchall())
            return Text.of([got.get(k) for k in keys.tolist()])
        distinct = [v for v in dict.fromkeys(values) if v]  # each present value once, marked
        index = {v: i for i, v in enumerate(distinct)}
        index[""] = -1
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=n)
        return Text(codes, tuple(v[1:] for v in distinct))
    if not n:
        return np.zeros(0, np.int64 if kind == "int" else np.float64)
    text = ",".join(parts)
    if kind == "int":
        ints = np.fromstring(text, dtype=np.int64, sep=",")
        return ints if len(ints) == n else _one_by_one(driver, table, key, col, keys, "int")
    if "x" not in text:
        floats = np.fromstring(text, dtype=np.float64, sep=",")
        return floats if len(floats) == n else _one_by_one(driver, table, key, col, keys, kind)
    items = text.split(",")
    lossy = [i for i, v in enumerate(items) if v == "x"]
    for i in lossy:
        items[i] = "nan"
    out = np.array(items, dtype=np.float64)
    exact = dict(driver.execute(f"SELECT {key}, {col} FROM {table} WHERE {key} IN "
                                f"({', '.join(str(int(keys[i])) for i in lossy)})").fetchall())
    out[lossy] = [float(exact[int(keys[i])]) for i in lossy]
    return out


def _one_by_one(driver: Any, table: str, key: str, col: str, keys: np.ndarray, kind: str) -> np.ndarray:
    """A number column row by row (a value the joined text could not carry): missing is NaN (int: -1), a text
    +inf (real: NaN)."""
    got = dict(driver.execute(f"SELECT {key}, {col} FROM {table}").fetchall())
    if kind == "int":
        return np.array([v if isinstance(v, int) else -1 for v in map(got.get, keys.tolist())], dtype=np.int64)
    other = np.inf if kind == "number" else np.nan
    return np.array([np.nan if v is None else float(v) if isinstance(v, (int, float)) else other
                     for v in map(got.get, keys.tolist())], dtype=np.float64)


__all__ = ["read_table"]
