"""Who is in a segment, and who enters a journey: counts and pages of contact ids, at a given moment.

Dynamic segments are their compiled query; static segments are the members stored for them (add / remove
here); subscription segments are the contacts on their list. A journey's audience is its segments combined
(union or intersection), minus its exclusion segments, among contacts with at least its minimum consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, not_, or_, select, true
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.audience.compile import moment_of, query_condition
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS
from app.model.journey import Journey
from app.model.segment import Segment
from app.model.values import printable
from app.store import ProjectFile
from app.store import schema as t

Condition = ColumnElement[bool]
_c = t.contacts
CHUNK = 500  # ids per statement when adding or removing members (SQLite's bound-parameter limit is higher)


def list_name(segment: Segment) -> str:
    """The subscription list a subscription segment stands for: query {list: ...}, else its own name."""
    if isinstance(segment.query, Mapping) and isinstance(segment.query.get("list"), str):
        return str(segment.query["list"])
    return segment.name


def segment_condition(segment: Segment, custom: Mapping[str, str] | None = None,
                      at: datetime | date | None = None) -> Condition:
    """The condition on a contacts row that makes the contact a member of `segment` at moment `at`.

    A segment of accounts holds the accounts of the contacts its definition finds (a block on `account` finds
    accounts by their fields); its contacts are every contact of those accounts (seed 003: a journey that
    targets accounts processes the contacts of its accounts)."""
    if segment.entity == "accounts":
        inner = segment_condition(replace(segment, entity="contacts"), custom, at)
        found = select(_c.c.account_id).where(and_(_c.c.account_id.is_not(None), inner)).correlate_except(_c)
        return _c.c.account_id.in_(found)
    if segment.kind == "static":
        return _c.c.id.in_(select(t.segment_members.c.contact_id)
                           .where(t.segment_members.c.segment == segment.name))
    if segment.kind == "subscription":
        return _c.c.id.in_(select(t.contact_lists.c.contact_id).where(t.contact_lists.c.list == list_name(segment)))
    if segment.query is None:
        raise AudienceError(f"segment '{printable(segment.name)}' is dynamic but has no query yet; add its query "
                            "blocks")
    try:
        return query_condition(segment.query, custom, at)
    except AudienceError as e:
        raise AudienceError(f"segment '{printable(segment.name)}': {e}") from None


def members_query(segment: Segment, at: datetime | date | None = None,
                  custom: Mapping[str, str] | None = None) -> Select[Any]:
    """SELECT of the member contact ids, in id order (compose it, or run it on a project file's connection)."""
    return select(_c.c.id).where(segment_condition(segment, custom, at)).order_by(_c.c.id)


def _segment(pf: ProjectFile, segment: Segment | str) -> Segment:
    if isinstance(segment, Segment):
        return segment
    found = pf.project.segments.get(segment)
    if found is None:
        names = printable(", ".join(sorted(pf.project.segments))) or "none"
        raise AudienceError(f"no segment named '{printable(segment)}' in the project (segments: {names})")
    return found


def _custom(pf: ProjectFile) -> dict[str, str]:
    return dict(pf.project.settings.custom_attributes or {})


def count_where(conn: Connection, condition: Condition) -> int:
    """How many contacts satisfy a condition."""
    return int(conn.execute(select(func.count()).select_from(_c).where(condition)).scalar_one())


def ids_where(conn: Connection, condition: Condition, offset: int = 0, limit: int | None = None) -> list[int]:
    """A page of the ids of contacts satisfying a condition, in id order."""
    if offset < 0 or (limit is not None and limit < 0):
        raise AudienceError("offset and limit cannot be negative")
    q = select(_c.c.id).where(condition).order_by(_c.c.id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q).scalars())


def count(pf: ProjectFile, segment: Segment | str, at: datetime | date | None = None, *,
          columnar: bool = True) -> int:
    """How many contacts are members of a segment (by object or name) at moment `at` (default: now).

    `columnar`: counted on NumPy columns cached on the file's connection (app.audience.moment), with the SQL's
    meaning: the first count after opening or after a change of the audience tables reads the columns it needs
    (seconds at a million contacts; journey, content and segment edits keep them), later ones take
    milliseconds. Otherwise one SQL query (better for a single count).
    """
    seg, custom = _segment(pf, segment), _custom(pf)
    condition = segment_condition(seg, custom, at)  # also the checks and messages of an uncountable segment
    with pf.connection() as conn:
        if not columnar:
            return count_where(conn, condition)
        from app.audience.moment import count_at
        return count_at(conn, seg, moment_of(at), custom)


def member_ids(pf: ProjectFile, segment: Segment | str, at: datetime | date | None = None, offset: int = 0,
               limit: int | None = None) -> list[int]:
    """A page of a segment's member ids in id order: `limit` ids after skipping `offset`."""
    condition = segment_condition(_segment(pf, segment), _custom(pf), at)
    with pf.connection() as conn:
        return ids_where(conn, condition, offset, limit)


# --- a journey's audience ----------------------------------------------------------------------------------

def audience_condition(journey: Journey, segments: Mapping[str, Segment], custom: Mapping[str, str] | None = None,
                       at: datetime | date | None = None, *, with_consent: bool = True) -> Condition:
    """Who enters `journey` at moment `at`: its segments combined, minus exclusions, with enough consent."""
    audience = journey.audience

    def condition(name: str) -> Condition:
        if name not in segments:
            raise AudienceError(f"journey '{printable(journey.name)}' uses segment '{printable(name)}', which is not "
                                "in the project")
        return segment_condition(segments[name], custom, at)

    names = list(dict.fromkeys(audience.segments))
    if not names:
        raise AudienceError(f"journey '{printable(journey.name)}' has no audience segment")
    parts = [condition(n) for n in names]
    result = and_(*parts) if audience.combine == "intersection" else or_(*parts)
    for name in dict.fromkeys(audience.exclude):
        result = and_(result, not_(condition(name).is_(true())))
    if with_consent and audience.min_consent in CONSENT_LEVELS:
        enough = CONSENT_LEVELS[CONSENT_LEVELS.index(audience.min_consent):]
        result = and_(result, _c.c.consent_level.in_(enough))
    return result


def audience_count(pf: ProjectFile, journey: Journey | str, at: datetime | date | None = None, *,
                   with_consent: bool = True) -> int:
    """How many contacts would enter a journey (by object or name) at moment `at`."""
    j = pf.project.journey(journey) if isinstance(journey, str) else journey
    condition = audience_condition(j, pf.project.segments, _custom(pf), at, with_consent=with_consent)
    with pf.connection() as conn:
        return count_where(conn, condition)


def audience_ids(pf: ProjectFile, journey: Journey | str, at: datetime | date | None = None, offset: int = 0,
                 limit: int | None = None, *, with_consent: bool = True) -> list[int]:
    """A page of the ids of the contacts who would enter a journey at moment `at`, in id order."""
    j = pf.project.journey(journey) if isinstance(journey, str) else journey
    condition = audience_condition(j, pf.project.segments, _custom(pf), at, with_consent=with_consent)
    with pf.connection() as conn:
        return ids_where(conn, condition, offset, limit)


# --- explicit members: static segments and subscription lists ----------------------------------------------

def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    batch: list[int] = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise AudienceError(f"{i!r} is not a contact id")
        batch.append(i)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _static(pf: ProjectFile, segment: Segment | str) -> Segment:
    s = _segment(pf, segment)
    if s.kind != "static":
        raise AudienceError(f"segment '{printable(s.name)}' is {s.kind}; only static segments have members added "
                            "or removed")
    return s


def _insert_links(pf: ProjectFile, table: Any, key: dict[str, Any], ids: Iterable[int], what: str) -> int:
    added = 0
    with pf.connection(write=True) as conn:
        for batch in _chunks(ids):
            stmt = sqlite_insert(table).on_conflict_do_nothing()
            try:
                added += conn.execute(stmt, [{**key, "contact_id": i} for i in batch]).rowcount
            except IntegrityError:  # raised inside the block, so the whole addition rolls back
                raise AudienceError(f"cannot add to {what}: some of the ids are no contact (nothing was "
                                    "added)") from None
    return added


def add_members(pf: ProjectFile, segment: Segment | str, ids: Iterable[int]) -> int:
    """Add contacts to a static segment (already there: skipped); returns how many were added."""
    s = _static(pf, segment)
    return _insert_links(pf, t.segment_members, {"segment": s.name}, ids, f"segment '{printable(s.name)}'")


def remove_members(pf: ProjectFile, segment: Segment | str, ids: Iterable[int]) -> int:
    """Remove contacts from a static segment; returns how many were members."""
    s = _static(pf, segment)
    m = t.segment_members
    removed = 0
    with pf.connection(write=True) as conn:
        for batch in _chunks(ids):
            removed += conn.execute(delete(m).where(m.c.segment == s.name, m.c.contact_id.in_(batch))).rowcount
    return removed


def subscribe(pf: ProjectFile, list_: str, ids: Iterable[int]) -> int:
    """Put contacts on a subscription list; returns how many were not on it yet."""
    if not isinstance(list_, str) or not list_.strip():
        raise AudienceError("a subscription list needs a name")
    return _insert_links(pf, t.contact_lists, {"list": list_}, ids, f"list '{printable(list_)}'")


def unsubscribe(pf: ProjectFile, list_: str, ids: Iterable[int]) -> int:
    """Take contacts off a subscription list; returns how many were on it."""
    cl = t.contact_lists
    removed = 0
    with pf.connection(write=True) as conn:
        for batch in _chunks(ids):
            removed += conn.execute(delete(cl).where(cl.c.list == list_, cl.c.contact_id.in_(batch))).rowcount
    return removed


def contact_count(pf: ProjectFile) -> int:
    """How many contacts the project holds."""
    with pf.connection() as conn:
        return int(conn.execute(select(func.count()).select_from(_c)).scalar_one())


__all__ = ["add_members", "audience_condition", "audience_count", "audience_ids", "contact_count", "count",
           "count_where", "ids_where", "list_name", "member_ids", "members_query", "remove_members",
           "segment_condition", "subscribe", "unsubscribe"]
