"""A customer base (app.audience.base) read from and written into a project file's audience tables.

`read_base` reads the contacts (and what is asked of their accounts, interactions, lists and static segment
members) into NumPy columns; `write_base` bulk-loads a base into empty tables, and `rebuild_base` does a large
load into a copy of the project file, its tables' pages written directly. The SQL is here rather than in
app.audience.base so that code that only draws or evaluates a base (the simulator) does not import SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, select

from app.audience.base import (ACCOUNT_COLUMNS, CONTACT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase,
                               Interactions, Items, Text, _contact_columns, days_of, seconds_of)
from app.audience import bulk, column_store, grafting, pages
from app.audience.side_load import (SIDE_FILE, STATS_FILE, TABLES, interaction_rows, list_rows, moment_texts,
                                   save_rows)
from app.errors import AudienceError
from app.model.attributes import INTERACTION_KINDS
from app.store import schema as t

_c, _a, _i, _l, _m = t.contacts, t.accounts, t.interactions, t.contact_lists, t.segment_members


def _typed(values: Sequence[Any], kind: str) -> Column:
    if kind == "number":
        return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                         for v in values], dtype=np.float64)
    if kind == "boolean":
        return np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in values], dtype=np.float64)
    if kind == "date":
        return days_of(values)
    if kind == "datetime":
        return seconds_of(values)
    return Text.of([None if v is None else str(v) for v in values])


_KINDS = {"number": "real", "boolean": "real", "date": "days", "datetime": "seconds"}


def _rows_of_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ids >= 0, sorted; each id's row among them, -1 for a negative id). Ids within a few times
    their count (accounts numbered from 1, as usual) go through a table instead of a sort and a search."""
    ok = ids >= 0
    hi = int(ids.max()) if len(ids) else -1
    if hi < 0:
        return np.zeros(0, np.int64), np.full(len(ids), -1, np.int64)
    if hi <= 4 * len(ids) + 4096:
        present = np.zeros(hi + 1, dtype=bool)
        present[ids[ok]] = True
        distinct = np.flatnonzero(present).astype(np.int64)
        table = np.full(hi + 1, -1, dtype=np.int64)
        table[distinct] = np.arange(len(distinct), dtype=np.int64)
        return distinct, np.where(ok, table[np.maximum(ids, 0)], -1)
    distinct = np.unique(ids[ok])
    return distinct, np.where(ok, np.searchsorted(distinct, ids), -1).astype(np.int64)


def accounts_of(driver: Any, account_id: np.ndarray, numbers: str) -> tuple[np.ndarray, np.ndarray,
                                                                             dict[str, Column | Callable[[], Column]]]:
    """The accounts the contacts work for (`account_id`: each contact's account id, -1 for none), read whole:
    (each contact's row among the accounts or -1, the accounts' ids, their columns). `numbers` is the kind
    their number columns are read as (app.audience.columns: "number" or "real")."""
    account_ids, account = _rows_of_ids(account_id)
    found, acols = column_store.read(driver, "accounts", "id", [(c, numbers if k == "number" else "text")
                                                                 for c, k in ACCOUNT_COLUMNS.items()])
    pos = np.minimum(np.searchsorted(found, account_ids), max(len(found) - 1, 0))
    present = found[pos] == account_ids if len(found) else np.zeros(len(account_ids), dtype=bool)
    accounts: dict[str, Column | Callable[[], Column]] = {}
    for name, col in acols.items():
        if isinstance(col, Text):
            accounts[name] = Text(np.where(present, col.codes[pos] if len(found) else -1, -1).astype(np.int32),
                                  col.values)
        else:
            accounts[name] = np.where(present, col[pos] if len(found) else np.nan, np.nan)
    return account, account_ids, accounts


def rows_among(ids: np.ndarray, contact_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row of each contact id among `ids`, sorted contact ids; whether it is one of them)."""
    n = len(ids)
    if n and int(ids[-1]) - int(ids[0]) + 1 == n:  # ids without gaps: the row is the id's offset
        at = contact_ids - ids[0]
        inside = (at >= 0) & (at < n)
        return np.where(inside, at, 0), inside
    at = np.minimum(np.searchsorted(ids, contact_ids), max(n - 1, 0))
    return at, (ids[at] == contact_ids) if n else np.zeros(len(contact_ids), dtype=bool)


@contextmanager
def _snapshot(driver: Any) -> Iterator[None]:
    """One read transaction (the caller's, or a savepoint's): every statement inside sees the same rows."""
    driver.execute("SAVEPOINT journey_studio_read_base")
    try:
        yield
    except BaseException:
        column_store.quietly(driver, "RELEASE journey_studio_read_base")
        raise
    driver.execute("RELEASE journey_studio_read_base")


def read_base(conn: Connection, *, columns: Iterable[str] = (), custom: Mapping[str, str] | None = None,
              custom_names: Iterable[str] = (), interactions: bool = False, lists: bool = False,
              static: Iterable[str] = (), where: Any = None) -> ContactBase:
    """The project's contacts (those matching `where`, an SQL condition on contacts; default all) as a base.

    Only what is asked is read: the standard contact `columns` (attribute names; account.* names read the
    account columns), the custom attributes `custom_names` (typed by `custom`), interactions, subscription
    lists and the members of the `static` segments. Rows are in id order. A number column's texts are missing
    values (NaN); dates and date-times are read as SQLite reads them (app.audience.columns).

    Whole columns are read (app.audience.column_store: kept in the file after the first reading, otherwise
    joined by SQLite into one text per column), then the rows matching `where` are taken.
    """
    driver = conn.connection.driver_connection
    assert driver is not None
    with _snapshot(driver):
        return _read_base(conn, driver, columns, custom, custom_names, interactions, lists, static, where)


def _read_base(conn: Connection, driver: Any, columns: Iterable[str], custom: Mapping[str, str] | None,
               custom_names: Iterable[str], interactions: bool, lists: bool, static: Iterable[str],
               where: Any) -> ContactBase:
    wanted = list(dict.fromkeys(c for c in columns if c in NUMBER_COLUMNS or c in TEXT_COLUMNS))
    custom = dict(custom or {})
    extra = [n for n in dict.fromkeys(custom_names) if n in custom]
    all_ids, cols = column_store.read(driver, "contacts", "id", [
        ("account_id", "int"), *((c, _KINDS[NUMBER_COLUMNS[c]] if c in NUMBER_COLUMNS else "text") for c in wanted)])
    if where is None:
        rows = np.arange(len(all_ids), dtype=np.int64)
    else:
        joined = conn.execute(select(func.group_concat(_c.c.id)).where(where)).scalar()
        # (ids of the contacts table, so distinct: sorting them is enough)
        chosen = np.sort(np.fromstring(joined, dtype=np.int64, sep=","), kind="stable") if joined \
            else np.zeros(0, np.int64)
        rows = np.searchsorted(all_ids, chosen)
    ids = all_ids[rows]
    n = len(ids)
    table: dict[str, Column | Callable[[], Column]] = {}
    for name in wanted:
        col = cols[name]
        table[name] = Text(col.codes[rows], col.values) if isinstance(col, Text) else col[rows]

    account, account_ids, accounts = accounts_of(driver, cols["account_id"][rows], "real")

    custom_cols: dict[str, Column | Callable[[], Column]] = {}
    if extra:  # JSON values, read row by row
        sel = [_c.c.id, *(func.json_extract(_c.c.custom, f'$."{name}"').label(f"x{i}") for i, name in enumerate(extra))]
        got = conn.execute(select(*sel).where(where) if where is not None else select(*sel)).all() if n else []
        at, ok = rows_among(ids, np.array([r[0] for r in got], dtype=np.int64))
        for i, name in enumerate(extra):
            values: list[Any] = [None] * n
            for row, inside, value in zip(at.tolist(), ok.tolist(), (r[1 + i] for r in got)):
                if inside:
                    values[row] = value
            kind = custom[name]
            custom_cols[name] = _json_lists(n, values) if kind == "list" else _typed(
                values, kind if kind in ("number", "date", "datetime", "boolean") else "text")

    inter = Interactions.none()
    if interactions and n:
        kind_sql = column_store.interaction_kind_sql()
        inter_ids, icols = column_store.read(driver, "interactions", "id", [
            ("contact_id", "int"), (kind_sql, "int"), ("at", "seconds"), ("value", "real")])
        who, ok = rows_among(ids, icols["contact_id"])
        at_s = icols["at"]
        ok &= ~np.isnan(at_s)
        sel_rows = np.flatnonzero(ok)
        # by contact, then time, then id (as the rows were read before: ORDER BY contact_id, at, id)
        order = sel_rows[np.lexsort((inter_ids[sel_rows], at_s[sel_rows], who[sel_rows]))]
        inter = Interactions(who[order].astype(np.int64), icols[kind_sql][order].astype(np.int8),
                             at_s[order].astype(np.int64), icols["value"][order])

    list_items = Items.of(n, np.zeros(0, np.int64), [])
    if lists and n:
        _, lcols = column_store.read(driver, "contact_lists", "rowid", [("contact_id", "int"), ("list", "text")])
        who, ok = rows_among(ids, lcols["contact_id"])
        names: Text = lcols["list"]
        ok &= names.codes >= 0
        if ok.any():
            list_items = Items.from_codes(n, who[ok], names.codes[ok], names.values)

    members: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(static):
        found_ids = np.array([r[0] for r in driver.execute(
            "SELECT contact_id FROM segment_members WHERE segment = ?", (name,))], dtype=np.int64)
        at, inside = rows_among(ids, found_ids)
        members[name] = np.sort(at[inside])
    return ContactBase(ids, table, account, account_ids, accounts, inter, list_items, members, custom_cols,
                       {k: custom[k] for k in extra})


def _json_lists(n: int, values: Sequence[Any]) -> Items:
    owners: list[int] = []
    names: list[str] = []
    missing = np.ones(n, dtype=bool)
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            items = json.loads(v) if isinstance(v, str) else v
        except ValueError:
            continue
        if not isinstance(items, list):
            continue
        missing[i] = False
        for item in items:
            if isinstance(item, str):
                owners.append(i)
                names.append(item)
    return Items.of(n, np.array(owners, dtype=np.int64), names, missing)


# --- writing a project file -----------------------------------------------------------------------------------

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


__all__ = ["accounts_of", "read_base", "rebuild_base", "rebuilds", "rows_among", "write_base"]
