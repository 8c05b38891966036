"""The list memberships and interactions of a large population load, written by a second process.

Most of a bulk insert's time is Python handing values to SQLite one by one (the sqlite3 module binds each
value with the interpreter lock held), so a thread cannot overlap two inserts. A second process can: while
the loading process formats and inserts the contacts, this one writes the memberships and interactions, with
their indexes, into a side file of its own, from arrays the loader saved. The loader then copies both tables
into the project file inside its transaction (`INSERT INTO main.x SELECT * FROM side.x`, which SQLite does
record by record, indexes included, without re-sorting or re-encoding them, when the two tables are defined
alike, which they are: the side file's tables are made from the project file's own statements), and their
statistics (a full ANALYZE of the side file: the same rows and indexes give the same `sqlite_stat1` rows). The
project file is changed only by the loader's one transaction; the side file is thrown away.

Run: python -m app.audience.side_load FOLDER [PARENT-PID]  (FOLDER holds rows.npz and ddl.json; side.db is
written there; if the loading process PARENT-PID dies first, the folder is removed). The loader runs `main`
with the application's own folder first on sys.path.
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
from typing import Any, cast

import numpy as np

from app.audience.base import second_texts
from app.model.attributes import INTERACTION_KINDS

SIDE_FILE = "side.db"
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
    """Write side.db in `folder` from rows.npz and ddl.json (tables first, then their indexes). With `parent`
    (the loading process), stop and remove the folder if that process is gone (killed mid-load)."""
    ddl = json.loads((folder / DDL_FILE).read_text(encoding="utf-8"))
    data = np.load(folder / ROWS_FILE, allow_pickle=False)
    con = sqlite3.connect(folder / SIDE_FILE, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size = {int(ddl['page_size'])}")
        con.execute("PRAGMA journal_mode = OFF")  # a scratch file: thrown away if anything fails
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")
        con.execute("BEGIN")
        for sql in ddl["tables"]:
            con.execute(sql)
        _insert(con, "contact_lists", ("contact_id", "list"),
                list_rows(data["l.contact"], data["l.codes"], ddl["lists"]), parent)
        _insert(con, "interactions", ("id", "contact_id", "kind", "at", "value"),
                interaction_rows(1, data["i.contact"], data["i.kind"], data["i.at"], data["i.value"]), parent)
        for sql in ddl["indexes"]:
            con.execute(sql)
        # the planner's statistics of both tables, as a full ANALYZE of the project file would write them (same
        # rows, same indexes); the loader copies them with the tables, so that process need not gather them
        con.execute("PRAGMA analysis_limit = 0")
        con.execute("ANALYZE")
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
