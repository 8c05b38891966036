"""The previous reader of a customer base: the rows through SQLAlchemy, one Python value at a time. Kept as the
yardstick the column-wise reader (app.audience.base_store.read_base) is held to (tests/test_column_store.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable

import numpy as np
from sqlalchemy import Connection, String, func, select, type_coerce

from app.audience.base import (ACCOUNT_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, Column, ContactBase, Interactions, Items,
                               Text, seconds_of)
from app.audience.base_store import _json_lists, _typed
from app.model.attributes import INTERACTION_KINDS
from app.store import schema as t
from app.store.schema import IsoDate, IsoSeconds

_c, _a, _i, _l, _m = t.contacts, t.accounts, t.interactions, t.contact_lists, t.segment_members


def _raw(column: Any) -> Any:
    """A date or date-time column read as its stored text (other columns as they are)."""
    if isinstance(column.type, (IsoDate, IsoSeconds)):
        return type_coerce(column, String).label(column.name)
    return column


def reference_read_base(conn: Connection, *, columns: Iterable[str] = (), custom: Mapping[str, str] | None = None,
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


