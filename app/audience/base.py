"""A customer base as NumPy columns: contacts, their accounts, interactions and list memberships.

The synthetic generator (app.audience.synthetic) makes one; app.audience.base_store reads one from a project
file and writes one into it (the SQL lives there, so that code that only draws or evaluates a base, such as
the simulator, does not import SQLAlchemy); the vectorised segment evaluator (app.audience.evaluate) and the
simulator read it. Columns by attribute type:

- number, date, date-time, boolean: float64 with NaN for "no data" (dates as days since 1970-01-01, date-times
  as seconds, booleans as 1 / 0);
- text and choice: `Text`, codes into the distinct values (-1: no data);
- list: `Items`, each owner's items (codes into names) in CSR form.

A column may be given as a function that makes it: the generator makes expensive text columns (names, e-mail
addresses) only when something reads them.
"""

from __future__ import annotations

from datetime import date, datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

DAY = 86_400


@dataclass(frozen=True)
class Text:
    """A text column: codes into `values` (-1: no data). Values may repeat (the evaluator tests each code)."""

    codes: np.ndarray
    values: tuple[str, ...]

    @classmethod
    def of(cls, items: Sequence[Any]) -> Text:
        """From Python values (None: no data)."""
        index: dict[str, int] = {}
        codes = np.fromiter((-1 if v is None else index.setdefault(str(v), len(index)) for v in items),
                            dtype=np.int32, count=len(items))
        return cls(codes, tuple(index))

    @classmethod
    def per_row(cls, texts: Sequence[str], present: np.ndarray | None = None) -> Text:
        """Each row's text under a code of its own (values may repeat): no search for repeated values, for a column
        of mostly distinct texts. With `present` (a flag per row), `texts` are those of the flagged rows, in order;
        the other rows have no data."""
        if present is None:
            return cls(np.arange(len(texts), dtype=np.int32), tuple(texts))
        codes = np.full(len(present), -1, dtype=np.int32)
        codes[present] = np.arange(len(texts), dtype=np.int32)
        return cls(codes, tuple(texts))

    def texts(self) -> list[str | None]:
        """The column as Python values (None: no data)."""
        table = np.array(list(self.values) + [None], dtype=object)
        return table[np.where(self.codes >= 0, self.codes, len(self.values))].tolist()

    def take(self, rows: np.ndarray) -> Text:
        return Text(np.take(self.codes, rows), self.values)


@dataclass(frozen=True)
class Items:
    """A list column: owner i has items codes[indptr[i]:indptr[i + 1]] (codes into `values`); `missing` marks
    owners with no value at all (as opposed to an empty list), when the distinction exists."""

    indptr: np.ndarray
    codes: np.ndarray
    values: tuple[str, ...]
    missing: np.ndarray | None = None

    @classmethod
    def of(cls, n: int, owner: np.ndarray, names: Sequence[str], missing: np.ndarray | None = None) -> Items:
        """From (owner row, item name) pairs in any order."""
        owner = np.asarray(owner, dtype=np.int64)
        index: dict[str, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in names), dtype=np.int32, count=len(names))
        order = np.argsort(owner, kind="stable")
        indptr = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=n)))).astype(np.int64)
        return cls(indptr, codes[order], tuple(index), missing)

    @classmethod
    def from_codes(cls, n: int, owner: np.ndarray, codes: np.ndarray, values: tuple[str, ...]) -> Items:
        """From (owner row, item code) pairs in any order."""
        owner = np.asarray(owner, dtype=np.int64)
        order = np.argsort(owner, kind="stable")
        indptr = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=n)))).astype(np.int64)
        return cls(indptr, np.asarray(codes, dtype=np.int32)[order], values)

    @property
    def owners(self) -> np.ndarray:
        """The owner row of each item."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))

    def take(self, rows: np.ndarray) -> Items:
        rows = np.asarray(rows, dtype=np.int64)
        counts = np.diff(self.indptr)[rows]
        starts = self.indptr[rows]
        idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return Items(indptr, self.codes[idx], self.values, None if self.missing is None else self.missing[rows])


Column = np.ndarray | Text | Items


@dataclass(frozen=True)
class Interactions:
    """Interaction rows (purchases, web visits, form submissions), sorted by contact row."""

    contact: np.ndarray  # int64 contact row
    kind: np.ndarray  # int8 index into INTERACTION_KINDS
    at: np.ndarray  # int64 seconds, UTC
    value: np.ndarray  # float64, NaN: none

    @classmethod
    def none(cls) -> Interactions:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0))

    def __len__(self) -> int:
        return len(self.contact)

    def take(self, rows: np.ndarray) -> Interactions:
        """The interactions of contacts `rows` (renumbered 0..len(rows) - 1; rows sorted ascending)."""
        rows = np.asarray(rows, dtype=np.int64)
        lo = np.searchsorted(self.contact, rows, "left")
        hi = np.searchsorted(self.contact, rows, "right")
        counts = hi - lo
        idx = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return Interactions(np.repeat(np.arange(len(rows), dtype=np.int64), counts), self.kind[idx], self.at[idx],
                            self.value[idx])


@dataclass
class ContactBase:
    """Contacts (rows 0..n-1, ids `ids`), their accounts, interactions, lists and static segment members."""

    ids: np.ndarray
    columns: dict[str, Column | Callable[[], Column]]
    account: np.ndarray  # int64 row into the accounts (-1: none)
    account_ids: np.ndarray
    accounts: dict[str, Column | Callable[[], Column]]
    interactions: Interactions
    lists: Items
    static: dict[str, np.ndarray] = field(default_factory=dict)  # static segment -> member rows
    custom: dict[str, Column | Callable[[], Column]] = field(default_factory=dict)
    custom_types: dict[str, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    def column(self, name: str) -> Column | None:
        """A standard contact column by attribute name (made on first use when it is made lazily)."""
        return _resolve(self.columns, name)

    def account_column(self, name: str) -> Column | None:
        """An account column: name, industry, size, city."""
        return _resolve(self.accounts, name)

    def custom_column(self, name: str) -> Column | None:
        return _resolve(self.custom, name)

    def take(self, rows: np.ndarray) -> ContactBase:
        """The base of contacts `rows` (sorted ascending), renumbered 0..len(rows) - 1; accounts stay whole.
        Columns not made yet are made for these rows only when read."""
        rows = np.asarray(rows, dtype=np.int64)

        def part(table: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, col in table.items():
                if callable(col):
                    out[name] = lambda name=name, table=table: _take(_resolve(table, name), rows)
                else:
                    out[name] = _take(col, rows)
            return out

        position = np.full(self.n, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        static = {k: np.sort(position[v][position[v] >= 0]) for k, v in self.static.items()}
        return ContactBase(self.ids[rows], part(self.columns), self.account[rows], self.account_ids, self.accounts,
                           self.interactions.take(rows), self.lists.take(rows), static, part(self.custom),
                           dict(self.custom_types))


def _take(col: Any, rows: np.ndarray) -> Any:
    if col is None:
        return None
    if isinstance(col, (Text, Items)):
        return col.take(rows)
    return np.asarray(col)[rows]


def _resolve(table: dict[str, Any], name: str) -> Any:
    value = table.get(name)
    if callable(value):
        value = table[name] = value()
    return value


# --- dates and times as numbers -------------------------------------------------------------------------------

def days_of(texts: Sequence[Any]) -> np.ndarray:
    """'YYYY-MM-DD' texts as days since 1970-01-01 (float64; missing or unreadable: NaN)."""
    return _parse_times(texts, "D", 10)


def seconds_of(texts: Sequence[Any]) -> np.ndarray:
    """'YYYY-MM-DDTHH:MM:SS' texts (or a date: its 00:00) as UTC seconds (float64; missing or unreadable: NaN)."""
    return _parse_times(texts, "s", None)


def _iso(v: Any) -> str:
    """A stored date or date-time as ISO text (the project file's types read back as date / datetime objects)."""
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return v.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return "NaT"


def _parse_times(texts: Sequence[Any], unit: Literal["D", "s"], length: int | None) -> np.ndarray:
    out = np.full(len(texts), np.nan)
    if not len(texts):
        return out
    arr = np.array([_iso(v) if length is None or len(_iso(v)) == length else "NaT" for v in texts], dtype=object)
    ok = arr != "NaT"
    try:
        out[ok] = arr[ok].astype(f"datetime64[{unit}]").astype(np.int64)
    except ValueError:  # some text is no date: one value at a time
        for i in np.flatnonzero(ok):
            try:
                out[i] = np.datetime64(arr[i], unit).astype(np.int64)
            except ValueError:
                pass
    return out


def day_texts(days: np.ndarray) -> list[str | None]:
    """Days since 1970-01-01 (NaN: none) as 'YYYY-MM-DD' texts."""
    ok = ~np.isnan(days)
    out = np.full(len(days), None, dtype=object)
    if ok.any():  # a population has far fewer distinct days than rows: format each day once
        unique, inverse = np.unique(days[ok].astype(np.int64), return_inverse=True)
        table = np.array(np.datetime_as_string(unique.astype("datetime64[D]"), unit="D").tolist(), dtype=object)
        out[ok] = table[inverse]
    return out.tolist()


def second_texts(seconds: np.ndarray) -> list[str | None]:
    """UTC seconds (NaN: none) as 'YYYY-MM-DDTHH:MM:SS' texts."""
    ok = ~np.isnan(seconds)
    out = np.full(len(seconds), None, dtype=object)
    out[ok] = np.datetime_as_string(seconds[ok].astype(np.int64).astype("datetime64[s]"), unit="s")
    return out.tolist()


# --- the project file's contact columns as Python values (app.audience.base_store reads and writes them) -----

NUMBER_COLUMNS = {"lifetime_value": "number", "engagement": "number", "birth_date": "date",
                  "last_purchase_date": "date", "created_on": "datetime"}
TEXT_COLUMNS = ("first_name", "last_name", "full_name", "email", "mobile_phone", "city", "country", "time_zone",
                "language", "consent_level", "loyalty_tier")
ACCOUNT_COLUMNS = {"name": "text", "industry": "text", "size": "number", "city": "text"}
CONTACT_COLUMNS: tuple[str, ...] = (
    "id", "first_name", "last_name", "full_name", "email", "mobile_phone", "city", "country", "time_zone",
    "language", "birth_date", "created_on", "consent_level", "loyalty_tier", "lifetime_value",
    "last_purchase_date", "account_id", "engagement")


def _python(col: Column | None, n: int, kind: str) -> list[Any]:
    if col is None:
        return [None] * n
    if isinstance(col, Text):
        return col.texts()
    if isinstance(col, Items):
        raise TypeError("a list column is written as rows of its own")
    if kind == "date":
        return day_texts(col)
    if kind == "datetime":
        return second_texts(col)
    # cast: np.where fills with None at runtime, but numpy's stubs do not accept None as an array
    out = np.where(np.isnan(col), cast(Any, None), col.astype(object)) if len(col) else np.zeros(0, dtype=object)
    return out.tolist()


def _contact_columns(base: ContactBase) -> tuple[list[list[Any]], list[list[Any]]]:
    """The account and contact rows' columns as Python values, in ACCOUNT_COLUMNS / CONTACT_COLUMNS order
    (the text a lazy base makes is made here)."""
    n = base.n
    acc_columns = [base.account_ids.tolist(),
                   *(_python(base.account_column(c), base.n_accounts, k) for c, k in ACCOUNT_COLUMNS.items())]
    account_ids: list[int | None] = np.where(base.account >= 0, base.account_ids[np.maximum(base.account, 0)]
                                             if base.n_accounts else 0, -1).tolist()
    for i in np.flatnonzero(base.account < 0).tolist():
        account_ids[i] = None
    columns = []
    for name in CONTACT_COLUMNS:
        if name == "id":
            columns.append(base.ids.tolist())
        elif name == "account_id":
            columns.append(account_ids)
        else:
            kind = NUMBER_COLUMNS.get(name, "text")
            columns.append(_python(base.column(name), n, kind))
    return acc_columns, columns


# --- as plain arrays (a saved run keeps the base of a project population) ------------------------------------

def _column_arrays(prefix: str, col: Column, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(col, Text):
        arrays[f"{prefix}.codes"] = col.codes
        return {"type": "text", "values": list(col.values)}
    if isinstance(col, Items):
        arrays[f"{prefix}.indptr"], arrays[f"{prefix}.codes"] = col.indptr, col.codes
        if col.missing is not None:
            arrays[f"{prefix}.missing"] = col.missing
        return {"type": "items", "values": list(col.values)}
    arrays[prefix] = np.asarray(col)
    return {"type": "array"}


def _column_from(prefix: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Column:
    if meta["type"] == "text":
        return Text(arrays[f"{prefix}.codes"], tuple(meta["values"]))
    if meta["type"] == "items":
        return Items(arrays[f"{prefix}.indptr"], arrays[f"{prefix}.codes"], tuple(meta["values"]),
                     arrays.get(f"{prefix}.missing"))
    return arrays[prefix]


def base_to_arrays(base: ContactBase) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The base as named arrays and a JSON-able description (every column made now); `base_from_arrays`."""
    arrays: dict[str, np.ndarray] = {"b.ids": base.ids, "b.account": base.account, "b.account_ids": base.account_ids,
                                     "b.i.contact": base.interactions.contact, "b.i.kind": base.interactions.kind,
                                     "b.i.at": base.interactions.at, "b.i.value": base.interactions.value}
    meta: dict[str, Any] = {"columns": {}, "accounts": {}, "custom": {}, "custom_types": dict(base.custom_types),
                            "static": list(base.static)}
    meta["lists"] = _column_arrays("b.lists", base.lists, arrays)
    for group, getter, names in (("columns", base.column, list(base.columns)),
                                 ("accounts", base.account_column, list(base.accounts)),
                                 ("custom", base.custom_column, list(base.custom))):
        for i, name in enumerate(names):
            col = getter(name)
            if col is not None:
                meta[group][name] = _column_arrays(f"b.{group}.{i}", col, arrays) | {"index": i}
    for i, name in enumerate(base.static):
        arrays[f"b.static.{i}"] = base.static[name]
    return arrays, meta


def base_from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> ContactBase:
    """The base `base_to_arrays` described."""
    tables: dict[str, dict[str, Any]] = {}
    for group in ("columns", "accounts", "custom"):
        tables[group] = {name: _column_from(f"b.{group}.{m['index']}", m, arrays)
                         for name, m in meta[group].items()}
    lists = _column_from("b.lists", meta["lists"], arrays)
    assert isinstance(lists, Items)
    inter = Interactions(arrays["b.i.contact"], arrays["b.i.kind"], arrays["b.i.at"], arrays["b.i.value"])
    static = {name: arrays[f"b.static.{i}"] for i, name in enumerate(meta["static"])}
    return ContactBase(arrays["b.ids"], tables["columns"], arrays["b.account"], arrays["b.account_ids"],
                       tables["accounts"], inter, lists, static, tables["custom"], dict(meta["custom_types"]))


__all__ = ["ACCOUNT_COLUMNS", "CONTACT_COLUMNS", "Column", "ContactBase", "Interactions", "Items", "NUMBER_COLUMNS",
           "TEXT_COLUMNS", "Text", "base_from_arrays", "base_to_arrays", "day_texts", "days_of", "second_texts",
           "seconds_of"]
