"""The project's own contacts as a simulated `Population` (pure: SQL and NumPy, no Qt).

`population_from_project(pf, journey, as_of=...)` reads the contacts who would enter the journey (its audience
evaluated with the app.audience queries at `as_of`: its segments combined, minus exclusions, with enough
consent); `segment=NAME` reads the members of that segment instead, who then all count as the journey's audience
(its exclusion, suppression and minimum consent still apply). Membership is a snapshot: a member at `as_of`
is a member from before the journey's start until the end (joins and leaves over time are not in the project's
data yet), so an ongoing journey enters its members at the start.

`population_from_connection` does the same through a given connection, with the project's segments and
custom attributes passed in (a worker thread's own read-only connection and a snapshot of the project).

Columns are read with one SELECT per kind (contacts, each segment's member ids) into NumPy arrays, without a
Python loop per contact. Each contact keeps its id, so its random draws are the same as in any other
population it appears in. The spec (`kind` "project" or "segment", size, segment, as_of) describes the
population; it cannot rebuild it (contacts change), so a saved run keeps the columns (RunRecord).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, and_, func, select

from app.audience.members import audience_condition, segment_condition
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS, STANDARD_ATTRIBUTES, lookup_attribute
from app.model.journey import Journey
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from simulator.behaviour import BehaviourModel
from simulator.draws import NEVER
from simulator.plan import Kind, Plan, compile_plan
from simulator.population import CategoryColumn, Membership, Population

_c, _a = t.contacts, t.accounts
AVERAGE_ENGAGEMENT = 2.0 / 7.0  # the Beta(2, 5) mean: a contact with no recorded engagement behaves as average
# always read (as the synthetic population has them), besides what the journey's conditions use
DEFAULT_ATTRIBUTES = ("lifetime_value", "last_purchase_date", "account.size", "country", "language")
_TEXT_ACCOUNT = {"account": "name", "account.name": "name", "account.industry": "industry",
                 "account.city": "city"}


def _moment(as_of: date | datetime | None, plan: Plan) -> datetime:
    if as_of is None:
        return datetime.fromtimestamp(plan.start, timezone.utc)
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=timezone.utc)


def _attributes_used(plan: Plan, behaviour: BehaviourModel | None) -> list[str]:
    names = [s.condition.attribute for s in plan.steps if s.kind == Kind.IF_CONDITION and s.condition]
    if behaviour is not None:
        names += [m.attribute for m in behaviour.multipliers if m.attribute and m.segment is None]
    return list(dict.fromkeys([*DEFAULT_ATTRIBUTES, *names]))


def attribute_expression(name: str, custom: Mapping[str, str]) -> tuple[Any, str] | None:
    """The SQL expression of an attribute and how to read it: 'number', 'date', 'datetime' or 'text'."""
    if name in ("consent_level", "loyalty_tier", "time_zone", "subscription_lists"):
        return None  # core columns of the population (or, for lists, not supported by the simulator)
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


def _float_column(values: tuple[Any, ...]) -> np.ndarray:
    return np.array(values, dtype=np.float64) if values else np.zeros(0)


def _seconds_column(values: tuple[Any, ...]) -> np.ndarray:
    """ISO dates or date-times (text) as UTC seconds; missing or unreadable: NaN."""
    arr = np.array([v if isinstance(v, str) else "NaT" for v in values] if values else [], dtype=object)
    out = np.full(len(arr), np.nan)
    if len(arr):
        ok = arr != "NaT"
        try:
            secs = arr[ok].astype("datetime64[s]").astype(np.int64)
        except ValueError:  # some text that is no date: fall back per value
            secs = np.array([_one_second(v) for v in arr[ok]], dtype=np.float64)
        out[ok] = secs
    return out


def _one_second(v: str) -> float:
    try:
        return float(np.datetime64(v, "s").astype(np.int64))
    except ValueError:
        return np.nan


def _codes(values: tuple[Any, ...], *, known: tuple[str, ...] | None = None,
           fold: bool = False) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text values as codes into their distinct values (-1: no data); `known` fixes the values (others: -1)."""
    arr = np.array(values, dtype=object) if values else np.zeros(0, dtype=object)
    missing = np.equal(arr, None)
    text = np.where(missing, "", arr).astype(str)
    if fold:
        text = np.char.lower(text)
    if known is None:
        distinct, codes = np.unique(text, return_inverse=True)
        keep = distinct != ""
        remap = np.where(keep, np.cumsum(keep) - 1, -1)
        return np.where(missing, -1, remap[codes]).astype(np.int32), tuple(str(v) for v in distinct[keep])
    table = {v: i for i, v in enumerate(known)}
    distinct, codes = np.unique(text, return_inverse=True)
    remap = np.array([table.get(str(v), -1) for v in distinct], dtype=np.int32)
    return np.where(missing, -1, remap[codes]).astype(np.int32), known


def _zones(values: tuple[Any, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Time zone names as codes; a name zoneinfo does not know counts as unknown (-1: the journey's zone)."""
    codes, names = _codes(values)
    valid = []
    for name in names:
        try:
            zoneinfo.ZoneInfo(name)
            valid.append(True)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            valid.append(False)
    ok = np.array(valid, dtype=bool)
    remap = np.where(ok, np.cumsum(ok) - 1, -1).astype(np.int32)
    kept = tuple(n for n, v in zip(names, valid) if v)
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(remap) else -1, -1)
    return out.astype(np.int16), kept


def _segment_names(plan: Plan, behaviour: BehaviourModel | None) -> list[str]:
    a = plan.audience
    by_behaviour = [m.segment for m in behaviour.multipliers if m.segment] if behaviour is not None else []
    return list(dict.fromkeys([*a.segments, *a.exclude, *([a.suppress] if a.suppress else []),
                               *plan.segments_used(), *by_behaviour]))


def population_from_project(pf: ProjectFile, journey: Journey, *, segment: str | None = None,
                            as_of: date | datetime | None = None, plan: Plan | None = None,
                            behaviour: BehaviourModel | None = None) -> Population:
    """The project's contacts who would enter `journey` (or the members of `segment`) as a Population.

    `as_of` is the moment segments are evaluated (default: the journey's start). `plan` (default: compiled
    from the journey) gives the start and the segments and attributes the journey uses; `behaviour` adds the
    attributes its multipliers use. A segment of accounts, or one the project does not have, is an
    AudienceError naming it.
    """
    with pf.connection() as conn:
        return population_from_connection(conn, journey, pf.project.segments,
                                          pf.project.settings.custom_attributes or {}, segment=segment,
                                          as_of=as_of, plan=plan, behaviour=behaviour)


def population_from_connection(conn: Connection, journey: Journey, segments: Mapping[str, Segment],
                               custom: Mapping[str, str], *, segment: str | None = None,
                               as_of: date | datetime | None = None, plan: Plan | None = None,
                               behaviour: BehaviourModel | None = None) -> Population:
    """`population_from_project` reading through `conn` with the project's `segments` and custom attributes.

    For a worker thread: it opens its own read-only connection to the project file and passes a snapshot of the
    segments and settings taken on the UI thread, so neither the editor's connection nor its live model is used.
    """
    plan = plan if plan is not None else compile_plan(journey)
    moment = _moment(as_of, plan)
    custom = dict(custom)

    def seg(name: str) -> ColumnElement[bool]:
        if name not in segments:
            names = ", ".join(sorted(segments)) or "none"
            raise AudienceError(f"no segment named '{name}' in the project (segments: {names})")
        return segment_condition(segments[name], custom, moment)

    if segment is None:
        who = audience_condition(journey, segments, custom, moment)
    else:
        who = seg(segment)

    extra = {n: e for n in _attributes_used(plan, behaviour) if (e := attribute_expression(n, custom)) is not None}
    cols = [_c.c.id, _c.c.account_id, _c.c.time_zone, _c.c.consent_level, _c.c.engagement, _c.c.loyalty_tier,
            *(e.label(f"a{i}") for i, (e, _) in enumerate(extra.values()))]
    q = select(*cols).select_from(_c.outerjoin(_a, _c.c.account_id == _a.c.id)).where(who).order_by(_c.c.id)
    rows = conn.execute(q).all()
    columns: list[tuple[Any, ...]] = list(zip(*rows)) if rows else [() for _ in cols]
    del rows
    ids = np.array(columns[0], dtype=np.int64)
    member_ids: dict[str, np.ndarray] = {}
    for name in _segment_names(plan, behaviour):
        if segment is not None and name in plan.audience.segments:
            continue  # the given segment stands for the audience: all its members are in it
        found = conn.execute(select(_c.c.id).where(and_(who, seg(name))).order_by(_c.c.id)).scalars()
        member_ids[name] = np.fromiter(found, dtype=np.int64)

    n = len(ids)
    account = _float_column(columns[1])
    account_id = np.where(np.isnan(account), -1, account).astype(np.int64)
    tz, zones = _zones(columns[2])
    consent = np.maximum(_codes(columns[3], known=CONSENT_LEVELS, fold=True)[0], 0).astype(np.int8)
    engagement = np.clip(np.nan_to_num(_float_column(columns[4]), nan=AVERAGE_ENGAGEMENT), 0.0, 1.0)
    loyalty = np.maximum(_codes(columns[5], known=LOYALTY_TIERS, fold=True)[0], 0).astype(np.int8)

    numeric: dict[str, np.ndarray] = {}
    categories: dict[str, CategoryColumn] = {}
    for i, (name, (_, kind)) in enumerate(extra.items()):
        values = columns[6 + i]
        if kind == "number":
            numeric[name] = _float_column(tuple(v if isinstance(v, (int, float)) else None for v in values))
        elif kind in ("date", "datetime"):
            numeric[name] = _seconds_column(values)
        else:
            codes, distinct = _codes(tuple(None if v is None else str(v) for v in values))
            categories[name] = CategoryColumn(codes, distinct)

    before = plan.start - 1
    memberships: dict[str, Membership] = {}
    for name in _segment_names(plan, behaviour):
        if name in member_ids:
            inside = np.isin(ids, member_ids[name], assume_unique=True)
        else:
            inside = np.ones(n, dtype=bool)
        memberships[name] = Membership(np.where(inside, before, NEVER).astype(np.int64))

    spec = {"kind": "project" if segment is None else "segment", "size": n, "seed": None, "segment": segment,
            "as_of": moment.isoformat(timespec="seconds"), "journey": journey.id}
    return Population(ids, account_id, tz, zones, consent, engagement, loyalty, memberships, numeric, categories,
                      spec)


__all__ = ["population_from_connection", "population_from_project"]
