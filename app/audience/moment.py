"""Segment counts at one moment from NumPy columns of the project file, cached on the connection.

A count through SQL visits every candidate row at about 1 µs each (a union or an exclude at a million contacts
takes a few hundred ms). Here the columns a segment reads (contact attributes, accounts, interactions, lists,
static members) are read from the file once, kept on the connection, and the segment is evaluated on them with
the vectorised evaluator (app.audience.evaluate) resolved at one moment: boolean masks combined with NumPy
operations, no Python loop per row. The meaning is the evaluator's, which a randomised test holds to the SQL's.

The cache is thrown away on any change of the audience data, and only then: it is keyed by a count of the rows
this connection inserted, updated or deleted in the audience tables (kept by temporary triggers, which live in
the connection and never in the file, made when the cache is first filled; see `_audience_changes`),
and SQLite's `PRAGMA data_version` (changes committed by any other connection or process). A journey, content
or segment edit written through the same connection keeps the cache. On a read-only connection, which changes
nothing itself, the count is the connection's `total_changes`. Columns a later segment needs are read then and
added.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from app.audience.base import (DAY, NUMBER_COLUMNS, TEXT_COLUMNS, ContactBase, Interactions, Items,
                               Text)
from app.audience.base_store import accounts_of, read_base, rows_among
from app.audience import column_store
from app.audience.evaluate import MAX_DAYS, Evaluator, _day_number, _second
from app.audience.query import find_attribute
from app.audience.timesets import TimeSet
from app.model.attributes import STANDARD_ATTRIBUTES
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
    key: tuple[int, ...] | None
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
    ids, cols = column_store.read(driver, "contacts", "id", [
        ("account_id", "int"), *((c, _KINDS.get(NUMBER_COLUMNS.get(c, ""), "text")) for c in wanted)])
    n = len(ids)
    account, account_ids, accounts = accounts_of(driver, cols.pop("account_id"), "number")

    inter = Interactions.none()
    if needs.interactions and n:
        kind = column_store.interaction_kind_sql()
        _, icols = column_store.read(driver, "interactions", "id", [("contact_id", "int"), (kind, "int"),
                                                                    ("at", "seconds"), ("value", "number")])
        who, ok = rows_among(ids, icols["contact_id"])
        ok &= ~np.isnan(icols["at"])
        inter = Interactions(who[ok], icols[kind][ok].astype(np.int8), icols["at"][ok].astype(np.int64),
                             icols["value"][ok])
    lists = Items.of(n, np.zeros(0, np.int64), [])
    if needs.lists and n:
        _, lcols = column_store.read(driver, "contact_lists", "rowid", [("contact_id", "int"), ("list", "text")])
        who, ok = rows_among(ids, lcols["contact_id"])
        names: Text = lcols["list"]
        lists = Items.from_codes(n, who[ok], names.codes[ok], names.values)
    static: dict[str, np.ndarray] = {}
    for name in sorted(needs.static):
        member_ids = np.array([r[0] for r in driver.execute(
            "SELECT contact_id FROM segment_members WHERE segment = ?", (name,))], dtype=np.int64)
        at, ok = rows_among(ids, member_ids)
        static[name] = np.unique(at[ok])
    custom_cols: dict[str, Any] = {}
    custom_types: dict[str, str] = {}
    if needs.custom:  # JSON values: the general reader
        part = read_base(conn, custom=custom, custom_names=needs.custom)
        custom_cols, custom_types = dict(part.custom), dict(part.custom_types)
    return ContactBase(ids, dict(cols), account, account_ids, accounts, inter, lists, static, custom_cols,
                       custom_types)


# the audience tables a count reads; a change to any of them (and to no other) changes the count below
WATCHED = ("accounts", "contacts", "contact_lists", "interactions", "segment_members")
_COUNTER = "journey_studio_audience_changed"
_WATCH_KEY = "journey_studio.audience_changes"
_TABLE = "journey_studio_audience_changes"  # temp: the count a rollback takes back


def _triggers(driver: Any) -> int:
    return int(driver.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger' AND name GLOB ?",
                              (f"{_COUNTER}_*",)).fetchone()[0])


def _audience_changes(conn: Connection, driver: Any) -> tuple[int, int] | None:
    """What this connection changed in the audience tables since it started watching them: (rows changed, ever;
    rows changed and not rolled back). None: the watch starts now, or cannot (a read-only connection).

    Each changed row calls a function of this connection that adds one to a Python counter, which a rollback
    does not take back (so no number stands for two states of the data), and adds one to a counter in a
    temporary table, which a rollback does take back (so a count made inside a transaction that is then rolled
    back is not trusted afterwards). The triggers are temporary: they live in the connection, never in the
    file. A rollback of the transaction that made them drops them, which is noticed here: the watch starts
    again."""
    holder: list[int] | None = conn.info.get(_WATCH_KEY)
    if holder is not None:
        try:
            kept = int(driver.execute(f"SELECT n FROM temp.{_TABLE}").fetchone()[0])
        except sqlite3.OperationalError:  # made in a transaction that was rolled back
            kept = None
        if kept is not None and _triggers(driver) == 3 * len(WATCHED):
            return holder[0], kept
    fresh = [0]

    def changed() -> None:
        fresh[0] += 1

    try:
        driver.create_function(_COUNTER, 0, changed)
        driver.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_TABLE} (n INTEGER NOT NULL)")
        driver.execute(f"DELETE FROM temp.{_TABLE}")
        driver.execute(f"INSERT INTO temp.{_TABLE} (n) VALUES (0)")
        for table in WATCHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                driver.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS {_COUNTER}_{table}_{event.lower()} AFTER {event} "
                               f"ON main.{table} BEGIN SELECT {_COUNTER}(); UPDATE {_TABLE} SET n = n + 1; END")
    except sqlite3.OperationalError:  # e.g. a read-only connection (query_only) cannot make them
        return None
    conn.info[_WATCH_KEY] = fresh
    return None


def unwatch(conn: Connection) -> None:
    """Drop the cached columns and stop counting this connection's audience changes (a bulk load does, so that
    its millions of rows do not call a function each); the next columnar count starts again."""
    forget(conn)
    conn.info.pop(_WATCH_KEY, None)
    driver = conn.connection.driver_connection
    assert driver is not None
    if _triggers(driver):
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                driver.execute(f"DROP TRIGGER IF EXISTS temp.{_COUNTER}_{table}_{event}")
    driver.execute(f"DROP TABLE IF EXISTS temp.{_TABLE}")


def _version(conn: Connection) -> tuple[int, ...] | None:
    """The cache key: (data_version, audience changes of this connection); None when the connection has just
    started counting (nothing cached before now can be trusted)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    data_version = int(driver.execute("PRAGMA data_version").fetchone()[0])
    if driver.execute("PRAGMA query_only").fetchone()[0]:
        return data_version, int(driver.total_changes)  # read-only: it changes nothing itself
    changes = _audience_changes(conn, driver)
    return None if changes is None else (data_version, *changes)


def columns_for(conn: Connection, segment: Segment, custom: Mapping[str, str] | None = None) -> ContactBase:
    """The contacts as a base holding (at least) what `segment` reads, from the connection's cache when the
    data has not changed since it was read; otherwise read now (and cached)."""
    custom = dict(custom or {})
    want = needs_of(segment, custom)
    key = _version(conn)
    if key is None:  # counting starts now: what was cached before cannot be vouched for
        forget(conn)
        key = _version(conn)
    cached: _Columns | None = conn.info.get(_INFO_KEY)
    if cached is None or key is None or cached.key != key or cached.custom != custom:
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


__all__ = ["MomentEvaluator", "MomentSet", "Needs", "WATCHED", "columns_for", "count_at", "forget", "members_mask",
           "moment_seconds", "needs_of", "unwatch"]
