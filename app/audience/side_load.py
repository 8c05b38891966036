"""The list memberships and interactions of a large population load, written by a second process.

Most of a bulk insert's time is Python handing values to SQLite one by one (the sqlite3 module binds each
value with the interpreter lock held), so a thread cannot overlap two inserts. A second process can: while
the loading process writes the contacts' pages into its copy of the project file, this one writes the
memberships and interactions, with their indexes, into a side file of its own (their pages written directly:
app.audience.pages), from arrays the loader saved, and their statistics (stats.json: the `sqlite_stat1` rows
ANALYZE would write, which the page writer counts from its sorted entries). The loader then moves the side
file's trees into its copy whole (app.audience.grafting; SQLite's `INSERT INTO main.x SELECT * FROM side.x` when they
cannot move), the side file's tables being made from the project file's own statements. The project file is
changed only when the loader's copy replaces its content (ProjectFile.rebuilt); the side file is thrown away.

Run: python -m app.audience.side_load FOLDER [PARENT-PID]  (FOLDER holds rows.npz and ddl.json; side.db and
stats.json are written there; if the loading process PARENT-PID dies first, the folder is removed). The loader runs
`main` with the application's own folder first on sys.path.
Imports neither SQLAlchemy nor the rest of the application's store.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from app.audience import pages
from app.audience.base import second_texts
from app.model.attributes import INTERACTION_KINDS

SIDE_FILE = "side.db"
STATS_FILE = "stats.json"  # the side tables' sqlite_stat1 rows: {table: [[index, stat], ...]}
ROWS_FILE = "rows.npz"
DDL_FILE = "ddl.json"
TABLES = ("contact_lists", "interactions")
CHUNK_ROWS = 50_000


def interaction_rows(first_id: int, contact_ids: np.ndarray, kinds: np.ndarray, at: np.ndarray,
                     value: np.ndarray) -> Iterable[tuple[Any, ...]]:
    """Interaction rows (id, contact_id, kind, at, value) as the project file stores them, ids from `first_id`
    in the order given; kinds are codes into INTERACTION_KINDS, at UTC seconds, value NaN for none."""
    names = np.array(INTERACTION_KINDS, dtype=object)[kinds].tolist()
    values = np.where(np.isnan(value), cast(Any, None), value.astype(object)).tolist()
    return zip(range(first_id, first_id + len(contact_ids)), contact_ids.tolist(), names,
               second_texts(at.astype(np.float64)), values)


def list_rows(contact_ids: np.ndarray, codes: np.ndarray, names: Sequence[str]) -> Iterable[tuple[Any, ...]]:
    """Membership rows (contact_id, list)."""
    return zip(contact_ids.tolist(), np.array(list(names), dtype=object)[codes].tolist() if len(codes) else [])


def moment_texts(values: np.ndarray, unit: Literal["D", "s"]) -> pages.Texts:
    """Whole days ("D") or seconds ("s") since 1970 (float NaN: none) as the texts the project file stores
    ('YYYY-MM-DD', 'YYYY-MM-DDTHH:MM:SS', as np.datetime_as_string writes them), for the page writer: each distinct
    moment once, ranked by its number. Years 0 to 9999 (all of the same width, so that text order is time order)
    are written as a matrix of digits by NumPy; others as strings, left for the writer to rank."""
    v = np.asarray(values)
    ok = ~np.isnan(v) if v.dtype.kind == "f" else np.ones(len(v), dtype=bool)
    unique, inverse = np.unique(v[ok].astype(np.int64), return_inverse=True)
    codes = np.full(len(v), -1, dtype=np.int64)
    codes[ok] = inverse.reshape(-1)
    moments = unique.astype(f"datetime64[{unit}]")
    years = moments.astype("datetime64[Y]").astype(np.int64) + 1970
    if len(unique) and (years[0] < 0 or years[-1] > 9999):
        texts = cast(list[str], np.datetime_as_string(cast(Any, moments), unit=unit).tolist())
        return pages.Texts(codes, texts)
    months = moments.astype("datetime64[M]")
    days = moments.astype("datetime64[D]")
    fields = [(years, 4), (months.astype(np.int64) % 12 + 1, 2), ((days - months).astype(np.int64) + 1, 2)]
    if unit == "s":
        seconds = (moments - days).astype(np.int64)
        fields += [(seconds // 3600, 2), (seconds // 60 % 60, 2), (seconds % 60, 2)]
    matrix = np.empty((len(unique), 10 if unit == "D" else 19), dtype=np.uint8)
    at = 0
    for i, (number, digits) in enumerate(fields):
        if i:  # the separator before this field
            matrix[:, at] = ord("-") if i < 3 else ord("T") if i == 3 else ord(":")
            at += 1
        for d in range(digits):
            matrix[:, at + d] = ord("0") + number // 10 ** (digits - 1 - d) % 10
        at += digits
    return pages.Texts(codes, matrix, np.arange(len(unique), dtype=np.int64))


def side_columns(data: Any, lists: Sequence[str]) -> dict[str, dict[str, pages.PageColumn]]:
    """The memberships' and interactions' columns for the page writer, from the arrays `save_rows` saved: the
    same values `list_rows` and `interaction_rows` give the sqlite3 module (interaction ids from 1)."""
    m = len(data["i.contact"])
    return {"contact_lists": {"contact_id": pages.Ints(data["l.contact"]),
                              "list": pages.Texts(data["l.codes"], list(lists))},
            "interactions": {"id": pages.Ints(np.arange(1, m + 1, dtype=np.int64)),
                             "contact_id": pages.Ints(data["i.contact"]),
                             "kind": pages.Texts(data["i.kind"], list(INTERACTION_KINDS)),
                             "at": moment_texts(data["i.at"], "s"), "value": pages.Reals(data["i.value"])}}


class Orphaned(Exception):
    """The loading process is gone: nobody will copy the side file."""


def _insert(con: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
            parent: int | None) -> None:
    sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    it = iter(rows)
    while batch := [row for _, row in zip(range(CHUNK_ROWS), it)]:
        if parent is not None and os.getppid() != parent:
            raise Orphaned
        con.executemany(sql, batch)


def write_side(folder: Path, parent: int | None = None) -> None:
    """Write side.db in `folder` from rows.npz and ddl.json: the tables and their indexes, their pages written
    directly (app.audience.pages), else, for rows that writer refuses, inserted and indexed by SQLite. With
    `parent` (the loading process), stop and remove the folder if that process is gone (killed mid-load)."""
    ddl = json.loads((folder / DDL_FILE).read_text(encoding="utf-8"))
    data = np.load(folder / ROWS_FILE, allow_pickle=False)
    path = folder / SIDE_FILE
    make_scratch(path, int(ddl["page_size"]), [*ddl["tables"], *ddl["indexes"]])
    # with the planner's statistics of both tables, as a full ANALYZE of the project file would write them
    # (same rows, same indexes): the loader writes them with the tables, so that process need not gather them
    try:
        stats = pages.write_tables(path, side_columns(data, ddl["lists"]))
    except pages.NotPageable:
        _insert_side(path, ddl, data, parent)
        con = _scratch_connection(path, int(ddl["page_size"]))
        try:
            con.execute("PRAGMA analysis_limit = 0")
            con.execute("ANALYZE")
            stats = {name: [] for name in TABLES}
            for tbl, idx, stat in con.execute("SELECT tbl, idx, stat FROM sqlite_stat1"):
                stats.setdefault(tbl, []).append((idx, stat))
        finally:
            con.close()
    if parent is not None and os.getppid() != parent:
        raise Orphaned
    (folder / STATS_FILE).write_text(json.dumps(stats), encoding="utf-8")


def make_scratch(path: Path, page_size: int, statements: Sequence[str]) -> None:
    """A scratch SQLite file of the project's page size, holding what `statements` make (empty tables and their
    indexes, for the page writer), without a journal."""
    con = _scratch_connection(path, page_size)
    try:
        con.execute("BEGIN")
        for sql in statements:
            con.execute(sql)
        con.execute("COMMIT")
    finally:
        con.close()


def _scratch_connection(path: Path, page_size: int) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size = {int(page_size)}")
    con.execute("PRAGMA journal_mode = OFF")  # a scratch file: thrown away if anything fails
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -262144")
    return con


def _insert_side(path: Path, ddl: dict[str, Any], data: Any, parent: int | None) -> None:
    """The rows the page writer refused, inserted by SQLite into the empty tables (their indexes dropped for the
    inserts and made again after, one sort each)."""
    con = _scratch_connection(path, int(ddl["page_size"]))
    try:
        con.execute("BEGIN")
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]
        for name in names:
            con.execute(f'DROP INDEX "{name}"')
        _insert(con, "contact_lists", ("contact_id", "list"),
                list_rows(data["l.contact"], data["l.codes"], ddl["lists"]), parent)
        _insert(con, "interactions", ("id", "contact_id", "kind", "at", "value"),
                interaction_rows(1, data["i.contact"], data["i.kind"], data["i.at"], data["i.value"]), parent)
        for sql in ddl["indexes"]:
            con.execute(sql)
        con.execute("COMMIT")
    finally:
        con.close()


def save_rows(folder: Path, ddl: dict[str, Any], lists: tuple[np.ndarray, np.ndarray, Sequence[str]],
              interactions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """What `write_side` reads: the rows in the order they are to be stored, and the statements."""
    (folder / DDL_FILE).write_text(json.dumps(ddl | {"lists": list(lists[2])}), encoding="utf-8")
    arrays: dict[str, Any] = {"l.contact": lists[0], "l.codes": lists[1], "i.contact": interactions[0],
                              "i.kind": interactions[1], "i.at": interactions[2], "i.value": interactions[3]}
    np.savez(folder / ROWS_FILE, allow_pickle=False, **arrays)


def main(argv: Sequence[str] | None = None) -> None:
    """The side process: FOLDER [PARENT-PID]."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        write_side(Path(args[0]), int(args[1]) if len(args) > 1 else None)
    except Orphaned:
        shutil.rmtree(args[0], ignore_errors=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
