"""The vectorised segment evaluator against the project's SQL: random queries (blocks of contacts, accounts and
interactions; AND / OR groups; union / exclude / intersect; date-relative rows) agree on every contact, at
random moments, on a generated base with awkward data added (case variants, empty and missing texts,
non-ASCII letters, custom attributes of every type, contacts without accounts or history)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from app.audience.base_store import read_base
from app.audience.compile import query_condition
from app.audience.evaluate import Evaluator
from app.audience.moment import members_mask
from app.audience.query import validate_query
from app.audience.population import generate
from app.audience.timesets import NEVER
from app.model.attributes import CONSENT_LEVELS, INTERACTION_KINDS, LOYALTY_TIERS
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t

AS_OF = date(2026, 6, 1)
CUSTOM = {"shoe_size": "number", "vip": "boolean", "renewal": "date", "seen_at": "datetime", "nickname": "text",
          "tags": "list"}
TEXTS = ("Paris", "paris", "PARIS", "Émile", "émile", "", "O'Brien", "50%_off", "a\\b", "Zoë", "zoë", "New York")
MOMENTS = (datetime(2026, 6, 1), datetime(2026, 6, 1, 13, 30), datetime(2026, 5, 2, 23, 59, 59),
           datetime(2026, 7, 15, 8), datetime(2025, 12, 31))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectFile]:
    pf = ProjectFile.create(tmp_path_factory.mktemp("eval") / "base.jstudio")
    generate(pf, 600, 5, ("en_US", "fr_FR"), as_of=AS_OF)
    pf.project.update_settings(custom_attributes=dict(CUSTOM))
    rng = np.random.default_rng(1)
    c = t.contacts
    with pf.connection(write=True) as conn:
        ids = list(conn.execute(select(c.c.id)).scalars())
        for i in ids:
            custom: dict[str, Any] = {}
            if rng.random() < 0.7:
                custom["shoe_size"] = int(rng.integers(35, 47)) if rng.random() < 0.5 else float(rng.random() * 10)
            if rng.random() < 0.6:
                custom["vip"] = bool(rng.random() < 0.3)
            if rng.random() < 0.6:
                custom["renewal"] = (AS_OF + timedelta(days=int(rng.integers(-90, 90)))).isoformat()
            if rng.random() < 0.6:
                moment = datetime(2026, 6, 1) + timedelta(seconds=int(rng.integers(-80 * 86400, 40 * 86400)))
                custom["seen_at"] = moment.isoformat(timespec="seconds")
            if rng.random() < 0.6:
                custom["nickname"] = str(rng.choice(TEXTS))
            if rng.random() < 0.6:
                custom["tags"] = [str(x) for x in rng.choice(["gold", "Gold", "beta", "x"], int(rng.integers(0, 3)))]
            values: dict[str, Any] = {"custom": json.dumps(custom) if custom else None}
            if rng.random() < 0.15:
                values["city"] = str(rng.choice(TEXTS))
            if rng.random() < 0.05:
                values["city"] = None
            if rng.random() < 0.05:
                values["account_id"] = None
            if rng.random() < 0.05:
                values["last_purchase_date"] = None
            conn.execute(update(c).where(c.c.id == i).values(**values))
        conn.execute(update(t.accounts).where(t.accounts.c.id % 7 == 0).values(industry=None))
        conn.execute(text("UPDATE accounts SET name = upper(name) WHERE id % 5 = 0"))
    yield pf
    pf.close()


# --- random queries ----------------------------------------------------------------------------------------------

def _day(draw: Any) -> str:
    return (AS_OF + timedelta(days=draw(st.integers(-400, 120)))).isoformat()


def _moment(draw: Any) -> str:
    m = datetime(2026, 6, 1) + timedelta(seconds=draw(st.integers(-400 * 86400, 60 * 86400)))
    return draw(st.sampled_from((m.isoformat(timespec="seconds"), m.date().isoformat())))


def _value(draw: Any, kind: str, op: str, choices: tuple[str, ...] = ()) -> Any:
    if op in ("contains_data", "does_not_contain_data"):
        return None
    if op in ("in_last_days", "not_in_last_days"):
        return draw(st.integers(0, 400))
    if kind == "number":
        if op == "between":
            a = draw(st.floats(-10, 3000, allow_nan=False))
            return [a, a + draw(st.floats(0, 2000, allow_nan=False))]
        return draw(st.sampled_from((0, 1, 36, 40.5, 100, 250, 1000)))
    if kind == "date":
        if op == "between":
            a = AS_OF + timedelta(days=draw(st.integers(-400, 60)))
            return [a.isoformat(), (a + timedelta(days=draw(st.integers(0, 200)))).isoformat()]
        return _day(draw)
    if kind == "datetime":
        if op == "between":
            a = datetime(2026, 6, 1) + timedelta(seconds=draw(st.integers(-400 * 86400, 30 * 86400)))
            b = a + timedelta(seconds=draw(st.integers(0, 200 * 86400)))
            return [a.isoformat(timespec="seconds"), draw(st.sampled_from((b.isoformat(timespec="seconds"),
                                                                           b.date().isoformat())))]
        return _moment(draw)
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "choice":
        if op == "in":
            return draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3))
        return draw(st.sampled_from(choices))
    if kind == "list":
        return draw(st.sampled_from(("gold", "Gold", "beta", "Newsletter", "offers", "Events")))
    words = TEXTS[:5] + TEXTS[6:] + ("an", "E", "united states", "FRANCE", "Europe/Paris", "fr-FR", "ltd", "@example")
    if op == "in":
        return draw(st.lists(st.sampled_from(words), min_size=1, max_size=3))
    return draw(st.sampled_from(words))


OPS = {"text": ("equals", "not_equals", "contains", "does_not_contain", "begins_with", "ends_with", "in",
                "contains_data", "does_not_contain_data"),
       "number": ("equals", "not_equals", "less_than", "at_most", "greater_than", "at_least", "between",
                  "contains_data", "does_not_contain_data"),
       "date": ("equals", "not_equals", "less_than", "at_most", "greater_than", "at_least", "between",
                "in_last_days", "not_in_last_days", "contains_data", "does_not_contain_data"),
       "boolean": ("equals", "not_equals", "contains_data", "does_not_contain_data"),
       "choice": ("equals", "not_equals", "in", "contains_data", "does_not_contain_data"),
       "list": ("contains", "does_not_contain", "contains_data", "does_not_contain_data")}
OPS["datetime"] = OPS["date"]
CONTACT_ATTRS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("city", "text", ()), ("country", "text", ()), ("language", "text", ()), ("time_zone", "text", ()),
    ("email", "text", ()), ("mobile_phone", "text", ()), ("first_name", "text", ()),
    ("lifetime_value", "number", ()), ("last_purchase_date", "date", ()), ("birth_date", "date", ()),
    ("created_on", "datetime", ()), ("consent_level", "choice", CONSENT_LEVELS),
    ("loyalty_tier", "choice", LOYALTY_TIERS), ("subscription_lists", "list", ()), ("account", "text", ()),
    ("account.industry", "text", ()), ("account.size", "number", ()), ("account.city", "text", ()),
    *((name, kind, ()) for name, kind in CUSTOM.items()))
ACCOUNT_ATTRS = (("name", "text", ()), ("industry", "text", ()), ("size", "number", ()), ("city", "text", ()))
INTERACTION_ATTRS = (("kind", "choice", INTERACTION_KINDS), ("at", "datetime", ()), ("value", "number", ()))


@st.composite
def rows(draw: Any, attrs: tuple[tuple[str, str, tuple[str, ...]], ...]) -> dict[str, Any]:
    name, kind, choices = draw(st.sampled_from(attrs))
    op = draw(st.sampled_from(OPS[kind]))
    row: dict[str, Any] = {"attribute": name, "op": op}
    value = _value(draw, kind, op, choices)
    if value is not None:
        row["value"] = value
    return row


def groups(attrs: tuple[tuple[str, str, tuple[str, ...]], ...], depth: int = 2) -> st.SearchStrategy[Any]:
    item = rows(attrs) if depth == 0 else st.one_of(rows(attrs), groups(attrs, depth - 1))
    return st.builds(lambda key, items: {key: items}, st.sampled_from(("all", "any")),
                     st.lists(item, min_size=1, max_size=3))


@st.composite
def blocks(draw: Any) -> dict[str, Any]:
    root = draw(st.sampled_from(("contacts", "account", "interactions")))
    attrs = {"contacts": CONTACT_ATTRS, "account": ACCOUNT_ATTRS, "interactions": INTERACTION_ATTRS}[root]
    block: dict[str, Any] = {"root": root, "op": draw(st.sampled_from(("union", "union", "exclude", "intersect")))}
    if draw(st.integers(0, 9)):
        block["where"] = draw(groups(attrs))
    return block


queries = st.builds(lambda bs: {"blocks": bs}, st.lists(blocks(), min_size=1, max_size=3))


def _sql_members(pf: ProjectFile, query: dict[str, Any], moment: datetime) -> set[int]:
    cond = query_condition(query, CUSTOM, moment)
    with pf.connection() as conn:
        return set(conn.execute(select(t.contacts.c.id).where(cond)).scalars())


_BASES: dict[str, Any] = {}


def _base(pf: ProjectFile) -> Any:
    """The project's base (read once: the random-query tests do not change the contacts)."""
    key = str(pf.path)
    if key not in _BASES:
        with pf.connection() as conn:
            _BASES[key] = read_base(conn, columns=[a for a, _, _ in CONTACT_ATTRS], custom=CUSTOM,
                                    custom_names=CUSTOM, interactions=True, lists=True)
    return _BASES[key]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(query=queries, moment=st.sampled_from(MOMENTS))
def test_random_queries_agree_with_sql(project: ProjectFile, query: dict[str, Any], moment: datetime) -> None:
    assume(not validate_query(query, CUSTOM))  # (an empty range, say: both refuse it the same way)
    base = _base(project)
    t0 = int((moment - datetime(1970, 1, 1)).total_seconds())
    found = Evaluator(base, CUSTOM, w0=t0).query(query).at(t0)
    mine = set(base.ids[found].tolist())
    sql = _sql_members(project, query, moment)
    assert mine == sql
    # at one moment, on the columns read from the file and cached on its connection (app.audience.moment)
    with project.connection() as conn:
        ids, mask = members_mask(conn, Segment("random", query=query), moment, CUSTOM)
    assert set(ids[mask].tolist()) == sql


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(query=queries)
def test_membership_over_time_agrees_with_sql_at_each_moment(project: ProjectFile, query: dict[str, Any]) -> None:
    """Evaluated once from a window start, the membership at every later moment is what SQL says then."""
    assume(not validate_query(query, CUSTOM))
    base = _base(project)
    start = datetime(2026, 5, 20)
    w0 = int((start - datetime(1970, 1, 1)).total_seconds())
    timeline = Evaluator(base, CUSTOM, w0=w0).query(query)
    for moment in (start, start + timedelta(days=3, hours=5), start + timedelta(days=45, seconds=17)):
        t0 = int((moment - datetime(1970, 1, 1)).total_seconds())
        assert set(base.ids[timeline.at(t0)].tolist()) == _sql_members(project, query, moment), moment


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(query=queries, moment=st.sampled_from(MOMENTS))
def test_segments_of_accounts_agree_with_sql(project: ProjectFile, query: dict[str, Any], moment: datetime) -> None:
    """A segment of accounts holds the accounts of the contacts its query finds; its members are all their
    contacts (the audience of a journey that targets accounts)."""
    from app.audience.members import segment_condition
    assume(not validate_query(query, CUSTOM))
    base = _base(project)
    seg = Segment("Key accounts", entity="accounts", query=query)
    t0 = int((moment - datetime(1970, 1, 1)).total_seconds())
    mine = set(base.ids[Evaluator(base, CUSTOM, w0=t0).segment(seg).at(t0)].tolist())
    with project.connection() as conn:
        ids, mask = members_mask(conn, seg, moment, CUSTOM)
        assert set(ids[mask].tolist()) == mine
        sql = set(conn.execute(select(t.contacts.c.id).where(segment_condition(seg, CUSTOM, moment))).scalars())
        found = set(conn.execute(select(t.contacts.c.id).where(query_condition(query, CUSTOM, moment))).scalars())
        accounts = {a for i, a in conn.execute(select(t.contacts.c.id, t.contacts.c.account_id)) if i in found}
        whole = {i for i, a in conn.execute(select(t.contacts.c.id, t.contacts.c.account_id))
                 if a is not None and a in accounts}
    assert mine == sql == whole


def test_segments_of_every_kind_agree(project: ProjectFile) -> None:
    from app.audience.members import count
    with project.connection(write=True) as conn:
        conn.execute(t.segment_members.insert(), [{"segment": "Hand picked", "contact_id": i} for i in (3, 5, 8)])
    base_segments = [Segment("Hand picked", kind="static"), Segment("Newsletter", kind="subscription"),
                     Segment("Offers list", kind="subscription", query={"list": "OFFERS"})]
    with project.connection() as conn:
        base = read_base(conn, lists=True, static=["Hand picked"])
    moment = datetime(2026, 6, 1)
    t0 = int((moment - datetime(1970, 1, 1)).total_seconds())
    for seg in base_segments:
        mine = int(Evaluator(base, CUSTOM, w0=t0).segment(seg).count_at(t0))
        assert mine == count(project, seg, moment) == count(project, seg, moment, columnar=False), seg.name


def test_a_simulated_purchase_resets_recency() -> None:
    """'No purchase in 60 days' ends at a purchase during the simulation and starts again 60 days later."""
    from app.audience.base import ContactBase, Interactions, Items
    day = 86_400
    w0 = 20_000 * day
    base = ContactBase(np.array([1, 2]), {"last_purchase_date": np.array([20_000 - 70.0, 20_000 - 30.0])},
                       np.array([-1, -1]), np.zeros(0, np.int64), {}, Interactions.none(),
                       Items.of(2, np.zeros(0, np.int64), []))
    q = {"blocks": [{"where": {"all": [{"attribute": "last_purchase_date", "op": "not_in_last_days",
                                          "value": 60}]}}]}
    plain = Evaluator(base, w0=w0).query(q)
    assert plain.first_at_or_after(np.array([0, 1]), w0).tolist() == [w0, w0 + 31 * day]
    bought = Interactions(np.array([0]), np.array([0], np.int8), np.array([w0 + 10 * day + 3600]), np.array([25.0]))
    timeline = Evaluator(base, w0=w0, simulated=bought).query(q)
    rows = np.array([0])
    assert timeline.member_at(rows, w0 + 10 * day).tolist() == [True]
    assert timeline.first_leave_after(rows, w0).tolist() == [w0 + 10 * day + 3600]
    assert timeline.first_at_or_after(rows, w0 + 11 * day).tolist() == [w0 + 71 * day]
    # an interactions-based definition sees the simulated purchase from its moment
    q2 = {"blocks": [{"root": "interactions", "where": {"all": [
        {"attribute": "kind", "op": "equals", "value": "purchase"}, {"attribute": "at", "op": "in_last_days",
                                                                     "value": 7}]}}]}
    recent = Evaluator(base, w0=w0, simulated=bought).query(q2)
    assert recent.member_at(rows, w0 + 10 * day + 3599).tolist() == [False]
    assert recent.member_at(rows, w0 + 10 * day + 3600).tolist() == [True]
    assert recent.first_leave_after(rows, w0).tolist() == [w0 + 17 * day + 3601]
    assert recent.first_at_or_after(np.array([1]), w0).tolist() == [NEVER]
