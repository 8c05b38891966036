"""A customer base (app.audience.base) read from and written into a project file's audience tables.

`read_base` reads the contacts (and what is asked of their accounts, interactions, lists and static segment
members) into NumPy columns (app.audience.base_load writes one). The SQL is here rather than in
app.audience.base so that code that only draws or evaluates a base (the simulator) does not import SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from app.audience.base import (ACCOUNT_COLUMNS, CONTACT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase,
                               Interactions, Items, Text, days_of, seconds_of)
from app.audience import column_store
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


# (CONTACT_COLUMNS: the columns app.audience.base_load writes, named here with those read back, from the base)
__all__ = ["CONTACT_COLUMNS", "accounts_of", "read_base", "rows_among"]
