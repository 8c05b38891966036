"""Segment counts at one moment from NumPy columns of the project file, cached on the connection.

A count through SQL visits every candidate row at about 1 µs each (a union or an exclude at a million contacts
takes a few hundred ms). Here the columns a segment reads (contact attributes, accounts, interactions, lists,
static members) are read from the file once, kept on the connection, and the segment is evaluated on them with
the vectorised evaluator (app.audience.evaluate) resolved at one moment: boolean masks combined with NumPy
operations, no Python loop per row. The meaning is the evaluator's, which a randomised test holds to the SQL's.

The cache is thrown away on any change of the audience data: it is keyed by the connection's own change count
(`total_changes`: rows this connection inserted, updated or deleted, committed or not) and SQLite's
`PRAGMA data_version` (changes committed by any other connection or process). Columns a later segment needs
are read then and added.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from app.audience.base import (ACCOUNT_COLUMNS, DAY, NUMBER_COLUMNS, TEXT_COLUMNS, ContactBase, Interactions, Items,
                               Text)
from app.audience.base_store import read_base
from app.audience.columns import read_table
from app.audience.evaluate import MAX_DAYS, Evaluator, _day_number, _second
from app.audience.query import find_attribute
from app.audience.timesets import TimeSet
from app.model.attributes import INTERACTION_KINDS, STANDARD_ATTRIBUTES
from app.model.segment import Segment

_INFO_KEY = "journey_studio.audience_columns"


class MomentSet(TimeSet):
    """A `TimeSet` that only answers for its window's first moment `w0`: spans are resolved at `w0` when they
    are made, so every set is a plain mask and combining sets is a NumPy boolean operation."""

    @classmethod
    def spans(cls, n: int, w0: int, owner: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              full: np.ndarray | None = None) -> TimeSet:
        f = np.zeros(n, dtype=bool) if full is None else np.array(full, dtype=bool)
        inside = (np.asarray(lo) <= w0) & (np.asarray(hi) > w0)
        f[np.asarray(owner, dtype=np.int64)[inside]] = True
        return TimeSet(n, w0, f)


class MomentEvaluator(Evaluator):
    """The evaluator at one moment (`w0`): same meaning, every set a mask. `floats` keeps number columns
    converted to float64 between evaluations (keyed by the array's identity; it holds the array too)."""

    sets = MomentSet

    def __init__(self, base: ContactBase, custom: Mapping[str, str] | None = None, *, w0: int,
                 floats: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        super().__init__(base, custom, w0=w0)
        self.floats = {} if floats is None else floats

    def _as_float(self, values: np.ndarray) -> np.ndarray:
        kept = self.floats.get(id(values))
        if kept is None or kept[0] is not values:
            kept = self.floats[id(values)] = (values, values.astype(np.float64))
        return kept[1]

    # "in the last N days" at one moment: the span test of Evaluator._dates / _moments, [lo, hi) holding w0,
    # as two comparisons (times are whole numbers far below 2**53, so float arithmetic is exact)
    def _dates(self, x: np.ndarray, present: np.ndarray, op: str, value: Any) -> TimeSet:
        if op not in ("in_last_days", "not_in_last_days"):
            return super()._dates(x, present, op, value)
        days, t = min(int(value), MAX_DAYS), self.w0
        with np.errstate(invalid="ignore"):
            after = (x + days + 1) * DAY
            mask = (x * DAY <= t) & (after > t) if op == "in_last_days" else after <= t
        return self.sets.static(present & mask, t)

    def _moments(self, x: np.ndarray, present: np.ndarray, op: str, value: Any) -> TimeSet:
        if op not in ("in_last_days", "not_in_last_days"):
            return super()._moments(x, present, op, value)
        span, t = min(int(value), MAX_DAYS) * DAY, self.w0
        with np.errstate(invalid="ignore"):
            mask = (x <= t) & (x > t - span - 1) if op == "in_last_days" else x <= t - span - 1
        return self.sets.static(present & mask, t)


def moment_seconds(at: datetime | date) -> int:
    """A moment (naive UTC or aware; a date is its 00:00) as UTC seconds, as the evaluator counts time."""
    if isinstance(at, datetime):
        return _second(at)
    return _day_number(at) * 86_400


@dataclass
class Needs:
    """What a segment reads from the file."""

    columns: set[str] = field(default_factory=set)
    custom: set[str] = field(default_factory=set)
    interactions: bool = False
    lists: bool = False
    static: set[str] = field(default_factory=set)

    def missing(self, have: Needs) -> Needs:
        return Needs(self.columns - have.columns, self.custom - have.custom, self.interactions and not
                     have.interactions, self.lists and not have.lists, self.static - have.static)

    def empty(self) -> bool:
        return not (self.columns or self.custom or self.interactions or self.lists or self.static)

    def add(self, other: Needs) -> None:
        self.columns |= other.columns
        self.custom |= other.custom
        self.interactions |= other.interactions
        self.lists |= other.lists
        self.static |= other.static


def _rows(group: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(group, Mapping):
        return
    if "attribute" in group:
        yield group
        return
    for items in group.values():
        for item in items if isinstance(items, list) else ():
            yield from _rows(item)


def needs_of(segment: Segment, custom: Mapping[str, str]) -> Needs:
    """The columns, tables and static members evaluating `segment` reads (more is harmless, less is not)."""
    out = Needs()
    if segment.kind == "static":
        out.static.add(segment.name)
    elif segment.kind == "subscription":
        out.lists = True
    elif isinstance(segment.query, Mapping):
        for block in segment.query.get("blocks") or ():
            if not isinstance(block, Mapping):
                continue
            root = block.get("root", "contacts")
            if root == "interactions":
                out.interactions = True
            if root != "contacts":
                continue
            for row in _rows(block.get("where")):
                attr = find_attribute("contacts", row.get("attribute"), custom)
                if attr is None:
                    continue
                if attr.name == "subscription_lists":
                    out.lists = True
                elif attr.name in STANDARD_ATTRIBUTES:
                    out.columns.add(attr.name)  # account.* attributes: the accounts are always read
                else:
                    out.custom.add(attr.name)
    return out


@dataclass
class _Columns:
    key: tuple[int, int]
    custom: dict[str, str]
    have: Needs
    base: ContactBase
    floats: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


_KINDS = {"number": "number", "date": "days", "datetime": "seconds"}


def read_needs(conn: Connection, needs: Needs, custom: Mapping[str, str]) -> ContactBase:
    """The contacts (all, in id order) with their accounts and what `needs` names, read column by column."""
    driver = conn.connection.driver_connection
    assert driver is not None
    wanted = sorted(c for c in needs.columns if c in NUMBER_COLUMNS or c in TEXT_COLUMNS)
    ids, cols = read_table(driver, "contacts", "id", [("account_id", "int"),
                                                      *((c, _KINDS.get(NUMBER_COLUMNS.get(c, ""), "text"))
                                                        for c in wanted)])
    n = len(ids)
    acc_raw = cols.pop("account_id")
    account_ids = np.unique(acc_raw[acc_raw >= 0])
    account = np.where(acc_raw >= 0, np.searchsorted(account_ids, acc_raw), -1).astype(np.int64)
    found, acols = read_table(driver, "accounts", "id", [(c, _KINDS.get(k, "text"))
                                                         for c, k in ACCOUNT_COLUMNS.items()])
    pos = np.minimum(np.searchsorted(found, account_ids), max(len(found) - 1, 0))
    present = found[pos] == account_ids if len(found) else np.zeros(len(account_ids), dtype=bool)
    accounts: dict[str, Any] = {}
    for name, col in acols.items():
        if isinstance(col, Text):
            accounts[name] = Text(np.where(present, col.codes[pos] if len(found) else -1, -1).astype(np.int32),
                                  col.values)
        else:
            accounts[name] = np.where(present, col[pos] if len(found) else np.nan, np.nan)

    def rows_of(contact_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of each contact id, whether it is one of the contacts)."""
        if n and int(ids[-1]) - int(ids[0]) + 1 == n:  # ids without gaps: the row is the id's offset
            at = contact_ids - ids[0]
            inside = (at >= 0) & (at < n)
            return np.where(inside, at, 0), inside
        at = np.minimum(np.searchsorted(ids, contact_ids), max(n - 1, 0))
        return at, (ids[at] == contact_ids) if n else np.zeros(len(contact_ids), dtype=bool)

    inter = Interactions.none()
    if needs.interactions and n:
        kind = "CASE kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(INTERACTION_KINDS)) + \
            " ELSE -1 END"
        _, icols = read_table(driver, "interactions", "id", [("contact_id", "int"), (kind, "int"),
                                                              ("at", "seconds"), ("value", "number")])
        who, ok = rows_of(icols["contact_id"])
        ok &= ~np.isnan(icols["at"])
        inter = Interactions(who[ok], icols[kind][ok].astype(np.int8), icols["at"][ok].astype(np.int64),
                             icols["value"][ok])
    lists = Items.of(n, np.zeros(0, np.int64), [])
    if needs.lists and n:
        _, lcols = read_table(driver, "contact_lists", "rowid", [("contact_id", "int"), ("list", "text")])
        who, ok = rows_of(lcols["contact_id"])
        names: Text = lcols["list"]
        lists = Items.from_codes(n, who[ok], names.codes[ok], names.values)
    static: dict[str, np.ndarray] = {}
    for name in sorted(needs.static):
        member_ids = np.array([r[0] for r in driver.execute(
            "SELECT contact_id FROM segment_members WHERE segment = ?", (name,))], dtype=np.int64)
        at, ok = rows_of(member_ids)
        static[name] = np.unique(at[ok])
    custom_cols: dict[str, Any] = {}
    custom_types: dict[str, str] = {}
    if needs.custom:  # JSON values: the general reader
        part = read_base(conn, custom=custom, custom_names=needs.custom)
        custom_cols, custom_types = dict(part.custom), dict(part.custom_types)
    return ContactBase(ids, dict(cols), account, account_ids, accounts, inter, lists, static, custom_cols,
                       custom_types)


def _version(conn: Connection) -> tuple[int, int]:
    driver = conn.connection.driver_connection
    assert driver is not None
    return int(driver.execute("PRAGMA data_version").fetchone()[0]), int(driver.total_changes)


def columns_for(conn: Connection, segment: Segment, custom: Mapping[str, str] | None = None) -> ContactBase:
    """The contacts as a base holding (at least) what `segment` reads, from the connection's cache when the
    data has not changed since it was read; otherwise read now (and cached)."""
    custom = dict(custom or {})
    want = needs_of(segment, custom)
    key = _version(conn)
    cached: _Columns | None = conn.info.get(_INFO_KEY)
    if cached is None or cached.key != key or cached.custom != custom:
        cached = None
        missing = want
    else:
        missing = want.missing(cached.have)
        if missing.empty():
            return cached.base
    part = read_needs(conn, missing, custom)
    if cached is None or len(part.ids) != len(cached.base.ids) or not np.array_equal(part.ids, cached.base.ids):
        conn.info[_INFO_KEY] = _Columns(key, custom, missing, part)
        return part
    base = cached.base
    base.columns.update(part.columns)
    base.custom.update(part.custom)
    base.custom_types.update(part.custom_types)
    base.static.update(part.static)
    if missing.interactions:
        base.interactions = part.interactions
    if missing.lists:
        base.lists = part.lists
    cached.have.add(missing)
    return base


def members_mask(conn: Connection, segment: Segment, at: datetime | date,
                 custom: Mapping[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(contact ids in id order, mask of the members of `segment` at moment `at`), from the cached columns."""
    base = columns_for(conn, segment, custom)
    t = moment_seconds(at)
    cached: _Columns = conn.info[_INFO_KEY]
    found = MomentEvaluator(base, custom, w0=t, floats=cached.floats).segment(segment)
    return base.ids, (found.full if found.static_only else found.at(t))


def count_at(conn: Connection, segment: Segment, at: datetime | date,
             custom: Mapping[str, str] | None = None) -> int:
    """How many contacts are members of `segment` at moment `at` (the same count as the SQL's)."""
    return int(np.count_nonzero(members_mask(conn, segment, at, custom)[1]))


def forget(conn: Connection) -> None:
    """Drop the connection's cached columns (they are also dropped by any change to the data)."""
    conn.info.pop(_INFO_KEY, None)


__all__ = ["MomentEvaluator", "MomentSet", "Needs", "columns_for", "count_at", "forget", "members_mask",
           "moment_seconds", "needs_of"]
