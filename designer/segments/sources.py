"""What the segment editor counts and lists, and the read-only queries its background jobs run.

A `MemberSource` is a segment as it is being edited (not yet saved): its definition plus, for a static
segment, the members added and removed in the editor. Each function here takes a SQLAlchemy connection and
runs one read: the jobs (designer.segments.jobs) call them in a worker thread on their own read-only
connection. No Qt here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import Connection, and_, false, func, not_, or_, select

from app.audience.compile import like_escape
from app.audience.members import count_where, segment_condition
from app.model.segment import Segment
from app.store import schema as t

Condition = Any  # a SQLAlchemy boolean clause on a contacts row
Row = tuple[Any, ...]
_c = t.contacts

# (column, heading) of the members table; the contact id comes first in every fetched row.
MEMBER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("full_name", "Name"), ("email", "Email"), ("city", "City"), ("country", "Country"),
    ("loyalty_tier", "Loyalty tier"), ("lifetime_value", "Lifetime value"), ("last_purchase_date", "Last purchase"),
)
SEARCH_LIMIT = 50


@dataclass(frozen=True, eq=False)
class MemberSource:
    """A segment as edited: its definition, and for a static one the stored members it starts from and the
    members added / removed since (applied only when the editor saves)."""

    segment: Segment
    custom: Mapping[str, str] = field(default_factory=dict)
    stored_name: str | None = None
    added: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()

    @classmethod
    def of(cls, segment: Segment, custom: Mapping[str, str] | None = None, stored_name: str | None = None,
           added: frozenset[int] = frozenset(), removed: frozenset[int] = frozenset()) -> MemberSource:
        """A source that owns a copy of the query (the editor keeps building new ones meanwhile)."""
        own = Segment(segment.name, segment.entity, segment.kind, segment.description,
                      copy.deepcopy(segment.query))
        return cls(own, dict(custom or {}), stored_name, frozenset(added), frozenset(removed))

    def condition(self, at: datetime | date | None = None) -> Condition:
        """Who is a member at moment `at`; AudienceError when the definition cannot be evaluated. A segment of
        accounts holds every contact of the accounts of the contacts its definition finds."""
        if self.segment.kind != "static":
            return segment_condition(self.segment, dict(self.custom), at)
        found = self._static_contacts()
        if self.segment.entity != "accounts":
            return found
        accounts = select(_c.c.account_id).where(and_(_c.c.account_id.is_not(None), found)).correlate_except(_c)
        return _c.c.account_id.in_(accounts)

    def _static_contacts(self) -> Condition:
        m = t.segment_members
        stored = (_c.c.id.in_(select(m.c.contact_id).where(m.c.segment == self.stored_name))
                  if self.stored_name is not None else false())
        if self.removed:
            stored = and_(stored, not_(_c.c.id.in_(sorted(self.removed))))
        return or_(stored, _c.c.id.in_(sorted(self.added))) if self.added else stored


def count_members(source: MemberSource) -> Callable[[Connection], int]:
    """A read that counts the source's members."""
    def run(conn: Connection) -> int:
        return count_where(conn, source.condition())
    return run


def member_page(source: MemberSource, after_id: int, limit: int) -> Callable[[Connection], list[Row]]:
    """A read of the next `limit` members after contact id `after_id`, in id order: (id, *MEMBER_COLUMNS).

    Keyset paging (id > last id seen) costs the same for the millionth row as for the first, unlike OFFSET.
    """
    def run(conn: Connection) -> list[Row]:
        columns = [_c.c.id] + [_c.c[name] for name, _ in MEMBER_COLUMNS]
        q = (select(*columns).where(source.condition(), _c.c.id > after_id).order_by(_c.c.id).limit(limit))
        return [tuple(r) for r in conn.execute(q)]
    return run


def contact_total(conn: Connection) -> int:
    """How many contacts the project holds."""
    return int(conn.execute(select(func.count()).select_from(_c)).scalar_one())


def list_names(conn: Connection) -> list[str]:
    """The subscription lists contacts are on, by name."""
    cl = t.contact_lists
    return [str(n) for n in conn.execute(select(cl.c.list).distinct().order_by(cl.c.list)).scalars()]


def search_contacts(text: str, limit: int = SEARCH_LIMIT) -> Callable[[Connection], list[Row]]:
    """A read of the contacts whose name or email contains `text` (or whose id it is): (id, *MEMBER_COLUMNS)."""
    def run(conn: Connection) -> list[Row]:
        words = text.strip()
        if not words:
            return []
        like = f"%{like_escape(words)}%"
        test = or_(_c.c.full_name.like(like, escape="\\"), _c.c.email.like(like, escape="\\"))
        if words.isdigit():
            test = or_(test, _c.c.id == int(words))
        columns = [_c.c.id] + [_c.c[name] for name, _ in MEMBER_COLUMNS]
        return [tuple(r) for r in conn.execute(select(*columns).where(test).order_by(_c.c.id).limit(limit))]
    return run


__all__ = ["MEMBER_COLUMNS", "MemberSource", "contact_total", "count_members", "list_names", "member_page",
           "search_contacts"]
