"""Compile segment queries (app.audience.query) to SQLAlchemy Core: one condition on a contacts row.

Every block becomes a condition on `contacts`: a contacts block tests its columns; an account block is
`account_id IN (SELECT id FROM accounts WHERE ...)`; an interactions block is `id IN (SELECT contact_id FROM
interactions WHERE ...)`. Blocks then combine as conditions (union = OR, intersect = AND, exclude =
AND NOT ... IS TRUE), so a whole segment is one `SELECT ... FROM contacts WHERE <condition>`: one pass that
can use the indexes, instead of compound selects that each build a temporary set.

Values are always bound parameters; LIKE patterns escape their wildcards, so user text matches literally.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import KeyedColumnElement

from app.audience.query import check_query, find_attribute, fold_blocks, naive_utc, parse_date, parse_datetime
from app.errors import AudienceError
from app.model.attributes import STANDARD_ATTRIBUTES, Attribute
from app.store import schema as t

Condition = ColumnElement[bool]
LIKE_ESCAPE = "\\"
_c, _a, _i, _l = t.contacts, t.accounts, t.interactions, t.contact_lists


def moment_of(at: datetime | date | None) -> datetime:
    """The moment date-relative operators are evaluated at, as naive UTC (now when None; a date is its 00:00)."""
    if at is None:
        return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    if not isinstance(at, datetime):
        return datetime(at.year, at.month, at.day)
    try:
        return naive_utc(at)
    except OverflowError:  # an aware moment within a day of year 1 or 9999
        raise AudienceError(f"the moment {at.isoformat()} is out of range") from None


def _days_before(moment: datetime, days: int) -> datetime:
    """`days` days before `moment`, or the earliest moment there is (a look-back of thousands of years)."""
    try:
        return moment - timedelta(days=days)
    except OverflowError:
        return datetime.min


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards (% and _) and the escape character itself escaped."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def _day(d: date) -> str:
    return d.isoformat()


def _second(m: datetime) -> str:
    return naive_utc(m).replace(microsecond=0).isoformat(timespec="seconds")


def _day_start(d: date) -> str:
    return _second(datetime(d.year, d.month, d.day))


def _compare_text(expr: Any, op: str, value: Any) -> Condition:
    if op == "equals":
        return expr == value
    if op == "not_equals":
        return expr != value
    if op == "in":
        return expr.in_(list(value))
    pattern = {"contains": "%{}%", "does_not_contain": "%{}%", "begins_with": "{}%", "ends_with": "%{}"}[op]
    like = pattern.format(like_escape(value))  # built here and bound whole: never spliced into the SQL
    if op == "does_not_contain":
        return expr.not_like(like, escape=LIKE_ESCAPE)
    return expr.like(like, escape=LIKE_ESCAPE)


_ORDER: dict[str, Callable[[Any, Any], Condition]] = {
    "equals": lambda e, v: e == v, "not_equals": lambda e, v: e != v,
    "less_than": lambda e, v: e < v, "at_most": lambda e, v: e <= v,
    "greater_than": lambda e, v: e > v, "at_least": lambda e, v: e >= v,
}


def _compare_date(expr: Any, op: str, value: Any, moment: datetime) -> Condition:
    today = moment.date()
    if op == "in_last_days":
        return and_(expr >= _day(_days_before(moment, value).date()), expr <= _day(today))
    if op == "not_in_last_days":
        return expr < _day(_days_before(moment, value).date())
    if op == "between":
        low, high = (parse_date(v) for v in value)
        return and_(expr >= _day(low), expr <= _day(high))  # type: ignore[arg-type]
    return _ORDER[op](expr, _day(parse_date(value)))  # type: ignore[arg-type]


def _compare_datetime(expr: Any, op: str, value: Any, moment: datetime) -> Condition:
    """Date-times compare to the second; a date value stands for its whole day (UTC)."""
    if op == "in_last_days":
        return and_(expr >= _second(_days_before(moment, value)), expr <= _second(moment))
    if op == "not_in_last_days":
        return expr < _second(_days_before(moment, value))

    def bounds(v: Any) -> tuple[str, str, bool]:
        """(start, end, whole day): a day is [00:00, next 00:00); a moment is itself."""
        parsed = parse_datetime(v)
        if isinstance(parsed, datetime):
            return _second(parsed), _second(parsed), False
        assert parsed is not None
        return _day_start(parsed), _day_start(parsed + timedelta(days=1)), True

    if op == "between":
        (low, _, _), (_, high, day) = bounds(value[0]), bounds(value[1])
        return and_(expr >= low, expr < high if day else expr <= high)
    start, end, day = bounds(value)
    if not day:
        return _ORDER[op](expr, start)
    return {
        "equals": lambda: and_(expr >= start, expr < end),
        "not_equals": lambda: or_(expr < start, expr >= end),
        "less_than": lambda: expr < start,
        "at_most": lambda: expr < end,
        "greater_than": lambda: expr >= end,
        "at_least": lambda: expr >= start,
    }[op]()


def compare(expr: Any, attr: Attribute, op: str, value: Any, moment: datetime) -> Condition:
    """The condition `expr <op> value` for an attribute of `attr.type` (a valid row; see validate_query)."""
    if op == "contains_data":
        return and_(expr.is_not(None), expr != "") if attr.type in ("text", "choice") else expr.is_not(None)
    if op == "does_not_contain_data":
        return or_(expr.is_(None), expr == "") if attr.type in ("text", "choice") else expr.is_(None)
    if attr.type == "date":
        return _compare_date(expr, op, value, moment)
    if attr.type == "datetime":
        return _compare_datetime(expr, op, value, moment)
    if attr.type == "boolean":  # JSON true / false come out of json_extract as 1 / 0
        return expr == int(value) if op == "equals" else expr == int(not value)
    if attr.type == "number":
        if op == "between":
            return and_(expr >= value[0], expr <= value[1])
        return _ORDER[op](expr, value)
    return _compare_text(expr, op, value)


# --- rows of each root -----------------------------------------------------------------------------------

def _custom_value(name: str) -> Any:
    return func.json_extract(_c.c.custom, f'$."{name}"')  # the path is a bound parameter too


def _list_condition(members: Any, op: str, value: Any) -> Condition:
    """Subscription lists: `members(value)` is the select of contact ids on list `value` (None: any list)."""
    if op in ("contains", "contains_data"):
        return _c.c.id.in_(members(value if op == "contains" else None))
    return _c.c.id.not_in(members(value if op == "does_not_contain" else None))


def _subscribers(name: str | None) -> Any:
    q = select(_l.c.contact_id)
    return q.where(_l.c.list == name) if name is not None else q.distinct()


def _account_condition(column: KeyedColumnElement[Any], attr: Attribute, op: str, value: Any,
                       moment: datetime) -> Condition:
    """A contact row testing its account: contacts without an account only match 'does not contain data'."""
    accounts = select(_a.c.id).where(compare(column, attr, op, value, moment))
    if op == "does_not_contain_data":
        return or_(_c.c.account_id.is_(None), _c.c.account_id.in_(accounts))
    return _c.c.account_id.in_(accounts)


class _Compiler:
    def __init__(self, custom: Mapping[str, str] | None, moment: datetime) -> None:
        self.custom = dict(custom or {})
        self.moment = moment

    def contact_row(self, row: Mapping[str, Any]) -> Condition:
        attr = find_attribute("contacts", row["attribute"], self.custom)
        assert attr is not None
        op, value = row["op"], row.get("value")
        if attr.name == "subscription_lists":
            return _list_condition(_subscribers, op, value)
        if attr.name == "account" or attr.name.startswith("account."):
            column = _a.c[attr.name.removeprefix("account.") if "." in attr.name else "name"]
            return _account_condition(column, attr, op, value, self.moment)
        if attr.name in STANDARD_ATTRIBUTES:
            return compare(_c.c[attr.name], attr, op, value, self.moment)
        expr = _custom_value(attr.name)  # a custom attribute, even one named like a column (say "engagement")
        if attr.type == "list":
            items = func.json_each(_c.c.custom, f'$."{attr.name}"').table_valued("value")
            if op in ("contains_data", "does_not_contain_data"):
                has = func.coalesce(func.json_array_length(expr), 0) > 0
                return has if op == "contains_data" else not_(has)
            found = exists(select(1).select_from(items).where(items.c.value == value))
            return found if op == "contains" else not_(found)
        if attr.type in ("text", "choice") and op in ("equals", "not_equals", "in"):
            expr = expr.collate("NOCASE")  # as the text columns: compare without regard to case
        return compare(expr, attr, op, value, self.moment)

    def account_row(self, row: Mapping[str, Any]) -> Condition:
        attr = find_attribute("account", row["attribute"])
        assert attr is not None
        return compare(_a.c[attr.name], attr, row["op"], row.get("value"), self.moment)

    def interaction_row(self, row: Mapping[str, Any]) -> Condition:
        attr = find_attribute("interactions", row["attribute"])
        assert attr is not None
        return compare(_i.c[attr.name], attr, row["op"], row.get("value"), self.moment)

    def group(self, group: Mapping[str, Any], row: Callable[[Mapping[str, Any]], Condition]) -> Condition:
        key = next(iter(group))
        parts = [self.group(item, row) if "attribute" not in item else row(item) for item in group[key]]
        return and_(*parts) if key == "all" else or_(*parts)

    def block(self, block: Mapping[str, Any]) -> Condition:
        root, where = block.get("root", "contacts"), block.get("where")
        if root == "account":
            accounts = select(_a.c.id)
            if where is not None:
                accounts = accounts.where(self.group(where, self.account_row))
            return _c.c.account_id.in_(accounts)
        if root == "interactions":
            people = select(_i.c.contact_id)
            if where is not None:
                people = people.where(self.group(where, self.interaction_row))
            return _c.c.id.in_(people)
        return self.group(where, self.contact_row) if where is not None else _c.c.id.is_not(None)

    def query(self, query: Mapping[str, Any]) -> Condition:
        # exclude: IS TRUE keeps a condition that is unknown (NULL) for a row from excluding it
        result = fold_blocks(query["blocks"], self.block, or_, and_, lambda a, b: and_(a, not_(b.is_(true()))))
        return result if result is not None else false()


def query_condition(query: Any, custom: Mapping[str, str] | None = None,
                    at: datetime | date | None = None) -> Condition:
    """The condition on a contacts row for a dynamic segment's query; AudienceError if the query has problems."""
    check_query(query, custom)
    return _Compiler(custom, moment_of(at)).query(query)


_TEXT_ACCOUNT = {"account": "name", "account.name": "name", "account.industry": "industry",
                 "account.city": "city"}


def attribute_expression(name: str, custom: Mapping[str, str]) -> tuple[Any, str] | None:
    """The SQL expression of one attribute of a contact (with its account joined) and how to read its value:
    'number', 'date', 'datetime' or 'text'; None for the core columns and lists (read on their own)."""
    from app.model.attributes import lookup_attribute
    if name in ("consent_level", "loyalty_tier", "time_zone", "subscription_lists"):
        return None
    if name in _TEXT_ACCOUNT:
        return _a.c[_TEXT_ACCOUNT[name]], "text"
    if name == "account.size":
        return _a.c.size, "number"
    attr = lookup_attribute(name, dict(custom))
    if attr is None:
        return None
    if name in STANDARD_ATTRIBUTES and name in _c.c:
        expr: Any = _c.c[name]
    else:
        expr = func.json_extract(_c.c.custom, f'$."{name}"')
    kind = {"number": "number", "date": "date", "datetime": "datetime", "boolean": "number"}.get(attr.type, "text")
    if kind == "text" and attr.type not in ("text", "choice"):
        return None
    return expr, kind


__all__ = ["attribute_expression", "compare", "like_escape", "moment_of", "query_condition"]
