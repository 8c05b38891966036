"""A customer base (app.audience.base) written into a project file's audience tables: the bulk loads.

`write_base` bulk-loads a base into empty tables inside the caller's transaction; `rebuild_base` does a large load
into a copy of the project file (ProjectFile.rebuilt), its tables' pages written directly (app.audience.pages),
the memberships and interactions by a second process (app.audience.side_load) and moved in whole
(app.audience.grafting). Both keep the columns read most (app.audience.column_store). app.audience.base_store reads
a base back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete

from app.audience.base import (ACCOUNT_COLUMNS, CONTACT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase,
                               Items, Text, _contact_columns)
from app.audience import bulk, column_store, grafting, pages
from app.audience.side_load import (SIDE_FILE, STATS_FILE, TABLES, interaction_rows, list_rows, moment_texts,
                                   save_rows)
from app.errors import AudienceError
from app.model.attributes import INTERACTION_KINDS
from app.store import schema as t

REBUILD_MIN_CONTACTS = 100_000  # contacts from which a load rebuilds the file (`rebuilds`)


Encoded = dict[str, list[tuple[str, bytes, str | None]]]


def _keep_base(driver: Any, kept: Encoded) -> None:
    """Keep the columns `_kept_base` encoded (app.audience.column_store), at their tables' stamps."""
    for table, encoded in kept.items():
        column_store.keep_encoded(driver, table, encoded)


def _kept_base(base: ContactBase, list_cols: tuple[np.ndarray, np.ndarray, Sequence[str]],
               inter_cols: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> Encoded:
    """The columns segment counts and simulations read, encoded to be kept (app.audience.column_store) as
    reading the rows just written would give them: numbers, dates, the attributes with few distinct texts,
    accounts, interactions and list memberships. The texts nearly every contact has its own of (names, e-mail
    addresses, phones) are left to the first reader that needs them. NumPy work, no SQL: a thread may do it."""
    kept: Encoded = {}
    n, m = base.n, len(inter_cols[0])
    account_id = np.where(base.account >= 0, base.account_ids[np.maximum(base.account, 0)] if base.n_accounts
                          else -1, -1).astype(np.int64)
    contacts: list[tuple[str, str, Any]] = [("account_id", "int", account_id)]
    for name, kind in NUMBER_COLUMNS.items():
        col = base.column(name)
        values = np.full(n, np.nan) if col is None else np.asarray(col, dtype=np.float64)
        if kind in ("date", "datetime"):  # written as whole days / seconds
            ok = ~np.isnan(values)
            values = values.copy()
            values[ok] = values[ok].astype(np.int64)
            contacts.append((name, "days" if kind == "date" else "seconds", values))
        else:
            contacts.append((name, column_store.PLAIN, values))  # generated numbers: no text among them
    for name in TEXT_COLUMNS:
        col = base.column(name)
        if col is None:
            contacts.append((name, "text", Text(np.full(n, -1, dtype=np.int32), ())))
        elif isinstance(col, Text) and len(col.values) <= max(1000, n // 100):
            contacts.append((name, "text", col))
    kept["contacts"] = column_store.encode_columns("contacts", "id", base.ids, contacts)
    accounts: list[tuple[str, str, Any]] = []
    for name, kind in ACCOUNT_COLUMNS.items():
        col = base.account_column(name)
        if kind == "number":
            values = np.full(base.n_accounts, np.nan) if col is None else np.asarray(col, dtype=np.float64)
            accounts.append((name, column_store.PLAIN, values))
        elif isinstance(col, Text) or col is None:
            accounts.append((name, "text", col if col is not None else Text(np.full(base.n_accounts, -1, np.int32),
                                                                            ())))
    kept["accounts"] = column_store.encode_columns("accounts", "id", base.account_ids, accounts)
    contact_ids, kinds, at, value = inter_cols
    kept["interactions"] = column_store.encode_columns("interactions", "id", np.arange(1, m + 1, dtype=np.int64), [
        ("contact_id", "int", contact_ids), (column_store.interaction_kind_sql(), "int", kinds.astype(np.int64)),
        ("at", "seconds", at.astype(np.int64).astype(np.float64)), ("value", column_store.PLAIN, value)])
    owners, codes, names = list_cols
    kept["contact_lists"] = column_store.encode_columns(
        "contact_lists", "rowid", np.arange(1, len(owners) + 1, dtype=np.int64),
        [("contact_id", "int", owners), ("list", "text", Text(codes.astype(np.int32), tuple(names)))])
    return kept


def _ordered(base: ContactBase) -> tuple[tuple[np.ndarray, np.ndarray, Sequence[str]],
                                        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The memberships by contact, then list name, as (contact ids, list codes, list names); the interactions by
    contact, time, kind, as (contact ids, kinds, times, values): the order they are stored in (keys packed into
    one where their ranges allow: a single sort)."""
    lists = base.lists
    owners = lists.owners
    name_rank = np.unique(np.array(lists.values, dtype=str), return_inverse=True)[1].reshape(-1)  # equal, equal
    order = pages.lex_order((name_rank[lists.codes], owners)) if len(owners) else np.zeros(0, np.int64)
    list_cols = (base.ids[owners[order]], lists.codes[order], lists.values)
    inter = base.interactions
    order = pages.lex_order((inter.kind, inter.at, inter.contact))
    return list_cols, (base.ids[inter.contact[order]], inter.kind[order], inter.at[order], inter.value[order])


def rebuilds(base: ContactBase) -> bool:
    """Whether a load of `base` into a project file is large enough to rebuild the file from a copy
    (`rebuild_base`) rather than insert into it (`write_base`)."""
    # (by its contacts: its history, drawn when first read, is drawn on a thread during the load)
    return base.n >= REBUILD_MIN_CONTACTS and \
        not getattr(sys, "frozen", False)  # (a frozen application has no interpreter for the side process)


def write_base(conn: Connection, base: ContactBase, *, clear: bool = False) -> tuple[int, int, int, int]:
    """Insert the base's accounts, contacts, list memberships and interactions (inside the caller's
    transaction, into empty tables, or tables it first empties with `clear`); returns (contacts, accounts, list
    memberships, interactions). The audience stamp moves once for the whole load, and the columns read most are
    kept (app.audience.column_store).

    The memberships and interactions go in first, and their indexes and statistics are built on a worker thread
    while this one formats the contact columns. Every other index is built once its rows are in. A large load
    into a project file rebuilds it instead (`rebuild_base`).
    """
    list_cols, inter_cols = _ordered(base)
    first = (t.contact_lists, t.interactions)
    driver = conn.connection.driver_connection

    def list_stats() -> list[str]:
        name = t.contact_lists.name
        return bulk.stat_statements(name, bulk.stat_rows(driver, name, len(list_cols[0]), {
            "contact_id": list_cols[0], "list": (list_cols[1], list_cols[2])}))

    def interaction_stats() -> list[str]:
        name = t.interactions.name
        return bulk.stat_statements(name, bulk.stat_rows(driver, name, len(inter_cols[0]), {
            "contact_id": inter_cols[0], "kind": (inter_cols[1], INTERACTION_KINDS),
            "at": inter_cols[2].astype(np.float64)}))

    # rows referring to contacts go in before the contacts: where keys are enforced (a loader outside
    # ProjectFile.bulk_connection), they are checked at commit instead of row by row
    # the audience stamp moves once for the whole load (no trigger per row)
    with column_store.stamp_paused(driver):
        if clear:
            _clear(conn)
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        with bulk.bulk_pragmas(conn):
            # any ANALYZE makes sqlite_stat1, which the statistics gathered below write into (the small tables'
            # one, at the end, also makes the planner read them)
            conn.exec_driver_sql('ANALYZE "project"')
            dropped = bulk.drop_indexes(conn, (*first, t.accounts, t.contacts))
            with bulk.phase("insert the memberships and interactions",
                            "writing the interactions and list subscriptions"):
                bulk.insert_rows(conn, t.contact_lists, ("contact_id", "list"), list_rows(*list_cols))
                bulk.insert_rows(conn, t.interactions, ("id", "contact_id", "kind", "at", "value"),
                                 interaction_rows(1, *inter_cols))
            background = [bulk.index_ddl(conn, ix) for ix in dropped if ix.table in first]
            # the statistics ANALYZE would gather, from the rows in hand instead of a scan of each table
            _insert_contacts(conn, base, [ix for ix in dropped if ix.table not in first],
                             [*background, list_stats, interaction_stats])
            _insert_members(conn, base)
            # the contacts' pages are still in the page cache here: ANALYZE reads them faster than NumPy sorts
            # seven key columns, so their statistics are gathered the usual way
            with bulk.phase("ANALYZE the other tables", "gathering statistics for segment counts"):
                bulk.analyze(conn, [name for name in t.PROJECT_TABLES if name not in {x.name for x in first}])
    with bulk.phase("keep the columns read most", "keeping the contacts' columns for quick reading"):
        _keep_base(driver, _kept_base(base, list_cols, inter_cols))
    return base.n, base.n_accounts, len(list_cols[0]), len(inter_cols[0])


def _clear(conn: Connection) -> None:
    bulk.announce("removing the project's contacts")
    for table in (t.interactions, t.contact_lists, t.segment_members, t.contacts, t.accounts):
        conn.execute(delete(table))


def _insert_contacts(conn: Connection, base: ContactBase, dropped: Sequence[Any],
                     background: Sequence[Any] = ()) -> None:
    """The accounts and contacts inserted through the sqlite3 module (their indexes `dropped` made again after,
    one sort each), while `background` statements run on a worker thread."""
    with bulk.phase("make the contact columns (lazy text included), worker thread joined",
                    "making the contacts' names, addresses and phones"), bulk.in_background(conn, background):
        acc_columns, columns = _contact_columns(base)
    with bulk.phase("insert the accounts and contacts", "writing the accounts and contacts"):
        bulk.insert_rows(conn, t.accounts, ("id", *ACCOUNT_COLUMNS), zip(*acc_columns))
        bulk.insert_rows(conn, t.contacts, CONTACT_COLUMNS, zip(*columns))
    with bulk.phase("build the contacts' and accounts' indexes", "indexing the contacts"):
        for ix in dropped:
            ix.create(conn)


def _insert_members(conn: Connection, base: ContactBase) -> None:
    for segment, rows in base.static.items():
        bulk.insert_rows(conn, t.segment_members, ("segment", "contact_id"),
                         ((segment, i) for i in base.ids[rows].tolist()))


def rebuild_base(path: Path, base: ContactBase, side: Path, *, clear: bool = False) -> tuple[int, int, int, int]:
    """`write_base` for a large load, into `path`: a copy of the project file that no connection has open
    (ProjectFile.rebuilt makes it, and copies it back into the project file in one transaction once this
    returns). The copy is changed freely: its tables' b-tree pages are written directly (app.audience.pages),
    the accounts and contacts by this process while a second one (app.audience.side_load) writes the memberships
    and interactions into a side file in `side` (an empty scratch folder), whose pages then move into the copy
    whole. No record is copied by SQLite; rows the page writer refuses are inserted the usual way. Returns
    (contacts, accounts, list memberships, interactions).
    """
    engine = _scratch_engine(path)
    starting: bulk.Later[tuple[Any, Any, subprocess.Popen[bytes]]] | None = None
    process: subprocess.Popen[bytes] | None = None
    try:
        with engine.connect() as conn, conn.begin():
            driver = conn.connection.driver_connection
            had = column_store.pause_stamps(driver)  # moved once, at the end, for the whole load
            if clear:
                _clear(conn)
                if had is not None:  # (the kept columns go too; resume_stamps would drop them after the VACUUM)
                    conn.exec_driver_sql("DELETE FROM audience_columns")
            ddl = _side_ddl(conn)
        # the interactions drawn and sorted, saved, and the side process started, on a thread (NumPy, mostly
        # without the interpreter lock) while this one makes the contacts' texts
        starting = bulk.Later(_ordered_and_started, base, side, ddl)
        if clear:  # the old rows' pages, free now, are left out (new pages go after the end)
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("VACUUM")  # (outside any transaction, as VACUUM must be)
            finally:
                raw.close()
        with bulk.phase("write the accounts' and contacts' pages", "writing the accounts and contacts"):
            columns = contact_page_columns(base)
            list_cols, inter_cols, process = starting.result()
            try:
                contact_stats: dict[str, list[tuple[str | None, str]]] | None = pages.write_tables(path, columns)
            except pages.NotPageable:
                contact_stats = None
            del columns
        # the columns to keep, encoded on a thread while the side file moves in (NumPy lets go of the GIL)
        keeping = bulk.Later(_kept_base, base, list_cols, inter_cols) if contact_stats is not None else None
        side_stats = _wait_side(side, process)
        with bulk.phase("move the side file's pages in", "adding the interactions and list subscriptions"):
            try:
                grafting.graft(side / SIDE_FILE, path, TABLES)
                grafted = True
            except pages.NotPageable:
                grafted = False
        with engine.connect() as conn, conn.begin():
            driver = conn.connection.driver_connection
            with bulk.bulk_pragmas(conn):
                conn.exec_driver_sql('ANALYZE "project"')  # makes sqlite_stat1, if the file has none yet
                if not grafted:
                    _copy_file(conn, side / SIDE_FILE, _SIDE_SCHEMA, side_stats)
                else:
                    _write_stats(conn, side_stats)
                if contact_stats is None:
                    _insert_contacts(conn, base, bulk.drop_indexes(conn, (t.accounts, t.contacts)))
                else:
                    _write_stats(conn, contact_stats)
                _insert_members(conn, base)
                done = {*TABLES} | ({t.accounts.name, t.contacts.name} if contact_stats is not None else set())
                with bulk.phase("ANALYZE the other tables", "gathering statistics for segment counts"):
                    bulk.analyze(conn, [name for name in t.PROJECT_TABLES if name not in done])
            column_store.resume_stamps(driver, had)
            with bulk.phase("keep the columns read most", "keeping the contacts' columns for quick reading"):
                _keep_base(driver, keeping.result() if keeping is not None else
                           _kept_base(base, list_cols, inter_cols))
    finally:
        if process is None and starting is not None:  # failed before the side process was waited for
            try:
                process = starting.result()[2]
            except BaseException:
                process = None
        if process is not None and process.poll() is None:  # the side process is of no use any more
            process.kill()
            process.wait()
        engine.dispose()
    return base.n, base.n_accounts, len(list_cols[0]), len(inter_cols[0])


def _ordered_and_started(base: ContactBase, side: Path, ddl: dict[str, Any]) -> tuple[
        tuple[np.ndarray, np.ndarray, Sequence[str]], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        subprocess.Popen[bytes]]:
    """The memberships and interactions in the order they are stored, and the side process started on them."""
    list_cols, inter_cols = _ordered(base)
    with bulk.phase("save the memberships and interactions, start the side process"):
        return list_cols, inter_cols, _start_side(side, ddl, list_cols, inter_cols)


def _scratch_engine(path: Path) -> Any:
    """An engine on a copy being rebuilt: no journal and no sync (a failed load throws the copy away), keys not
    enforced (the rows are consistent by construction), every transaction an SQLite one."""
    import sqlite3

    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    def creator() -> sqlite3.Connection:
        # check_same_thread=False: indexes may be built on a worker thread (bulk.in_background), one at a time
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA secure_delete = OFF")  # a cleared table's pages are left out by a VACUUM anyway
        return con

    engine = create_engine("sqlite+pysqlite://", creator=creator, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_SIDE_SCHEMA = "journey_studio_side"


def _page_column(col: Column | None, n: int, kind: str, affinity_integer: bool = False) -> pages.PageColumn | None:
    """A base column as the page writer takes it, holding the values `_python` gives the sqlite3 module."""
    if col is None:
        return None
    if isinstance(col, Text):
        return pages.Texts(col.codes, col.values)
    if isinstance(col, Items):
        raise pages.NotPageable("a list column is written as rows of its own")
    values = np.asarray(col, dtype=np.float64)
    if kind == "date":
        return moment_texts(values, "D")
    if kind == "datetime":
        return moment_texts(values, "s")
    if affinity_integer:  # SQLite keeps a whole float bound to an INTEGER column as an integer
        null = np.isnan(values)
        if not np.all(np.where(null, 0.0, values) == np.round(np.where(null, 0.0, values))) or \
                (len(values) and np.abs(np.where(null, 0.0, values)).max() >= 2.0 ** 53):
            raise pages.NotPageable("numbers with fractions in an INTEGER column")
        return pages.Ints(np.where(null, 0, values).astype(np.int64), null)
    return pages.Reals(values)


def contact_page_columns(base: ContactBase) -> dict[str, dict[str, pages.PageColumn]]:
    """The accounts' and contacts' columns for the page writer (app.audience.pages): the values
    `_contact_columns` gives the sqlite3 module, without making a Python value of each."""
    n = base.n
    accounts: dict[str, pages.PageColumn] = {"id": pages.Ints(base.account_ids)}
    for name, kind in ACCOUNT_COLUMNS.items():
        col = _page_column(base.account_column(name), base.n_accounts, kind, affinity_integer=name == "size")
        if col is not None:
            accounts[name] = col
    contacts: dict[str, pages.PageColumn] = {"id": pages.Ints(base.ids)}
    account = np.asarray(base.account, dtype=np.int64)
    contacts["account_id"] = pages.Ints(
        base.account_ids[np.maximum(account, 0)] if base.n_accounts else np.zeros(n, dtype=np.int64), account < 0)
    for name in CONTACT_COLUMNS:
        if name not in contacts:
            col = _page_column(base.column(name), n, NUMBER_COLUMNS.get(name, "text"))
            if col is not None:
                contacts[name] = col
    return {t.accounts.name: accounts, t.contacts.name: contacts}


def _copy_file(conn: Connection, path: Path, schema: str, stats: Mapping[str, Sequence[Sequence[Any]]]) -> None:
    """Copy a side file's tables (indexes included) into the empty ones of `conn`'s file, with their statistics
    (`sqlite_stat1` rows by table, as ANALYZE writes them): SQLite's way, record by record, for a side file
    whose pages cannot move whole (grafting.graft refused it)."""
    conn.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (str(path),))
    # the side file is read once, whole, and no longer written: mapped, its pages cost no read call each
    # (about a sixth of the copy's CPU at 1M); a platform without memory-mapped I/O ignores the pragma
    conn.exec_driver_sql(f"PRAGMA {schema}.mmap_size = {int(path.stat().st_size)}")
    for name in stats:  # (the connection lets go of the side file when it closes, after its transaction)
        conn.exec_driver_sql(f'INSERT INTO main."{name}" SELECT * FROM {schema}."{name}"')
    _write_stats(conn, stats)


def _write_stats(conn: Connection, stats: Mapping[str, Sequence[Sequence[Any]]]) -> None:
    """The tables' `sqlite_stat1` rows, (index, stat) by table, in place of any they had (the file has a
    sqlite_stat1 table: an ANALYZE made it)."""
    marks = ", ".join("?" * len(stats))
    conn.exec_driver_sql(f"DELETE FROM main.sqlite_stat1 WHERE tbl IN ({marks})", tuple(stats))
    rows = [(name, index, stat) for name, table_rows in stats.items() for index, stat in table_rows]
    if rows:
        conn.exec_driver_sql("INSERT INTO main.sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", rows)


def _side_ddl(conn: Connection) -> dict[str, Any]:
    """The statements of the memberships' and interactions' tables and indexes, and the page size: what the side
    process makes its file from."""
    names = [x.name for x in (t.contact_lists, t.interactions)]
    marks = ", ".join("?" * len(names))
    tables = [r[0] for r in conn.exec_driver_sql(
        f"SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name IN ({marks}) ORDER BY name",
        tuple(names))]
    indexes = [r[0] for r in conn.exec_driver_sql(
        f"SELECT sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name IN ({marks}) AND sql IS NOT NULL "
        "ORDER BY name", tuple(names))]
    page_size = conn.exec_driver_sql("PRAGMA main.page_size").scalar_one()
    return {"tables": tables, "indexes": indexes, "page_size": page_size}


def _start_side(side: Path, ddl: dict[str, Any], list_cols: tuple[np.ndarray, np.ndarray, Sequence[str]],
                inter_cols: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> subprocess.Popen[bytes]:
    """Save the rows and the tables' own statements into `side`, and start the process that writes them."""
    import app

    save_rows(side, ddl, list_cols, inter_cols)
    # the same application code as this process, whatever the working folder holds (`python -m` would look
    # there first: a folder named `app` in it would be imported instead)
    root = str(Path(app.__file__).resolve().parents[1])
    code = f"import sys; sys.path.insert(0, {root!r}); from app.audience.side_load import main; main()"
    with open(side / "side.err", "wb") as err:  # a file, not a pipe: nothing waits on a full pipe
        return subprocess.Popen([sys.executable, "-c", code, str(side), str(os.getpid())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def _wait_side(side: Path, process: subprocess.Popen[bytes]) -> dict[str, list[Any]]:
    """Wait for the side process; its tables' statistics (`sqlite_stat1` rows by table)."""
    with bulk.phase("wait for the side process", "waiting for the interactions and list subscriptions"):
        process.wait()
    if process.returncode != 0:
        err = (side / "side.err").read_text(encoding="utf-8", errors="replace")
        last = err.strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
        raise AudienceError(f"the interactions could not be written (nothing was changed): {last[0]}")
    stats = json.loads((side / STATS_FILE).read_text(encoding="utf-8"))
    return {name: stats.get(name, []) for name in TABLES}


__all__ = ["contact_page_columns", "rebuild_base", "rebuilds", "write_base"]
