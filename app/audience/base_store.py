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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, String, func, select, type_coerce

from app.audience.base import (ACCOUNT_COLUMNS, CONTACT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase,
                               Interactions, Items, Text, _contact_columns, days_of, seconds_of)
from app.audience import bulk
from app.audience.side_load import SIDE_FILE, interaction_rows, list_rows, save_rows
from app.errors import AudienceError
from app.model.attributes import INTERACTION_KINDS
from app.store import schema as t
from app.store.schema import IsoDate, IsoSeconds

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


def _raw(column: Any) -> Any:
    """A date or date-time column read as its stored text (other columns as they are)."""
    if isinstance(column.type, (IsoDate, IsoSeconds)):
        return type_coerce(column, String).label(column.name)
    return column


def read_base(conn: Connection, *, columns: Iterable[str] = (), custom: Mapping[str, str] | None = None,
              custom_names: Iterable[str] = (), interactions: bool = False, lists: bool = False,
              static: Iterable[str] = (), where: Any = None) -> ContactBase:
    """The project's contacts (those matching `where`, an SQL condition on contacts; default all) as a base.

    Only what is asked is read: the standard contact `columns` (attribute names; account.* names read the
    account columns), the custom attributes `custom_names` (typed by `custom`), interactions, subscription
    lists and the members of the `static` segments. Rows are in id order.
    """
    wanted = list(dict.fromkeys(c for c in columns if c in NUMBER_COLUMNS or c in TEXT_COLUMNS))
    custom = dict(custom or {})
    extra = [n for n in dict.fromkeys(custom_names) if n in custom]
    # dates come as their stored text (parsed below in bulk), not through the column types' per-row parsing
    sel = [_c.c.id, _c.c.account_id, *(_raw(_c.c[c]) for c in wanted),
           *(func.json_extract(_c.c.custom, f'$."{n}"').label(f"x{i}") for i, n in enumerate(extra))]
    q = select(*sel).order_by(_c.c.id)
    if where is not None:
        q = q.where(where)
    rows = conn.execute(q).all()
    cols: list[tuple[Any, ...]] = list(zip(*rows)) if rows else [() for _ in sel]
    del rows
    ids = np.array(cols[0], dtype=np.int64)
    n = len(ids)
    table: dict[str, Column | Callable[[], Column]] = {}
    for i, name in enumerate(wanted):
        values = cols[2 + i]
        table[name] = _typed(values, NUMBER_COLUMNS[name]) if name in NUMBER_COLUMNS else Text.of(values)
    custom_cols: dict[str, Column | Callable[[], Column]] = {}
    for i, name in enumerate(extra):
        values = cols[2 + len(wanted) + i]
        kind = custom[name]
        if kind == "list":
            custom_cols[name] = _json_lists(n, values)
        else:
            custom_cols[name] = _typed(values, kind if kind in ("number", "date", "datetime", "boolean") else "text")

    # accounts: every account a read contact works for
    acc_raw = np.array([-1 if v is None else v for v in cols[1]], dtype=np.int64) if n else np.zeros(0, np.int64)
    account_ids = np.unique(acc_raw[acc_raw >= 0])
    account = np.where(acc_raw >= 0, np.searchsorted(account_ids, acc_raw), -1).astype(np.int64)
    accounts: dict[str, Column | Callable[[], Column]] = {}
    if len(account_ids):
        arows = conn.execute(select(_a.c.id, _a.c.name, _a.c.industry, _a.c.size, _a.c.city)
                             .where(_a.c.id.in_(select(_c.c.account_id).where(where) if where is not None
                                                else select(_c.c.account_id)))
                             .order_by(_a.c.id)).all()
        acols = list(zip(*arows)) if arows else [()] * 5
        found = np.array(acols[0], dtype=np.int64)
        pos = np.searchsorted(found, account_ids)
        present = (pos < len(found)) & (found[np.minimum(pos, len(found) - 1)] == account_ids) if len(found) \
            else np.zeros(len(account_ids), bool)
        for j, (name, kind) in enumerate(ACCOUNT_COLUMNS.items()):
            vals = [acols[1 + j][p] if ok else None for p, ok in zip(pos.tolist(), present.tolist())]
            accounts[name] = _typed(vals, kind)
    else:
        for name, kind in ACCOUNT_COLUMNS.items():
            accounts[name] = _typed([], kind)

    inter = Interactions.none()
    if interactions and n:
        iq = select(_i.c.contact_id, _i.c.kind, _raw(_i.c.at), _i.c.value).order_by(_i.c.contact_id, _i.c.at, _i.c.id)
        if where is not None:
            iq = iq.where(_i.c.contact_id.in_(select(_c.c.id).where(where)))
        irows = conn.execute(iq).all()
        icols = list(zip(*irows)) if irows else [()] * 4
        del irows
        who = np.searchsorted(ids, np.array(icols[0], dtype=np.int64))
        kinds = {k: i for i, k in enumerate(INTERACTION_KINDS)}
        kind_codes = np.array([kinds.get(k, -1) for k in icols[1]], dtype=np.int8)
        at = seconds_of(icols[2])
        ok = ~np.isnan(at)
        value = np.array([np.nan if v is None else float(v) for v in icols[3]], dtype=np.float64)
        inter = Interactions(who[ok].astype(np.int64), kind_codes[ok], at[ok].astype(np.int64), value[ok])

    list_items = Items.of(n, np.zeros(0, np.int64), [])
    if lists and n:
        lq = select(_l.c.contact_id, _l.c.list)
        if where is not None:
            lq = lq.where(_l.c.contact_id.in_(select(_c.c.id).where(where)))
        lrows = conn.execute(lq).all()
        if lrows:
            who = np.searchsorted(ids, np.array([r[0] for r in lrows], dtype=np.int64))
            list_items = Items.of(n, who, [str(r[1]) for r in lrows])

    members: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(static):
        found_ids = np.array(conn.execute(select(_m.c.contact_id).where(_m.c.segment == name)).scalars().all(),
                             dtype=np.int64)
        pos = np.searchsorted(ids, found_ids)
        inside = (pos < n) & (ids[np.minimum(pos, max(n - 1, 0))] == found_ids) if n else np.zeros(0, bool)
        members[name] = np.sort(pos[inside])
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


def write_base(conn: Connection, base: ContactBase, side: Path | None = None) -> tuple[int, int, int, int]:
    """Insert the base's accounts, contacts, list memberships and interactions (inside the caller's
    transaction, into empty tables); returns (contacts, accounts, list memberships, interactions).

    With `side` (an empty scratch folder; the caller removes it after its transaction, once the connection has
    let go of it: ProjectFile.bulk_connection does) and enough rows, the memberships and interactions are
    written by a second process into a side file while this one formats and inserts the contacts, then copied
    in (app.audience.side_load). Otherwise they go in first, and their indexes and statistics are built on a
    worker thread while this one formats the contact columns. Every other index is built once its rows are in.
    """
    lists = base.lists
    owners = lists.owners
    names = np.array(lists.values, dtype=object)[lists.codes] if len(lists.codes) else np.zeros(0, dtype=object)
    order = np.lexsort((names.astype(str), owners)) if len(owners) else np.zeros(0, np.int64)
    list_cols = (base.ids[owners[order]], lists.codes[order], lists.values)
    inter = base.interactions
    order = np.lexsort((inter.kind, inter.at, inter.contact))
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
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    with bulk.bulk_pragmas(conn):
        process = None
        if parallel:
            assert side is not None
            with bulk.phase("save the memberships and interactions, start the side process"):
                process = _start_side(conn, side, list_cols, inter_cols)
        try:
            dropped = bulk.drop_indexes(conn, (t.accounts, t.contacts) if parallel else (*first, t.accounts,
                                                                                          t.contacts))
            background: list[Any] = []
            if not parallel:
                with bulk.phase("insert the memberships and interactions",
                                "writing the interactions and list subscriptions"):
                    bulk.insert_rows(conn, t.contact_lists, ("contact_id", "list"), list_rows(*list_cols))
                    bulk.insert_rows(conn, t.interactions, ("id", "contact_id", "kind", "at", "value"),
                                     interaction_rows(1, *inter_cols))
                background = [bulk.index_ddl(conn, ix) for ix in dropped if ix.table in first]
            # the statistics ANALYZE would gather, from the rows in hand instead of a scan of each table; any
            # ANALYZE makes sqlite_stat1 (the small tables' one, at the end, also makes the planner read them)
            conn.exec_driver_sql('ANALYZE "project"')
            # (a side process gathers its tables' statistics itself: they come with its tables)
            with bulk.phase("make the contact columns (lazy text included), worker thread joined",
                            "making the contacts' names, addresses and phones"), \
                    bulk.in_background(conn, background if parallel else [*background, list_stats,
                                                                           interaction_stats]):
                acc_columns, columns = _contact_columns(base)
            with bulk.phase("insert the accounts and contacts", "writing the accounts and contacts"):
                n_acc = bulk.insert_rows(conn, t.accounts, ("id", *ACCOUNT_COLUMNS), zip(*acc_columns))
                n_con = bulk.insert_rows(conn, t.contacts, CONTACT_COLUMNS, zip(*columns))
                for segment, rows in base.static.items():
                    bulk.insert_rows(conn, t.segment_members, ("segment", "contact_id"),
                                     ((segment, i) for i in base.ids[rows].tolist()))
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
    # key columns, so their statistics are gathered the usual way
    with bulk.phase("ANALYZE the other tables", "gathering statistics for segment counts"):
        bulk.analyze(conn, [name for name in t.PROJECT_TABLES if name not in {x.name for x in first}])
    return n_con, n_acc, len(owners), len(order)


_SIDE_SCHEMA = "journey_studio_side"


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
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {_SIDE_SCHEMA}", (str(side / SIDE_FILE),))
        # the side file is read once, whole, and no longer written: mapped, its pages cost no read call each
        # (about a sixth of the copy's CPU at 1M); a platform without memory-mapped I/O ignores the pragma
        conn.exec_driver_sql(f"PRAGMA {_SIDE_SCHEMA}.mmap_size = {int((side / SIDE_FILE).stat().st_size)}")
        names = (t.contact_lists.name, t.interactions.name)
        for name in names:
            conn.exec_driver_sql(f'INSERT INTO main."{name}" SELECT * FROM {_SIDE_SCHEMA}."{name}"')
        # their statistics, from the side process's ANALYZE (main.sqlite_stat1 exists: write_base made it)
        conn.exec_driver_sql("DELETE FROM main.sqlite_stat1 WHERE tbl IN (?, ?)", names)
        conn.exec_driver_sql(f"INSERT INTO main.sqlite_stat1 (tbl, idx, stat) SELECT tbl, idx, stat "
                             f"FROM {_SIDE_SCHEMA}.sqlite_stat1 WHERE tbl IN (?, ?)", names)


__all__ = ["read_base", "write_base"]
