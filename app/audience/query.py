"""The segment query model: the plain-dict definition kept in `Segment.query`, and its validator.

A dynamic segment's query is a list of blocks combined in order (left to right)::

    {"blocks": [
        {"root": "contacts", "where": {"all": [
            {"attribute": "city", "op": "equals", "value": "Atlantis"},
            {"any": [{"attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]},
                     {"attribute": "lifetime_value", "op": "at_least", "value": 1000}]}]}},
        {"op": "exclude", "root": "interactions", "where": {"all": [
            {"attribute": "kind", "op": "equals", "value": "purchase"},
            {"attribute": "at", "op": "in_last_days", "value": 60}]}}]}

- A block's `op` is "union" (the default), "exclude" or "intersect": how it combines with the result of the
  blocks before it; the first block's `op` is ignored. `root` is "contacts" (the default), "account"
  (contacts whose account matches) or "interactions" (contacts with at least one interaction matching every
  condition at once).
- `where` is a group: {"all": [...]} (AND) or {"any": [...]} (OR) of rows and nested groups. A block without
  `where` has no conditions and finds every contact its root reaches (all contacts, contacts with an
  account, contacts with an interaction). An empty group is a problem: it is an unfinished edit.
- A row is {"attribute", "op", "value"}; operators and value shapes are app.model.attributes.OPERATORS.
  Dates are "YYYY-MM-DD"; date-times "YYYY-MM-DDTHH:MM[:SS]" in UTC, or a date meaning that whole day.
- Missing data never matches a comparison (not even not_equals / does_not_contain); use
  does_not_contain_data to find it. A list attribute (subscription_lists, custom lists) with no items is
  empty, not missing: it does not contain any value. Text compares without regard to case (ASCII letters).

A subscription segment's query, when it has one, is {"list": "<list name>"}; without one the list is the
segment's name. Static segments have no query: their members are stored (app.audience.members).

`validate_query` never raises: it returns every problem with the path to the offending part, for the check
for errors and the segment editor. What it accepts is bounded, so that counting members cannot overflow or
exhaust anything: at most MAX_BLOCKS blocks and MAX_CONDITIONS rows and groups, `in` lists of at most
MAX_VALUES values and MAX_QUERY_VALUES values in all, texts of at most MAX_TEXT characters and without NUL
(SQLite's LIKE would stop reading the pattern there, so `ends_with "\0"` matched everyone), numbers within
app.model.values.MAX_NUMBER either way, dates from MIN_DATE to MAX_DATE, and look-backs of at most MAX_DAYS
days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator, TypeVar

from app.model.attributes import (ACCOUNT_ATTRIBUTES, CONTACT_ATTRIBUTES, DAY_OPERATORS, INTERACTION_KINDS,
                                  OPERATORS, RANGE_OPERATORS, STANDARD_ATTRIBUTES, UNARY_OPERATORS, Attribute,
                                  lookup_attribute)
from app.model.segment import Segment
from app.model.values import MAX_NUMBER, date_range, in_date_range, shown

BLOCK_OPS: tuple[str, ...] = ("union", "exclude", "intersect")
ROOTS: tuple[str, ...] = ("contacts", "account", "interactions")
GROUP_KEYS: tuple[str, ...] = ("all", "any")
MAX_DEPTH = 32  # nesting deeper than this is refused (it is never meant, and would recurse without bound)
MAX_BLOCKS = 100
MAX_CONDITIONS = 1000  # rows and groups in all the blocks of a query
MAX_VALUES = 1000  # values of an `in` list (each is a bound parameter of the SQL)
MAX_QUERY_VALUES = 10_000  # values in all the rows of a query: SQLite takes at most 32,766 bound parameters
MAX_TEXT = 1000  # characters of a text value
MAX_DAYS = 1_000_000  # of in_last_days / not_in_last_days: 2,700 years, more than every date there can be
Path = tuple[str | int, ...]
T = TypeVar("T")

ACCOUNT_FIELDS: tuple[Attribute, ...] = tuple(
    Attribute(a.name.removeprefix("account."), a.type, a.label) for a in ACCOUNT_ATTRIBUTES)
INTERACTION_FIELDS: tuple[Attribute, ...] = (
    Attribute("kind", "choice", "Interaction kind", INTERACTION_KINDS),
    Attribute("at", "datetime", "Interaction time"),
    Attribute("value", "number", "Interaction value"),
)
_ROOT_LABELS = {"contacts": "a contact", "account": "an account", "interactions": "an interaction"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a query: where (a path into the dict), what, and how to fix it."""

    path: Path
    code: str
    message: str
    fix: str

    def where(self) -> str:
        """The place in words, e.g. 'block 2, row 1 in group 3'."""
        return describe_path(self.path)

    def format(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


def describe_path(path: Path) -> str:
    """The place in words: ("blocks", 1, "where", "all", 2, "any", 0) is 'block 2, row 3.1'."""
    block: str | None = None
    rows: list[str] = []
    for key, nxt in zip(path, path[1:]):
        if key == "blocks" and isinstance(nxt, int):
            block = f"block {nxt + 1}"
        elif key in GROUP_KEYS and isinstance(nxt, int):
            rows.append(str(nxt + 1))
    words = [w for w in (block, f"row {'.'.join(rows)}" if rows else None) if w]
    return ", ".join(words)


def root_attributes(root: str, custom: Mapping[str, str] | None = None) -> dict[str, Attribute]:
    """The attributes a block of that root can test (contacts: standard, account.* and custom ones)."""
    if root == "account":
        return {a.name: a for a in ACCOUNT_FIELDS}
    if root == "interactions":
        return {a.name: a for a in INTERACTION_FIELDS}
    found = {a.name: a for a in CONTACT_ATTRIBUTES + ACCOUNT_ATTRIBUTES}
    for name in custom or {}:
        if isinstance(name, str) and name not in found:
            attr = lookup_attribute(name, dict(custom or {}))
            if attr is not None:
                found[name] = attr
    return found


def find_attribute(root: str, name: Any, custom: Mapping[str, str] | None = None) -> Attribute | None:
    """The attribute a row names in a block of `root` ("account.city" is accepted in account blocks too)."""
    if not isinstance(name, str):
        return None
    attrs = root_attributes(root, custom)
    if root == "account" and name not in attrs:
        name = name.removeprefix("account.")
    return attrs.get(name)


# --- values ------------------------------------------------------------------------------------------------

def parse_date(value: Any) -> date | None:
    """A 'YYYY-MM-DD' text (or a date) as a date; None if it is not one."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_datetime(value: Any) -> datetime | date | None:
    """A date-time value: a date (meaning the whole day) or a naive UTC date-time; None if neither."""
    day = parse_date(value)
    if day is not None:
        return day
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and 16 <= len(value) <= 32:
        try:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
        except ValueError:
            return None
        return moment
    return None


def is_number(value: Any) -> bool:
    """A real number: an int (not a bool) or a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _text_problem(value: Any, what: str = "some text") -> str | None:
    """Why `value` is not a text a condition can compare with (None when it is one)."""
    if not isinstance(value, str) or value == "":
        return what
    if len(value) > MAX_TEXT:
        return f"{what} of at most {MAX_TEXT} characters"
    if "\x00" in value:
        return f"{what} without a NUL character"
    return None


def _single_problem(attr: Attribute, value: Any) -> str | None:
    """Why `value` is not a value of the attribute's type (None when it is one)."""
    t = attr.type
    if t == "number":
        if not is_number(value):
            return "a number"
        return None if abs(value) <= MAX_NUMBER else f"a number from -{MAX_NUMBER:,} to {MAX_NUMBER:,}"
    if t in ("date", "datetime"):
        parsed = parse_date(value) if t == "date" else parse_datetime(value)
        if parsed is None:
            return "a date such as 2026-12-01" + (" (or 2026-12-01T09:00)" if t == "datetime" else "")
        return None if in_date_range(parsed) else f"a date in range ({date_range()})"
    if t == "boolean":
        return None if isinstance(value, bool) else "true or false"
    if t == "choice":
        return None if isinstance(value, str) and value in attr.choices else f"one of: {', '.join(attr.choices)}"
    return _text_problem(value)


def _short(value: Any) -> str:
    return shown(value, 40)


def value_problem(attr: Attribute, op: str, value: Any) -> str | None:
    """Why `value` does not fit operator `op` on `attr`, in words ending with what is expected; None if it fits."""
    if op in UNARY_OPERATORS:
        return None
    if op in DAY_OPERATORS:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS:
            return None
        return f"{_short(value)} is not a number of days; '{op}' needs a whole number from 0 to {MAX_DAYS:,}"
    if op in RANGE_OPERATORS:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            return f"{_short(value)} is not a range; 'between' needs two values [low, high]"
        for v in value:
            expected = _single_problem(attr, v)
            if expected:
                return f"{_short(v)} is not {expected}"
        low, high = value
        if attr.type == "number":
            lo_hi: tuple[Any, Any] = (low, high)
        else:  # a date as the upper bound takes in its whole day
            a, b = parse_datetime(low), parse_datetime(high)
            end = _as_datetime(b) + (timedelta(days=1) if not isinstance(b, datetime) else timedelta(0))
            lo_hi = (_as_datetime(a), end - timedelta(microseconds=1))
        if lo_hi[0] > lo_hi[1]:
            return f"the range {_short(low)} to {_short(high)} is empty; put the lower bound first"
        return None
    if op == "in":
        if not isinstance(value, (list, tuple)) or not value:
            return f"{_short(value)} is not a list; 'in' needs a list of one or more values"
        if len(value) > MAX_VALUES:
            return f"the list has {len(value):,} values; 'in' takes at most {MAX_VALUES:,}"
        for v in value:
            expected = _single_problem(attr, v)
            if expected:
                return f"{_short(v)} is not {expected}"
        return None
    if attr.type == "list":  # contains / does_not_contain a list name
        expected = _text_problem(value, "a list name")
        return f"{_short(value)} is not {expected}" if expected else None
    expected = _single_problem(attr, value)
    return f"{_short(value)} is not {expected}" if expected else None


def naive_utc(moment: datetime) -> datetime:
    """A date-time as naive UTC (how the contact tables store them); naive ones are taken as UTC."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _as_datetime(v: date | datetime | None) -> datetime:
    if isinstance(v, datetime):
        return naive_utc(v)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    return datetime.min


# --- the validator -----------------------------------------------------------------------------------------

def validate_query(query: Any, custom: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem in a dynamic segment's query (empty when it can be compiled); never raises."""
    try:
        return list(_query_problems(query, custom, [0, 0]))
    except Exception as e:  # by contract: a value no check foresaw is a problem of the query, not a crash
        return [Problem((), "unreadable", f"the query cannot be read ({type(e).__name__})",
                        "Define the query again in the segment editor.")]


def fold_blocks(blocks: list[Any], evaluate: Callable[[Any], T], union: Callable[[T, T], T],
                intersect: Callable[[T, T], T], exclude: Callable[[T, T], T]) -> T | None:
    """A query's blocks combined left to right, each by its op (union by default; the first block's op is
    ignored): the one meaning of block combination, for the SQL compiler and the evaluator over time."""
    result: T | None = None
    for block in blocks:
        part = evaluate(block)
        op = block.get("op") or "union"
        if result is None:
            result = part
        elif op == "union":
            result = union(result, part)
        elif op == "intersect":
            result = intersect(result, part)
        else:
            result = exclude(result, part)
    return result


def check_query(query: Any, custom: Mapping[str, str] | None = None) -> None:
    """AudienceError with the first problem of a query (and how many more), when it has any."""
    from app.errors import AudienceError
    problems = validate_query(query, custom)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AudienceError(f"the segment query has problems: {problems[0].format()}{more}")


def validate_segment(segment: Segment, custom: Mapping[str, str] | None = None) -> list[Problem]:
    """The problems of a segment's definition: its query when dynamic, its list when subscription."""
    if segment.kind == "dynamic":
        return [] if segment.query is None else validate_query(segment.query, custom)
    if segment.kind == "subscription" and segment.query is not None:
        name = segment.query.get("list") if isinstance(segment.query, Mapping) else None
        extra = [k for k in segment.query if k != "list"] if isinstance(segment.query, Mapping) else []
        if not isinstance(name, str) or not name.strip() or extra:
            return [Problem(("list",), "bad-list", "a subscription segment's query names its list only, "
                            f"as {{list: <name>}}, not {_short(segment.query)}",
                            "Write the list name, or remove the query to use the segment's name as the list.")]
    if segment.kind == "static" and segment.query is not None:
        return [Problem((), "static-query", "a static segment has members, not a query",
                        "Remove the query, or make the segment dynamic.")]
    return []


def _bad(path: Path, code: str, message: str, fix: str) -> Problem:
    return Problem(path, code, message, fix)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _short(key)


def _query_problems(query: Any, custom: Mapping[str, str] | None, seen: list[int]) -> Iterator[Problem]:
    if not isinstance(query, Mapping):
        yield _bad((), "bad-shape", f"the query must be a mapping with a list of blocks, not {_short(query)}",
                   "Define the query as {blocks: [...]}.")
        return
    extra = [k for k in query if k != "blocks"]
    if extra:
        yield _bad((_key(extra[0]),), "bad-shape", f"the query has an unknown key {_short(extra[0])}",
                   "A query holds only 'blocks'; put conditions in a block's 'where'.")
    blocks = query.get("blocks")
    if blocks is None or (isinstance(blocks, list) and not blocks):
        yield _bad(("blocks",), "no-blocks", "the query has no blocks, so it finds nobody",
                   "Add a query block (a block without conditions finds every contact).")
        return
    if not isinstance(blocks, list):
        yield _bad(("blocks",), "bad-shape", f"'blocks' must be a list, not {_short(blocks)}",
                   "Write the blocks as a list.")
        return
    if len(blocks) > MAX_BLOCKS:
        yield _bad(("blocks",), "too-many-blocks", f"the query has {len(blocks):,} blocks, more than {MAX_BLOCKS}",
                   "Combine conditions in fewer blocks.")
        return
    for i, block in enumerate(blocks):
        yield from _block_problems(("blocks", i), block, custom, seen)


def _block_problems(path: Path, block: Any, custom: Mapping[str, str] | None, seen: list[int]
                    ) -> Iterator[Problem]:
    if not isinstance(block, Mapping):
        yield _bad(path, "bad-shape", f"a block must be a mapping, not {_short(block)}",
                   "Write the block as {root: contacts, where: {all: [...]}}.")
        return
    for key in block:
        if key not in ("op", "root", "where"):
            yield _bad(path + (_key(key),), "bad-shape", f"a block has no key {_short(key)}",
                       "A block holds op, root and where.")
    op = block.get("op")
    if op is not None and op not in BLOCK_OPS:
        yield _bad(path + ("op",), "block-op", f"{_short(op)} is not a way to combine blocks",
                   f"Choose one of: {', '.join(BLOCK_OPS)}.")
    root = block.get("root", "contacts")
    if root not in ROOTS:
        yield _bad(path + ("root",), "block-root", f"{_short(root)} is not an entity a block can query",
                   f"Choose one of: {', '.join(ROOTS)}.")
        return
    where = block.get("where")
    if where is not None:
        yield from _group_problems(path + ("where",), where, root, custom, 0, seen)


def _group_problems(path: Path, group: Any, root: str, custom: Mapping[str, str] | None,
                    depth: int, seen: list[int]) -> Iterator[Problem]:
    if depth > MAX_DEPTH:
        yield _bad(path, "too-deep", f"groups are nested more than {MAX_DEPTH} deep", "Flatten the groups.")
        return
    keys = list(group) if isinstance(group, Mapping) else []
    if len(keys) != 1 or keys[0] not in GROUP_KEYS:
        yield _bad(path, "bad-shape", f"a group must be {{all: [...]}} (AND) or {{any: [...]}} (OR), not "
                   f"{_short(group)}", "Write the group with exactly one of 'all' or 'any'.")
        return
    key = keys[0]
    items = group[key]
    if not isinstance(items, list):
        yield _bad(path + (key,), "bad-shape", f"the items of a group must be a list, not {_short(items)}",
                   "Write the group's rows as a list.")
        return
    if not items:
        yield _bad(path + (key,), "empty-group", "the group is empty",
                   "Add a condition to it or remove it (a block without 'where' finds everyone it reaches).")
    for i, item in enumerate(items):
        item_path = path + (key, i)
        seen[0] += 1
        if seen[0] > MAX_CONDITIONS:
            yield _bad(item_path, "too-many-conditions", f"the query has more than {MAX_CONDITIONS:,} rows and "
                       "groups", "Use fewer conditions (an 'in' list tests many values in one row).")
            return
        if isinstance(item, Mapping) and any(k in item for k in GROUP_KEYS) and "attribute" not in item:
            yield from _group_problems(item_path, item, root, custom, depth + 1, seen)
        else:
            yield from _row_problems(item_path, item, root, custom, seen)


def _row_problems(path: Path, row: Any, root: str, custom: Mapping[str, str] | None, seen: list[int]
                  ) -> Iterator[Problem]:
    if not isinstance(row, Mapping) or "attribute" not in row:
        yield _bad(path, "bad-shape", f"a row must be {{attribute, op, value}}, not {_short(row)}",
                   "Choose an attribute, an operator and a value.")
        return
    for key in row:
        if key not in ("attribute", "op", "value"):
            yield _bad(path + (_key(key),), "bad-shape", f"a row has no key {_short(key)}",
                       "A row holds attribute, op and value.")
    name, op = row.get("attribute"), row.get("op")
    attr = find_attribute(root, name, custom)
    if attr is None:
        known = ", ".join(root_attributes(root)) if root != "contacts" else ""
        yield _bad(path + ("attribute",), "unknown-attribute", f"{_short(name)} is not {_ROOT_LABELS[root]} "
                   "attribute", f"Choose one of: {known}." if known else
                   "Choose a contact attribute, or declare a custom attribute in the project settings.")
    elif root == "contacts" and attr.name not in STANDARD_ATTRIBUTES and any(c in attr.name for c in '"\\\x00'):
        yield _bad(path + ("attribute",), "bad-attribute-name", f"custom attribute {_short(attr.name)} has a "
                   "double quote, a backslash or a NUL in its name, so it cannot be queried",
                   "Rename the custom attribute.")
        return
    if not isinstance(op, str) or op not in OPERATORS:
        yield _bad(path + ("op",), "unknown-operator", f"{_short(op)} is not an operator",
                   f"Choose one of: {', '.join(OPERATORS)}.")
        return
    if attr is None:
        return
    if attr.type not in OPERATORS[op]:
        fitting = [o for o, types in OPERATORS.items() if attr.type in types]
        yield _bad(path + ("op",), "operator-type", f"'{op}' does not apply to '{attr.label}', which is "
                   f"{attr.type}", f"Choose one of: {', '.join(fitting)}.")
        return
    if op not in UNARY_OPERATORS and "value" not in row:
        yield _bad(path + ("value",), "no-value", f"'{op}' on '{attr.label}' needs a value",
                   "Enter the value to compare with.")
        return
    value = row.get("value")
    problem = value_problem(attr, op, value)
    if problem:
        yield _bad(path + ("value",), "value-type", f"'{attr.label}' {op.replace('_', ' ')}: {problem}",
                   "Correct the value.")
        return
    before, seen[1] = seen[1], seen[1] + (len(value) if isinstance(value, (list, tuple)) else 1)
    if before <= MAX_QUERY_VALUES < seen[1]:
        yield _bad(path + ("value",), "too-many-values", f"the query holds more than {MAX_QUERY_VALUES:,} values",
                   "Use fewer or shorter 'in' lists.")


__all__ = ["ACCOUNT_FIELDS", "BLOCK_OPS", "GROUP_KEYS", "INTERACTION_FIELDS", "MAX_BLOCKS", "MAX_CONDITIONS",
           "MAX_DAYS", "MAX_QUERY_VALUES", "MAX_TEXT", "MAX_VALUES", "Problem", "ROOTS", "check_query",
           "describe_path", "find_attribute", "fold_blocks", "naive_utc", "parse_date", "parse_datetime",
           "root_attributes", "validate_query", "validate_segment", "value_problem"]
