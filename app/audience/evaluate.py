"""Segment queries evaluated over time on a `ContactBase`, vectorised: who is a member, from when to when.

The meaning is the SQL compiler's (app.audience.compile), row for row, so that a count on a project file and
the simulator's membership agree (a differential test over random queries holds them to it):

- text compares without regard to ASCII case where the column does (names, e-mail, city, country, time zone,
  language, account texts, custom text); consent level, loyalty tier, phone numbers, interaction kinds and
  custom list items compare exactly; contains / begins / ends (SQL LIKE) ignore ASCII case everywhere;
- missing data never matches, except `does_not_contain_data`; an empty list is not missing; an account test
  on a contact without an account does not match (but `does_not_contain_data` does);
- blocks combine left to right (union, intersect, exclude); an account block finds the contacts of matching
  accounts, an interactions block the contacts with at least one interaction matching the whole group.

Over time, instead of at one moment: `in_last_days` / `not_in_last_days` hold during intervals (a date d is
"in the last N days" on the days d to d + N), every other condition holds always or never. Interactions that
happen during a simulation (`simulated`: the contacts' own background events) exist from their moment on, and
a simulated purchase also sets the contact's last purchase date and adds to its lifetime value from then on,
so a purchase in the run resets recency. The result is a `TimeSet` over the base's contacts from `w0` on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np

from app.audience.base import DAY, ContactBase, Interactions, Items, Text
from app.audience.query import check_query, find_attribute, fold_blocks, naive_utc, parse_date, parse_datetime
from app.audience.timesets import NEVER, TimeSet
from app.errors import AudienceError
from app.model.attributes import INTERACTION_KINDS, STANDARD_ATTRIBUTES
from app.model.segment import Segment

# columns whose equality (=, !=, IN) ignores ASCII case, as their NOCASE collation does in the project file
NOCASE_COLUMNS = frozenset({"first_name", "last_name", "full_name", "email", "city", "country", "time_zone",
                            "language", "account", "account.name", "account.industry", "account.city"})
VERSIONED = frozenset({"last_purchase_date", "lifetime_value"})  # attributes a simulated purchase changes
MAX_DAYS = 10_000_000  # a longer look-back than this (27,000 years) is the same as "ever"
PURCHASE = INTERACTION_KINDS.index("purchase")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only, as SQLite's NOCASE and LIKE fold case."""
    return text.translate(_LOWER)


def _day_number(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _second(moment: datetime) -> int:
    m = naive_utc(moment).replace(microsecond=0)
    return _day_number(m.date()) * DAY + m.hour * 3600 + m.minute * 60 + m.second


def list_name(segment: Segment) -> str:
    """The subscription list a subscription segment stands for: query {list: ...}, else its own name."""
    if isinstance(segment.query, Mapping) and isinstance(segment.query.get("list"), str):
        return str(segment.query["list"])
    return segment.name


class Evaluator:
    """Segments and queries over a base's contacts, as `TimeSet`s from `w0` (see the module docstring)."""

    sets: type[TimeSet] = TimeSet  # makes every set; app.audience.moment's resolves them at the moment w0

    def __init__(self, base: ContactBase, custom: Mapping[str, str] | None = None, *, w0: int,
                 simulated: Interactions | None = None) -> None:
        self.base = base
        self.custom = dict(custom or {})
        self.w0 = int(w0)
        self.simulated = simulated if simulated is not None and len(simulated) else None
        self._entities: tuple[Interactions, TimeSet] | None = None
        self._versions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    # --- segments ------------------------------------------------------------------------------------------
    def segment(self, segment: Segment) -> TimeSet:
        """A segment's membership: a dynamic segment's query, a static segment's members, a list's subscribers."""
        if segment.entity == "accounts":  # the accounts of the contacts it finds; members: all their contacts
            found = self.segment(replace(segment, entity="contacts"))
            return found.group(self.base.account, self.base.n_accounts).expand(self.base.account)
        n = self.base.n
        if segment.kind == "static":
            mask = np.zeros(n, dtype=bool)
            mask[self.base.static.get(segment.name, np.zeros(0, np.int64))] = True
            return self.sets.static(mask, self.w0)
        if segment.kind == "subscription":
            return self.sets.static(self._on_list(list_name(segment)), self.w0)
        if segment.query is None:
            raise AudienceError(f"segment '{segment.name}' is dynamic but has no query yet; add its query blocks")
        try:
            return self.query(segment.query)
        except AudienceError as e:
            raise AudienceError(f"segment '{segment.name}': {e}") from None

    def query(self, query: Any) -> TimeSet:
        """A dynamic segment's query; AudienceError if it has problems (as the SQL compiler)."""
        check_query(query, self.custom)
        result = fold_blocks(query["blocks"], self._block, lambda a, b: a | b, lambda a, b: a & b,
                             lambda a, b: a - b)
        return result if result is not None else self.sets.empty(self.base.n, self.w0)

    # --- blocks and groups -----------------------------------------------------------------------------------
    def _block(self, block: Mapping[str, Any]) -> TimeSet:
        base = self.base
        root, where = block.get("root", "contacts"), block.get("where")
        if root == "account":
            if where is None:
                return self.sets.static(base.account >= 0, self.w0)
            return self._group(where, self._account_row).expand(base.account)
        if root == "interactions":
            entities, exists = self._interaction_entities()
            found = exists if where is None else self._group(where, self._interaction_row) & exists
            return found.group(entities.contact, base.n)
        if where is None:
            return self.sets.static(np.ones(base.n, dtype=bool), self.w0)
        return self._group(where, self._contact_row)

    def _group(self, group: Mapping[str, Any], row: Callable[[Mapping[str, Any]], TimeSet]) -> TimeSet:
        key = next(iter(group))
        parts = [self._group(item, row) if "attribute" not in item else row(item) for item in group[key]]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if key == "all" else (out | p)
        return out

    # --- rows of each root ------------------------------------------------------------------------------------
    def _contact_row(self, row: Mapping[str, Any]) -> TimeSet:
        base = self.base
        attr = find_attribute("contacts", row["attribute"], self.custom)
        assert attr is not None
        op, value = row["op"], row.get("value")
        if attr.name == "subscription_lists":
            if op in ("contains", "does_not_contain"):
                on = self._on_list(value)
            else:
                on = np.diff(base.lists.indptr) > 0
            return self.sets.static(on if op in ("contains", "contains_data") else ~on, self.w0)
        if attr.name == "account" or attr.name.startswith("account."):
            name = "name" if attr.name == "account" else attr.name.removeprefix("account.")
            col = base.account_column(name)
            found = self._compare(col, base.n_accounts, attr.type, op, value, attr.name in NOCASE_COLUMNS)
            out = found.expand(base.account)
            if op == "does_not_contain_data":
                out = out | self.sets.static(base.account < 0, self.w0)
            return out
        if attr.name in STANDARD_ATTRIBUTES:
            nocase = attr.name in NOCASE_COLUMNS
            col = base.column(attr.name)
            found = self._compare(col, base.n, attr.type, op, value, nocase)
            if attr.name in VERSIONED and self.simulated is not None:
                found = self._versioned(attr.name, found, attr.type, op, value)
            return found
        col = base.custom_column(attr.name)
        if attr.type == "list":
            return self.sets.static(_items_mask(col, base.n, op, value), self.w0)
        nocase = attr.type in ("text", "choice") and op in ("equals", "not_equals", "in")
        return self._compare(col, base.n, attr.type, op, value, nocase)

    def _account_row(self, row: Mapping[str, Any]) -> TimeSet:
        attr = find_attribute("account", row["attribute"])
        assert attr is not None
        col = self.base.account_column(attr.name)
        return self._compare(col, self.base.n_accounts, attr.type, row["op"], row.get("value"),
                             f"account.{attr.name}" in NOCASE_COLUMNS)

    def _interaction_row(self, row: Mapping[str, Any]) -> TimeSet:
        attr = find_attribute("interactions", row["attribute"])
        assert attr is not None
        entities, _ = self._interaction_entities()
        col: Any
        if attr.name == "kind":
            col = Text(entities.kind, INTERACTION_KINDS)
        elif attr.name == "at":
            col = self._as_float(entities.at)
        else:
            col = entities.value
        return self._compare(col, len(entities), attr.type, row["op"], row.get("value"), False)

    def _interaction_entities(self) -> tuple[Interactions, TimeSet]:
        """The base's interactions and the simulated ones, with when each exists (the simulated from its time)."""
        if self._entities is None:
            inter, sim = self.base.interactions, self.simulated
            if sim is None:
                self._entities = (inter, self.sets.static(np.ones(len(inter), dtype=bool), self.w0))
            else:
                both = Interactions(np.concatenate([inter.contact, sim.contact]),
                                    np.concatenate([inter.kind, sim.kind]), np.concatenate([inter.at, sim.at]),
                                    np.concatenate([inter.value, sim.value]))
                n0, n1 = len(inter), len(sim)
                full = np.concatenate([np.ones(n0, dtype=bool), np.zeros(n1, dtype=bool)])
                exists = self.sets.spans(n0 + n1, self.w0, np.arange(n0, n0 + n1, dtype=np.int64), sim.at,
                                       np.full(n1, NEVER, dtype=np.int64), full)
                self._entities = (both, exists)
        return self._entities

    def _on_list(self, name: Any) -> np.ndarray:
        """Contacts on subscription list `name` (list names ignore ASCII case, as their column)."""
        items = self.base.lists
        want = ascii_lower(str(name))
        hits = np.array([ascii_lower(v) == want for v in items.values] + [False], dtype=bool)
        which = np.flatnonzero(hits)
        out = np.zeros(self.base.n, dtype=bool)
        if len(which) == 0 or len(items.codes) == 0:
            return out
        # one list of that name (the common case): a comparison instead of a look-up per entry
        on_item = items.codes == which[0] if len(which) == 1 else np.take(hits, items.codes)
        out[np.compress(on_item, items.owners)] = True
        return out

    # --- attributes a simulated purchase changes ------------------------------------------------------------
    def _versioned(self, name: str, found: TimeSet, attr_type: str, op: str, value: Any) -> TimeSet:
        """`found` (the test on the base values) for contacts without simulated purchases; for the others, the
        test on each successive value of the attribute, during the time it holds."""
        owner, values, lo, hi, affected = self._attribute_versions(name)
        if not len(owner):
            return found
        per_version = self._compare(values, len(values), attr_type, op, value, False)
        valid = self.sets.spans(len(values), self.w0, np.arange(len(values), dtype=np.int64), lo, hi)
        changed = (per_version & valid).group(owner, self.base.n)
        return (found - self.sets.static(affected, self.w0)) | changed

    def _attribute_versions(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if name not in self._versions:
            n = self.base.n
            sim = self.simulated
            assert sim is not None
            buy = sim.kind == PURCHASE
            if buy.all():
                who, at, amount = sim.contact, sim.at, sim.value
            else:
                who, at, amount = sim.contact[buy], sim.at[buy], sim.value[buy]
            amount = np.nan_to_num(amount)
            ordered = len(who) < 2 or bool(((who[1:] > who[:-1]) | ((who[1:] == who[:-1]) & (at[1:] >= at[:-1])))
                                           .all())
            if not ordered:  # (lexsort is stable: on (contact, time) order already, it would leave it as it is)
                order = np.lexsort((at, who))
                who, at, amount = who[order], at[order], amount[order]
            affected = np.zeros(n, dtype=bool)
            affected[who] = True
            rows = np.flatnonzero(affected)
            col = self.base.column(name)
            start = (np.asarray(col, dtype=np.float64)[rows] if isinstance(col, np.ndarray)
                     else np.full(len(rows), np.nan))
            if name == "last_purchase_date":
                later = np.floor_divide(at, DAY).astype(np.float64)
            else:  # lifetime value: the base value plus every purchase so far
                first = np.ones(len(who), dtype=bool)
                first[1:] = who[1:] != who[:-1]
                running = np.cumsum(amount)
                offset = np.repeat(running[first] - amount[first], np.diff(np.append(np.flatnonzero(first),
                                                                                      len(who))))
                pos = np.searchsorted(rows, who)
                later = np.nan_to_num(start)[pos] + (running - offset)
            # version 0: the base value until the first purchase; version k: from purchase k to purchase k + 1;
            # a contact's versions one after the other, in time order (so that grouping them needs no sort)
            last = np.ones(len(who), dtype=bool)
            last[:-1] = who[1:] != who[:-1]
            firsts = np.flatnonzero(np.concatenate(([True], who[1:] != who[:-1]))) if len(who) else who
            first_at = at[firsts]
            nxt = np.where(last, NEVER, np.roll(at, -1))
            base_at = firsts + np.arange(len(rows))  # version 0 of the i-th contact, after i contacts' purchases
            later_at = np.arange(len(who)) + np.cumsum(np.concatenate(([False], who[1:] != who[:-1]))) + 1
            total = len(rows) + len(who)
            owner, values = np.empty(total, np.int64), np.empty(total, np.float64)
            lo, hi = np.empty(total, np.int64), np.empty(total, np.int64)
            for out, first_value, later_value in ((owner, rows, who), (values, start, later),
                                                  (lo, np.full(len(rows), self.w0, np.int64), at),
                                                  (hi, first_at, nxt)):
                np.put(out, base_at, first_value)
                np.put(out, later_at, later_value)
            self._versions[name] = (owner, values, lo, hi, affected)
        return self._versions[name]

    def _as_float(self, values: np.ndarray) -> np.ndarray:
        """A column of numbers as float64 (NaN: none); the at-one-moment evaluator keeps the conversions."""
        return values.astype(np.float64)

    # --- comparisons --------------------------------------------------------------------------------------------
    def _compare(self, col: Any, n: int, attr_type: str, op: str, value: Any, nocase: bool) -> TimeSet:
        """Where `col <op> value` holds, over `n` entities (a missing column: no data anywhere)."""
        w0 = self.w0
        if col is None:
            return self.sets.static(np.full(n, op == "does_not_contain_data"), w0)
        if isinstance(col, Text):
            return self.sets.static(_text_mask(col, op, value, nocase), w0)
        if isinstance(col, Items):
            return self.sets.static(_items_mask(col, n, op, value), w0)
        x = np.asarray(col, dtype=np.float64)
        present = ~np.isnan(x)
        if op == "contains_data":
            return self.sets.static(present, w0)
        if op == "does_not_contain_data":
            return self.sets.static(~present, w0)
        if attr_type == "date":
            return self._dates(x, present, op, value)
        if attr_type == "datetime":
            return self._moments(x, present, op, value)
        with np.errstate(invalid="ignore"):
            if attr_type == "boolean":
                target = float(bool(value)) if op == "equals" else float(not value)
                return self.sets.static(present & (x == target), w0)
            if op == "between":
                return self.sets.static(present & (x >= float(value[0])) & (x <= float(value[1])), w0)
            return self.sets.static(present & _ORDER[op](x, float(value)), w0)

    def _dates(self, x: np.ndarray, present: np.ndarray, op: str, value: Any) -> TimeSet:
        """A date column (days): compared by day; 'in the last N days' holds from day d to day d + N."""
        if op in ("in_last_days", "not_in_last_days"):
            days = min(int(value), MAX_DAYS)
            rows = np.flatnonzero(present)
            d = x[rows].astype(np.int64)
            if op == "in_last_days":
                lo, hi = d * DAY, (d + days + 1) * DAY
            else:
                lo, hi = (d + days + 1) * DAY, np.full(len(rows), NEVER, dtype=np.int64)
            return self.sets.spans(len(x), self.w0, rows, lo, hi)
        with np.errstate(invalid="ignore"):
            if op == "between":
                a, b = (_day_number(parse_date(v)) for v in value)  # type: ignore[arg-type]
                return self.sets.static(present & (x >= a) & (x <= b), self.w0)
            ref = _day_number(parse_date(value))  # type: ignore[arg-type]
            return self.sets.static(present & _ORDER[op](x, float(ref)), self.w0)

    def _moments(self, x: np.ndarray, present: np.ndarray, op: str, value: Any) -> TimeSet:
        """A date-time column (seconds): to the second; a date value stands for its whole day (UTC)."""
        if op in ("in_last_days", "not_in_last_days"):
            span = min(int(value), MAX_DAYS) * DAY
            rows = np.flatnonzero(present)
            s = x[rows].astype(np.int64)
            if op == "in_last_days":
                lo, hi = s, s + span + 1
            else:
                lo, hi = s + span + 1, np.full(len(rows), NEVER, dtype=np.int64)
            return self.sets.spans(len(x), self.w0, rows, lo, hi)

        def bounds(v: Any) -> tuple[int, int, bool]:
            parsed = parse_datetime(v)
            if isinstance(parsed, datetime):
                s = _second(parsed)
                return s, s, False
            assert parsed is not None
            d = _day_number(parsed) * DAY
            return d, d + DAY, True

        with np.errstate(invalid="ignore"):
            if op == "between":
                (low, _, _), (_, high, day) = bounds(value[0]), bounds(value[1])
                upper = x < high if day else x <= high
                return self.sets.static(present & (x >= low) & upper, self.w0)
            start, end, day = bounds(value)
            if not day:
                return self.sets.static(present & _ORDER[op](x, float(start)), self.w0)
            test = {"equals": lambda: (x >= start) & (x < end), "not_equals": lambda: (x < start) | (x >= end),
                    "less_than": lambda: x < start, "at_most": lambda: x < end, "greater_than": lambda: x >= end,
                    "at_least": lambda: x >= start}[op]()
            return self.sets.static(present & test, self.w0)


_ORDER: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "equals": np.equal, "not_equals": np.not_equal, "less_than": np.less, "at_most": np.less_equal,
    "greater_than": np.greater, "at_least": np.greater_equal}


def _like(op: str, ref: str) -> Callable[[str], bool]:
    want = ascii_lower(ref)
    if op in ("contains", "does_not_contain"):
        return lambda v: (want in ascii_lower(v)) == (op == "contains")
    if op == "begins_with":
        return lambda v: ascii_lower(v).startswith(want)
    return lambda v: ascii_lower(v).endswith(want)


def _text_mask(col: Text, op: str, value: Any, nocase: bool) -> np.ndarray:
    """A text test through each distinct value (missing: only does_not_contain_data matches)."""
    fold: Callable[[str], str] = ascii_lower if nocase else (lambda s: s)
    test: Callable[[str], bool]
    if op == "contains_data":
        test = lambda v: v != ""  # noqa: E731
    elif op == "does_not_contain_data":
        test = lambda v: v == ""  # noqa: E731
    elif op == "equals":
        ref = fold(str(value))
        test = lambda v: fold(v) == ref  # noqa: E731
    elif op == "not_equals":
        ref = fold(str(value))
        test = lambda v: fold(v) != ref  # noqa: E731
    elif op == "in":
        refs = {fold(str(x)) for x in value}
        test = lambda v: fold(v) in refs  # noqa: E731
    elif op in ("contains", "does_not_contain", "begins_with", "ends_with"):
        test = _like(op, str(value))
    else:
        raise AudienceError(f"'{op}' does not apply to text")
    table = np.array([test(v) for v in col.values] + [op == "does_not_contain_data"], dtype=bool)
    hits = np.flatnonzero(table)
    if len(hits) == 0:
        return np.zeros(len(col.codes), dtype=bool)
    if len(hits) == len(table):
        return np.ones(len(col.codes), dtype=bool)
    if len(hits) == 1:  # one value (or only the missing ones): a comparison instead of a look-up per row
        return col.codes == (hits[0] if hits[0] < len(col.values) else -1)
    return table[col.codes]  # code -1 (no data) takes the table's last entry


def _items_mask(col: Any, n: int, op: str, value: Any) -> np.ndarray:
    """A list attribute: contains an item (exactly), or has items at all; a missing list is an empty one."""
    if col is None:
        count = np.zeros(n, dtype=np.int64)
        has_value = np.zeros(n, dtype=bool)
    else:
        assert isinstance(col, Items)
        count = np.diff(col.indptr)
        if op in ("contains", "does_not_contain"):
            hits = np.array([v == value for v in col.values] + [False], dtype=bool)
            on = hits[col.codes] if len(col.codes) else np.zeros(0, dtype=bool)
            has_value = np.zeros(n, dtype=bool)
            has_value[col.owners[on]] = True
        else:
            has_value = count > 0
    if op == "contains":
        return has_value
    if op == "does_not_contain":
        return ~has_value
    if op == "contains_data":
        return count > 0
    return count == 0


def members_at(base: ContactBase, segment: Segment, moment: datetime | date, custom: Mapping[str, str] | None = None,
               ) -> np.ndarray:
    """The members of a segment at one moment (a mask over the base's contacts)."""
    if isinstance(moment, datetime):
        t = _second(moment)
    else:
        t = _day_number(moment) * DAY
    return Evaluator(base, custom, w0=t).segment(segment).at(t)


__all__ = ["Evaluator", "NOCASE_COLUMNS", "ascii_lower", "list_name", "members_at"]
