"""A customer base (app.audience.base) read from and written into a project file's audience tables.

`read_base` reads the contacts (and what is asked of their accounts, interactions, lists and static segment
members) into NumPy columns; `write_base` bulk-loads a base into empty tables. The SQL is here rather than in
app.audience.base so that code that only draws or evaluates a base (the simulator) does not import SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, delete, func, select

from app.audience.base import (ACCOUNT_COLUMNS, CONTACT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase,
                               Interactions, Items, Text, _contact_columns, days_of, seconds_of)
from app.audience import bulk, column_store, pages
from app.audience.side_load import (SIDE_FILE, STATS_FILE, interaction_rows, list_rows, make_scratch, moment_texts,
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

SIDE_MIN_ROWS = 300_000  # memberships + interactions from which a second process writes them (start-up ~0.3 s)


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


def write_base(conn: Connection, base: ContactBase, side: Path | None = None, *,
               clear: bool = False) -> tuple[int, int, int, int]:
    """Insert the base's accounts, contacts, list memberships and interactions (inside the caller's
    transaction, into empty tables, or tables it first empties with `clear`); returns (contacts, accounts, list
    memberships, interactions). The audience stamp moves once for the whole load, and the columns read most are
    kept (app.audience.column_store).

    With `side` (an empty scratch folder; the caller removes it after its transaction, once the connection has
    let go of it: ProjectFile.bulk_connection does) and enough rows, the memberships and interactions are
    written by a second process into a side file while this one formats and inserts the contacts, then copied
    in (app.audience.side_load). Otherwise they go in first, and their indexes and statistics are built on a
    worker thread while this one formats the contact columns. Every other index is built once its rows are in.
    """
    lists = base.lists
    owners = lists.owners
    # the memberships by contact, then list name; the interactions by contact, time, kind (keys packed into one
    # where their ranges allow: a single sort)
    name_rank = np.unique(np.array(lists.values, dtype=str), return_inverse=True)[1].reshape(-1)  # equal, equal
    order = pages.lex_order((name_rank[lists.codes], owners)) if len(owners) else np.zeros(0, np.int64)
    list_cols = (base.ids[owners[order]], lists.codes[order], lists.values)
    inter = base.interactions
    order = pages.lex_order((inter.kind, inter.at, inter.contact))
    inter_cols = (base.ids[inter.contact[order]], inter.kind[order], inter.at[order], inter.value[order])
    first = (t.contact_lists, t.interactions)
    parallel = side is not None and len(order) + len(owners) >= SIDE_MIN_ROWS and not getattr(sys, "frozen", False)
    driver = conn.connection.driver_connection

    def list_stats() -> list[str]:
        name = t.contact_lists.name
        return bulk.stat_statements(name, bulk.stat_rows(driver, name, len(owners), {
            "contact_id": base.ids[owners], "list": (lists.codes, lists.values)}))

    def interaction_stats() -> list[str]:
        name = t.interactions.name
        return bulk.stat_statements(name, bulk.stat_rows(driver, name, len(inter.contact), {
            "contact_id": base.ids[inter.contact], "kind": (inter.kind, INTERACTION_KINDS),
            "at": inter.at.astype(np.float64)}))

    # rows referring to contacts go in before the contacts: where keys are enforced (a loader outside
    # ProjectFile.bulk_connection), they are checked at commit instead of row by row
    # the audience stamp moves once for the whole load (no trigger per row; SQLite copies the side file's
    # tables record by record only into tables without triggers)
    keeping: bulk.Later[Encoded] | None = None
    with column_store.stamp_paused(driver):
        if clear:
            bulk.announce("removing the project's contacts")
            for table in (t.interactions, t.contact_lists, t.segment_members, t.contacts, t.accounts):
                conn.execute(delete(table))
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        # (a large load: the file's new pages go to disk as they are written, not all at the commit)
        with bulk.bulk_pragmas(conn), bulk.flushing(driver) if parallel else nullcontext():
            process = None
            if parallel:
                assert side is not None
                with bulk.phase("save the memberships and interactions, start the side process"):
                    process = _start_side(conn, side, list_cols, inter_cols)
            try:
                # a large load writes the accounts' and contacts' pages itself, while the side process writes the
                # interactions', and copies them in (app.audience.pages); rows that writer refuses, and small
                # loads, go in through the sqlite3 module
                # any ANALYZE makes sqlite_stat1, which the copies and the statistics gathered below write into
                # (the small tables' one, at the end, also makes the planner read them)
                conn.exec_driver_sql('ANALYZE "project"')
                paged = parallel and _page_contacts(conn, cast(Path, side), base)
                if paged:  # the columns to keep, encoded on a thread while SQLite copies (it lets go of the GIL)
                    keeping = bulk.Later(_kept_base, base, list_cols, inter_cols)
                dropped = [] if paged else bulk.drop_indexes(conn, (t.accounts, t.contacts) if parallel else (
                    *first, t.accounts, t.contacts))
                background: list[Any] = []
                if not parallel:
                    with bulk.phase("insert the memberships and interactions",
                                    "writing the interactions and list subscriptions"):
                        bulk.insert_rows(conn, t.contact_lists, ("contact_id", "list"), list_rows(*list_cols))
                        bulk.insert_rows(conn, t.interactions, ("id", "contact_id", "kind", "at", "value"),
                                         interaction_rows(1, *inter_cols))
                    background = [bulk.index_ddl(conn, ix) for ix in dropped if ix.table in first]
                if not paged:
                    # the statistics ANALYZE would gather, from the rows in hand instead of a scan of each table
                    # (a side process gathers its tables' statistics itself: they come with its tables)
                    with bulk.phase("make the contact columns (lazy text included), worker thread joined",
                                    "making the contacts' names, addresses and phones"), \
                            bulk.in_background(conn, background if parallel else [*background, list_stats,
                                                                                   interaction_stats]):
                        acc_columns, columns = _contact_columns(base)
                    with bulk.phase("insert the accounts and contacts", "writing the accounts and contacts"):
                        bulk.insert_rows(conn, t.accounts, ("id", *ACCOUNT_COLUMNS), zip(*acc_columns))
                        bulk.insert_rows(conn, t.contacts, CONTACT_COLUMNS, zip(*columns))
                for segment, rows in base.static.items():
                    bulk.insert_rows(conn, t.segment_members, ("segment", "contact_id"),
                                     ((segment, i) for i in base.ids[rows].tolist()))
                if not paged:
                    with bulk.phase("build the contacts' and accounts' indexes", "indexing the contacts"):
                        for ix in dropped:
                            if ix.table not in first:
                                ix.create(conn)
                if process is not None:
                    assert side is not None
                    _copy_side(conn, side, process)
                    process = None
            finally:
                if process is not None:  # something failed here: the side process is of no use any more
                    process.kill()
                    process.wait()
        # the contacts' pages are still in the page cache here: ANALYZE reads them faster than NumPy sorts seven
        # key columns, so their statistics are gathered the usual way (unless their side file brought them)
        copied = {x.name for x in first} | ({t.accounts.name, t.contacts.name} if paged else set())
        with bulk.phase("ANALYZE the other tables", "gathering statistics for segment counts"):
            bulk.analyze(conn, [name for name in t.PROJECT_TABLES if name not in copied])
    with bulk.phase("keep the columns read most", "keeping the contacts' columns for quick reading"):
        _keep_base(driver, keeping.result() if keeping is not None else _kept_base(base, list_cols, inter_cols))
    return base.n, base.n_accounts, len(owners), len(order)


_SIDE_SCHEMA = "journey_studio_side"
_CONTACTS_SCHEMA = "journey_studio_contacts"
CONTACTS_FILE = "contacts.db"


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


def _page_contacts(conn: Connection, side: Path, base: ContactBase) -> bool:
    """Write the accounts and contacts, with their indexes and statistics, into a side file of their own
    (app.audience.pages) and copy it into the project's tables, in this transaction; False, with nothing
    copied, for rows the page writer refuses (the caller inserts them the usual way)."""
    names = (t.accounts.name, t.contacts.name)
    path = side / CONTACTS_FILE
    marks = ", ".join("?" * len(names))
    ddl = [r[0] for r in conn.exec_driver_sql(
        f"SELECT sql FROM main.sqlite_master WHERE type IN ('table', 'index') AND tbl_name IN ({marks}) "
        "AND sql IS NOT NULL ORDER BY type DESC, name", names)]  # tables first
    page_size = conn.exec_driver_sql("PRAGMA main.page_size").scalar_one()
    with bulk.phase("write the accounts' and contacts' pages", "writing the accounts and contacts"):
        make_scratch(path, int(page_size), ddl)
        try:
            stats = pages.write_tables(path, contact_page_columns(base))
        except pages.NotPageable:
            return False
    with bulk.phase("copy the accounts and contacts", "adding the accounts and contacts"):
        _copy_file(conn, path, _CONTACTS_SCHEMA, stats)
    return True


def _copy_file(conn: Connection, path: Path, schema: str, stats: Mapping[str, Sequence[Sequence[Any]]]) -> None:
    """Copy a side file's tables (indexes included) into the project's empty ones, with their statistics
    (`sqlite_stat1` rows by table, as ANALYZE writes them)."""
    conn.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (str(path),))
    # the side file is read once, whole, and no longer written: mapped, its pages cost no read call each
    # (about a sixth of the copy's CPU at 1M); a platform without memory-mapped I/O ignores the pragma
    conn.exec_driver_sql(f"PRAGMA {schema}.mmap_size = {int(path.stat().st_size)}")
    for name in stats:
        conn.exec_driver_sql(f'INSERT INTO main."{name}" SELECT * FROM {schema}."{name}"')
    # (main.sqlite_stat1 exists: write_base made it)
    marks = ", ".join("?" * len(stats))
    conn.exec_driver_sql(f"DELETE FROM main.sqlite_stat1 WHERE tbl IN ({marks})", tuple(stats))
    rows = [(name, index, stat) for name, table_rows in stats.items() for index, stat in table_rows]
    if rows:
        conn.exec_driver_sql("INSERT INTO main.sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", rows)


def _start_side(conn: Connection, side: Path, list_cols: tuple[np.ndarray, np.ndarray, Sequence[str]],
                inter_cols: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> subprocess.Popen[bytes]:
    """Save the rows and the tables' own statements into `side`, and start the process that writes them."""
    import app

    names = [x.name for x in (t.contact_lists, t.interactions)]
    marks = ", ".join("?" * len(names))
    tables = [r[0] for r in conn.exec_driver_sql(
        f"SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name IN ({marks}) ORDER BY name",
        tuple(names))]
    indexes = [r[0] for r in conn.exec_driver_sql(
        f"SELECT sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name IN ({marks}) AND sql IS NOT NULL "
        "ORDER BY name", tuple(names))]
    page_size = conn.exec_driver_sql("PRAGMA main.page_size").scalar_one()
    save_rows(side, {"tables": tables, "indexes": indexes, "page_size": page_size}, list_cols, inter_cols)
    # the same application code as this process, whatever the working folder holds (`python -m` would look
    # there first: a folder named `app` in it would be imported instead)
    root = str(Path(app.__file__).resolve().parents[1])
    code = f"import sys; sys.path.insert(0, {root!r}); from app.audience.side_load import main; main()"
    with open(side / "side.err", "wb") as err:  # a file, not a pipe: nothing waits on a full pipe
        return subprocess.Popen([sys.executable, "-c", code, str(side), str(os.getpid())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)


def _copy_side(conn: Connection, side: Path, process: subprocess.Popen[bytes]) -> None:
    """Wait for the side process, then copy its tables into the (empty) project tables, in this transaction."""
    with bulk.phase("wait for the side process", "waiting for the interactions and list subscriptions"):
        process.wait()
    if process.returncode != 0:
        err = (side / "side.err").read_text(encoding="utf-8", errors="replace")
        last = err.strip().splitlines()[-1:] or [f"exit status {process.returncode}"]
        raise AudienceError(f"the interactions could not be written (nothing was changed): {last[0]}")
    with bulk.phase("copy the side file's tables and statistics", "adding the interactions and list subscriptions"):
        stats = json.loads((side / STATS_FILE).read_text(encoding="utf-8"))
        _copy_file(conn, side / SIDE_FILE, _SIDE_SCHEMA, {name: stats.get(name, [])
                                                           for name in (t.contact_lists.name, t.interactions.name)})


__all__ = ["accounts_of", "read_base", "rows_among", "write_base"]
