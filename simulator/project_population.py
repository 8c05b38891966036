"""The project's own contacts as a simulated `Population` (pure: SQL and NumPy, no Qt).

`population_from_project(pf, journey)` reads the contacts who may enter the journey, with what its segments,
conditions and behaviour multipliers need (columns, interactions, subscription lists, static members), into a
customer base (app.audience.base). The journey's segments are then evaluated over the simulated period from
their definitions (simulator.world), as the live runner evaluates them as time passes: in an ongoing or
repeating journey, contacts join when they come to qualify (say, 60 days after their last purchase), and their
own simulated events feed back.

Who is read: for a one-time journey, the audience at the journey's start (nobody else can enter); for an
ongoing or repeating one, every contact with enough consent. `segment=NAME` reads the members of that segment
at `as_of` (default: the journey's start) instead, who then all count as the journey's audience (its exclusion,
suppression and minimum consent still apply).

`population_from_connection` does the same through a given connection, with the project's segments and
custom attributes passed in (a worker thread's own read-only connection and a snapshot of the project). Each
contact keeps its id, so its random draws are the same as in any other population it appears in. The spec
(`kind` "project" or "segment", size, segment, as_of) describes the population; it cannot rebuild it
(contacts change), so a saved run keeps its data (RunRecord).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Connection

from app.audience.base_store import read_base
from app.audience.members import audience_condition, segment_condition
from app.audience.timesets import TimeSet
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, STANDARD_ATTRIBUTES
from app.model.journey import Journey
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from simulator.behaviour import BehaviourModel
from app.semantics.plan import Kind, Plan, compile_plan
from simulator.population import Population, plan_segments, population_from_base

_c = t.contacts
# always read (the population's core, and what a purchase in the run is worth)
CORE = ("time_zone", "consent_level", "loyalty_tier", "engagement", "lifetime_value", "last_purchase_date",
        "country", "language")


def _moment(as_of: date | datetime | None, plan: Plan) -> datetime:
    if as_of is None:
        return datetime.fromtimestamp(plan.start, timezone.utc)
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=timezone.utc)


def _attributes(query: Any) -> set[str]:
    """Every attribute a query's rows name (contacts, account and interaction rows alike)."""
    out: set[str] = set()
    if isinstance(query, Mapping):
        if isinstance(query.get("attribute"), str):
            out.add(query["attribute"])
        for v in query.values():
            out |= _attributes(v)
    elif isinstance(query, list):
        for v in query:
            out |= _attributes(v)
    return out


def _roots(query: Any) -> set[str]:
    if isinstance(query, Mapping):
        found = {str(query["root"])} if "root" in query else set()
        for v in query.values():
            found |= _roots(v)
        return found
    if isinstance(query, list):
        return set().union(*(_roots(v) for v in query)) if query else set()
    return set()


def population_from_project(pf: ProjectFile, journey: Journey, *, segment: str | None = None,
                            as_of: date | datetime | None = None, plan: Plan | None = None,
                            behaviour: BehaviourModel | None = None) -> Population:
    """The project's contacts who may enter `journey` (or the members of `segment`) as a Population.

    `as_of` is when `segment`'s members are read (default: the journey's start). `plan` (default: compiled from
    the journey) gives the start and the segments and attributes the journey uses; `behaviour` adds the
    attributes its multipliers use. A segment the project does not have is an AudienceError naming it; a
    segment of accounts holds the accounts of the contacts its definition finds (all their contacts).
    """
    with pf.connection() as conn:
        return population_from_connection(conn, journey, pf.project.segments,
                                          pf.project.settings.custom_attributes or {}, segment=segment,
                                          as_of=as_of, plan=plan, behaviour=behaviour)


def population_from_connection(conn: Connection, journey: Journey, segments: Mapping[str, Segment],
                               custom: Mapping[str, str], *, segment: str | None = None,
                               as_of: date | datetime | None = None, plan: Plan | None = None,
                               behaviour: BehaviourModel | None = None) -> Population:
    """`population_from_project` reading through `conn` with the project's `segments` and custom attributes."""
    plan = plan if plan is not None else compile_plan(journey)
    start = datetime.fromtimestamp(plan.start, timezone.utc)
    custom = dict(custom)

    def definition(name: str) -> Segment:
        if name not in segments:
            names = ", ".join(sorted(segments)) or "none"
            raise AudienceError(f"no segment named '{name}' in the project (segments: {names})")
        return segments[name]

    names = list(dict.fromkeys([*plan_segments(plan),
                                *(m.segment for m in (behaviour.multipliers if behaviour else ()) if m.segment)]))
    if segment is not None:
        moment = _moment(as_of, plan)
        who = segment_condition(definition(segment), custom, moment)
        stands_for = set(plan.audience.segments)  # the given segment stands for the audience
    else:
        if as_of is not None:
            raise AudienceError("a moment to read members at is for a segment's members; the journey's audience "
                                "is evaluated over the simulated period from its start, as the live runner does")
        moment = start
        stands_for = set()
        if plan.frequency == "one-time" and plan.audience.segments:
            who = audience_condition(journey, segments, custom, start)  # only they can enter
        else:
            who = _c.c.consent_level.in_(CONSENT_LEVELS[plan.audience.min_consent:]) \
                if plan.audience.min_consent else _c.c.id.is_not(None)
            for name in plan.audience.exclude:  # checked here so that a missing one is named
                definition(name)
    defs = {name: definition(name) for name in names if name not in stands_for}

    queries = [d.query for d in defs.values() if d.kind == "dynamic"]
    attributes = set(CORE)
    for q in queries:
        attributes |= _attributes(q)
    attributes |= {s.condition.attribute for s in plan.steps if s.kind == Kind.IF_CONDITION and s.condition}
    if behaviour is not None:
        attributes |= {m.attribute for m in behaviour.multipliers if m.attribute and m.segment is None}
    # interactions: for interaction blocks, and for what a purchase in the run is worth when purchases feed back
    interactions = any("interactions" in _roots(q) for q in queries) or bool(
        attributes & {"last_purchase_date", "lifetime_value"} & set().union(*(_attributes(q) for q in queries)))
    lists = any(d.kind == "subscription" for d in defs.values()) or "subscription_lists" in attributes
    static = [d.name for d in defs.values() if d.kind == "static"]
    columns = [a for a in attributes if a in STANDARD_ATTRIBUTES or a in CORE]
    custom_names = [a for a in attributes if a in custom and a not in STANDARD_ATTRIBUTES]
    base = read_base(conn, columns=columns, custom=custom, custom_names=custom_names,
                     interactions=interactions, lists=lists, static=static, where=who)

    given = {name: TimeSet.static(_all(base.n), plan.start) for name in stands_for}
    spec = {"kind": "project" if segment is None else "segment", "size": base.n, "seed": None, "segment": segment,
            "as_of": moment.isoformat(timespec="seconds"), "journey": journey.id}
    return population_from_base(base, definitions=defs, custom=custom, w0=plan.start, spec=spec, segments=given)


def _all(n: int) -> Any:
    import numpy as np
    return np.ones(n, dtype=bool)


__all__ = ["population_from_connection", "population_from_project"]
