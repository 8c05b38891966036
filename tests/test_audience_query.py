"""Segment queries against a population whose members are known by construction: every operator, AND / OR
groups, Union / Exclude / Intersect of blocks, date-relative moments, injection strings, static and
subscription segments, a journey's audience, and the validator behind the check for errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite

from app.audience import members as m
from app.audience.compile import like_escape, moment_of
from app.audience.query import describe_path, validate_query, validate_segment
from app.codec.yamlio import read_journey_text, write_journey_text
from app.errors import AudienceError
from app.model.attributes import OPERATORS, STANDARD_ATTRIBUTES
from app.model.journey import Audience, Journey, Step
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from app.validation.checks import check_journey
from tests.audience_helpers import ALL, AT, CUSTOM, block, known_project, query, row


@pytest.fixture(scope="module")
def pf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectFile]:
    f = known_project(tmp_path_factory.mktemp("audience") / "known.jstudio")
    yield f
    f.close()


def members(pf: ProjectFile, q: dict[str, Any], at: datetime = AT) -> set[int]:
    return set(m.member_ids(pf, Segment("q", query=q), at))


def one_row(pf: ProjectFile, attribute: str, op: str, *value: Any, at: datetime = AT) -> set[int]:
    return members(pf, query(block(row(attribute, op, *value))), at)


# --- the seed 004 example ------------------------------------------------------------------------------------

def test_contacts_from_atlantis(pf: ProjectFile) -> None:
    """Seed 004: a block on contacts, one row "Address 1: City" equals Atlantis, finds the fictional contacts."""
    assert STANDARD_ATTRIBUTES["city"].label == "Address 1: City"
    segment = Segment("Contacts from Atlantis", query=query(block(row("city", "equals", "Atlantis"))))
    assert validate_segment(segment, CUSTOM) == []
    assert m.member_ids(pf, segment) == [1, 2, 3]  # "atlantis" too: text compares without regard to case
    assert m.count(pf, segment) == 3
    everyone = Segment("Everyone", query=query(block()))  # a block without rows finds every contact
    assert m.count(pf, everyone) == len(ALL)


# --- every operator, by type ---------------------------------------------------------------------------------

CASES: list[tuple[str, str, tuple[Any, ...], set[int]]] = [
    # text
    ("city", "equals", ("Atlantis",), {1, 2, 3}),
    ("city", "equals", ("ATLANTIS",), {1, 2, 3}),
    ("city", "not_equals", ("Atlantis",), {4, 5, 7, 8}),
    ("city", "contains", ("atlantis",), {1, 2, 3, 5}),
    ("city", "does_not_contain", ("Atlantis",), {4, 7, 8}),
    ("city", "begins_with", ("New",), {5}),
    ("city", "ends_with", ("field",), {4}),
    ("city", "in", (["Springfield", "new atlantis"],), {4, 5}),
    ("city", "contains_data", (), ALL - {6}),
    ("city", "does_not_contain_data", (), {6}),
    ("email", "ends_with", ("@example.com",), {1, 4, 7, 8}),
    ("full_name", "equals", ("Ann Lee",), set()),  # full_name was not filled in for these contacts
    # numbers
    ("lifetime_value", "equals", (400,), {2}),
    ("lifetime_value", "not_equals", (400,), {1, 3, 4, 5, 7, 8}),
    ("lifetime_value", "less_than", (99.5,), {3, 7}),
    ("lifetime_value", "at_most", (99.5,), {3, 5, 7}),
    ("lifetime_value", "greater_than", (800,), {1, 4}),
    ("lifetime_value", "at_least", (800,), {1, 4, 8}),
    ("lifetime_value", "between", ([99.5, 800],), {2, 5, 8}),
    ("lifetime_value", "contains_data", (), ALL - {6}),
    ("lifetime_value", "does_not_contain_data", (), {6}),
    # dates
    ("last_purchase_date", "equals", ("2026-05-31",), {4}),
    ("last_purchase_date", "not_equals", ("2026-05-31",), {1, 2, 5, 7, 8}),
    ("last_purchase_date", "less_than", ("2026-04-01",), {2, 5}),
    ("last_purchase_date", "at_most", ("2026-04-01",), {2, 5, 7}),
    ("last_purchase_date", "greater_than", ("2026-05-20",), {4, 8}),
    ("last_purchase_date", "at_least", ("2026-05-20",), {1, 4, 8}),
    ("last_purchase_date", "between", (["2026-03-01", "2026-05-20"],), {1, 2, 7}),
    ("last_purchase_date", "in_last_days", (0,), {8}),
    ("last_purchase_date", "in_last_days", (7,), {4, 8}),
    ("last_purchase_date", "in_last_days", (12,), {1, 4, 8}),
    ("last_purchase_date", "not_in_last_days", (60,), {2, 5, 7}),
    ("last_purchase_date", "contains_data", (), {1, 2, 4, 5, 7, 8}),
    ("last_purchase_date", "does_not_contain_data", (), {3, 6}),
    ("birth_date", "less_than", ("1980-01-01",), {4}),
    # date-times: a date value stands for its whole day; a date-time for itself
    ("created_on", "equals", ("2025-06-01",), {2}),
    ("created_on", "equals", ("2026-06-01T12:00",), {8}),
    ("created_on", "not_equals", ("2025-06-01",), {1, 3, 4, 5, 7, 8}),
    ("created_on", "less_than", ("2024-12-31",), {1, 4}),
    ("created_on", "at_most", ("2024-12-31",), {1, 4, 5}),
    ("created_on", "greater_than", ("2025-12-31",), {3, 7, 8}),
    ("created_on", "greater_than", ("2026-01-01T00:00:00",), {3, 8}),
    ("created_on", "at_least", ("2026-01-01",), {3, 7, 8}),
    ("created_on", "between", (["2024-12-31", "2025-06-01"],), {2, 5}),
    ("created_on", "in_last_days", (2,), {8}),
    ("created_on", "in_last_days", (3,), {3, 8}),
    ("created_on", "not_in_last_days", (365,), {1, 4, 5}),
    ("created_on", "does_not_contain_data", (), {6}),
    # option sets
    ("consent_level", "equals", ("marketing",), {1, 8}),
    ("consent_level", "not_equals", ("marketing",), {2, 3, 4, 5, 7}),
    ("consent_level", "in", (["profiling", "subscriptions"],), {2, 4}),
    ("consent_level", "does_not_contain_data", (), {6}),
    ("loyalty_tier", "in", (["gold", "platinum"],), {1, 4, 8}),
    # subscription lists (a contact on no list has an empty list: it does not contain any)
    ("subscription_lists", "contains", ("Newsletter",), {1, 2}),
    ("subscription_lists", "contains", ("newsletter",), {1, 2}),
    ("subscription_lists", "does_not_contain", ("Newsletter",), ALL - {1, 2}),
    ("subscription_lists", "contains_data", (), {1, 2, 4, 8}),
    ("subscription_lists", "does_not_contain_data", (), {3, 5, 6, 7}),
    # the account a contact works for
    ("account", "equals", ("acme corp",), {1, 4}),
    ("account", "contains_data", (), {1, 2, 4, 5, 8}),
    ("account", "does_not_contain_data", (), {3, 6, 7}),
    ("account.industry", "equals", ("Software",), {1, 4, 5}),
    ("account.size", "greater_than", (100,), {1, 4}),
    ("account.city", "does_not_contain_data", (), {3, 5, 6, 7}),
    # custom attributes of each type
    ("vip", "equals", (True,), {1}),
    ("vip", "equals", (False,), {2}),
    ("vip", "not_equals", (True,), {2}),
    ("vip", "contains_data", (), {1, 2}),
    ("vip", "does_not_contain_data", (), ALL - {1, 2}),
    ("shoe_size", "greater_than", (40,), {2}),
    ("shoe_size", "between", ([30, 40],), {1}),
    ("signup", "less_than", ("2025-03-01",), {1}),
    ("signup", "in_last_days", (10,), set()),
    ("nickname", "equals", ("ANNIE",), {1}),
    ("nickname", "in", (["annie", "Bobby"],), {1, 2}),
    ("nickname", "begins_with", ("an",), {1}),
    ("tags", "contains", ("b",), {1, 4}),
    ("tags", "contains", ("a",), {1}),
    ("tags", "does_not_contain", ("a",), ALL - {1}),
    ("tags", "contains_data", (), {1, 4}),
    ("tags", "does_not_contain_data", (), ALL - {1, 4}),
    ("seen", "in_last_days", (7,), {1}),
    ("seen", "equals", ("2026-05-30",), {1}),
]


@pytest.mark.parametrize(("attribute", "op", "value", "expected"), CASES,
                         ids=[f"{a}-{o}-{v[0] if v else ''}" for a, o, v, _ in CASES])
def test_operator(pf: ProjectFile, attribute: str, op: str, value: tuple[Any, ...], expected: set[int]) -> None:
    q = query(block(row(attribute, op, *value)))
    assert validate_query(q, CUSTOM) == []
    assert members(pf, q) == expected


def test_every_operator_and_type_is_exercised() -> None:
    used = {(a, o) for a, o, _, _ in CASES}
    assert {o for _, o in used} == set(OPERATORS)
    types = {STANDARD_ATTRIBUTES[a].type if a in STANDARD_ATTRIBUTES else CUSTOM[a] for a, _ in used}
    assert types == {"text", "number", "date", "datetime", "boolean", "choice", "list"}


# --- related entities ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("blk", "expected"), [
    (block(row("industry", "equals", "Software"), row("size", "at_least", 100), root="account"), {1, 4}),
    (block(row("account.city", "equals", "Springfield"), root="account"), {2, 8}),
    (block(root="account"), {1, 2, 4, 5, 8}),
    (block(row("kind", "equals", "purchase"), row("at", "in_last_days", 30), root="interactions"), {1, 4, 8}),
    (block(row("kind", "equals", "purchase"), row("value", "greater_than", 300), root="interactions"), {2, 4}),
    (block(row("kind", "in", ["web_visit", "form_submitted"]), root="interactions"), {1, 4, 5}),
    # every condition holds for the same interaction: visits have no value
    (block(row("kind", "equals", "web_visit"), row("value", "greater_than", 0), root="interactions"), set()),
    (block(root="interactions"), {1, 2, 4, 5, 8}),
], ids=["account-and", "account-alias", "account-any", "purchase-30d", "purchase-value", "kinds", "same-row",
        "interactions-any"])
def test_blocks_reach_contacts_through_related_entities(pf: ProjectFile, blk: dict[str, Any],
                                                        expected: set[int]) -> None:
    assert validate_query(query(blk)) == []
    assert members(pf, query(blk)) == expected


def test_no_purchase_in_the_last_60_days(pf: ProjectFile) -> None:
    """Everyone, excluding contacts with a purchase in the last 60 days (those who never bought stay in)."""
    q = query(block(), block(row("kind", "equals", "purchase"), row("at", "in_last_days", 60), op="exclude",
                             root="interactions"))
    assert members(pf, q) == {2, 3, 5, 6, 7}


# --- AND / OR groups -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "expected"), [
    ({"all": [row("city", "equals", "Atlantis"),
              {"any": [row("loyalty_tier", "in", ["gold"]), row("lifetime_value", "at_least", 400)]}]}, {1, 2}),
    ({"any": [{"all": [row("country", "equals", "US"), row("loyalty_tier", "equals", "gold")]},
              {"all": [row("country", "equals", "GB")]}]}, {1, 8}),
    ({"any": [row("city", "equals", "Springfield"), row("subscription_lists", "contains", "Events")]}, {4, 8}),
    ({"all": [{"any": [{"all": [{"any": [row("city", "equals", "Atlantis")]}]}]}]}, {1, 2, 3}),
    ({"all": [row("city", "contains", "atlantis"), row("city", "does_not_contain", "new")]}, {1, 2, 3}),
], ids=["and-of-or", "or-of-and", "or", "deep", "and"])
def test_groups(pf: ProjectFile, where: dict[str, Any], expected: set[int]) -> None:
    q = {"blocks": [{"where": where}]}
    assert validate_query(q) == []
    assert members(pf, q) == expected


# --- Union / Exclude / Intersect -----------------------------------------------------------------------------

A = row("city", "contains", "atlantis")  # {1, 2, 3, 5}
B = row("consent_level", "in", ["marketing", "profiling"])  # {1, 4, 8}
C = row("kind", "equals", "purchase")  # interactions: {1, 2, 4, 8}


@pytest.mark.parametrize(("blocks", "expected"), [
    ([block(A), block(B, op="union")], {1, 2, 3, 4, 5, 8}),
    ([block(A), block(B)], {1, 2, 3, 4, 5, 8}),  # union is the default
    ([block(A), block(B, op="intersect")], {1}),
    ([block(A), block(B, op="exclude")], {2, 3, 5}),
    ([block(A, op="exclude"), block(B, op="union")], {1, 2, 3, 4, 5, 8}),  # the first block's op is ignored
    ([block(A), block(B, op="union"), block(C, op="exclude", root="interactions")], {3, 5}),
    ([block(A), block(C, op="exclude", root="interactions"), block(B, op="union")], {1, 3, 4, 5, 8}),
    ([block(A), block(C, op="intersect", root="interactions"), block(B, op="exclude")], {2}),
    # a contact whose city is unknown is not in "city is not Atlantis", so excluding that block keeps it
    ([block(), block(row("city", "not_equals", "Atlantis"), op="exclude")], {1, 2, 3, 6}),
], ids=["union", "default-union", "intersect", "exclude", "first-op-ignored", "union-then-exclude",
        "exclude-then-union", "intersect-then-exclude", "exclude-unknown"])
def test_blocks_combine_in_order(pf: ProjectFile, blocks: list[dict[str, Any]], expected: set[int]) -> None:
    assert validate_query(query(*blocks)) == []
    assert members(pf, query(*blocks)) == expected


# --- moments -------------------------------------------------------------------------------------------------

def test_date_relative_conditions_are_evaluated_at_the_given_moment(pf: ProjectFile) -> None:
    q = query(block(row("last_purchase_date", "in_last_days", 7)))
    assert members(pf, q, AT) == {4, 8}
    assert members(pf, q, datetime(2026, 5, 25)) == {1}  # later purchases are not "in the last 7 days" yet
    assert members(pf, q, datetime(2026, 5, 25, 14, tzinfo=timezone(timedelta(hours=5)))) == {1}
    recent = query(block(row("kind", "equals", "purchase"), row("at", "in_last_days", 1), root="interactions"))
    assert members(pf, recent, AT) == {4, 8}
    assert members(pf, recent, AT - timedelta(hours=1)) == {4}  # contact 8 buys at 12:00 that day
    day12 = datetime(2026, 5, 20) + timedelta(days=12)
    assert moment_of(day12.date()) == datetime(2026, 6, 1)
    assert m.count(pf, Segment("recent", query=q), day12.date()) == 2


def test_default_moment_is_now(pf: ProjectFile) -> None:
    now = moment_of(None)
    assert abs(now - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(seconds=5)
    far = query(block(row("created_on", "in_last_days", 100_000)))
    assert members(pf, far, now) == ALL - {6}


# --- injection strings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("attribute", "op", "value", "expected"), [
    ("city", "contains", "%", {7}),
    ("city", "contains", "_", {7}),
    ("city", "begins_with", "100%", {7}),
    ("city", "ends_with", "_City", {7}),
    ("city", "contains", "%_", set()),
    ("city", "contains", "\\", set()),
    ("city", "equals", "x'; DROP TABLE contacts; --", {8}),
    ("city", "contains", "'; DROP", {8}),
    ("city", "in", ["x'; DROP TABLE contacts; --", "' OR '1'='1"], {8}),
    ("city", "equals", "' OR '1'='1", set()),
    ("last_name", "contains", "'", {4}),
    ("email", "contains", "+", {4}),
    ("nickname", "equals", "'); DROP TABLE contacts; --", set()),
    ("tags", "contains", "\" OR 1=1 --", set()),
], ids=lambda v: str(v))
def test_injection_strings_match_literally_and_harm_nothing(pf: ProjectFile, attribute: str, op: str,
                                                            value: Any, expected: set[int]) -> None:
    assert members(pf, query(block(row(attribute, op, value)))) == expected
    with pf.connection() as conn:
        assert conn.execute(select(func.count()).select_from(t.contacts)).scalar_one() == len(ALL)
        tables = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    assert set(t.AUDIENCE_TABLES) <= tables


def test_values_are_bound_parameters_never_sql_text() -> None:
    q = query(block(row("city", "equals", "Atlantis"), row("nickname", "contains", "x'y"),
                    row("last_purchase_date", "in_last_days", 3)),
              block(row("kind", "equals", "purchase"), op="exclude", root="interactions"))
    sql = str(m.members_query(Segment("s", query=q), AT, CUSTOM).compile(dialect=sqlite.dialect()))
    for literal in ("Atlantis", "x'y", "%x%", "'purchase'", "2026-05-29", '$."nickname"'):
        assert literal not in sql
    assert sql.count("?") >= 5


def test_custom_attributes_named_like_columns_stay_custom(tmp_path: Path) -> None:
    q = query(block(row("engagement", "contains_data")))
    assert [p.code for p in validate_query(q)] == ["unknown-attribute"]  # the latent engagement is no attribute
    with known_project(tmp_path / "e.jstudio") as f:
        with f.connection(write=True) as conn:
            conn.execute(t.contacts.update().values(engagement=0.5))
        condition = m.segment_condition(Segment("e", query=q), {"engagement": "number"}, AT)
        with f.connection() as conn:
            assert m.count_where(conn, condition) == 0  # the custom attribute, which nobody has


def test_like_escape() -> None:
    assert like_escape("100%_\\x") == "100\\%\\_\\\\x"


# --- static and subscription segments ------------------------------------------------------------------------

def test_static_segment_members_are_added_and_removed(tmp_path: Path) -> None:
    with known_project(tmp_path / "s.jstudio") as f:
        f.project.put_segment(Segment("Do not contact", kind="static"))
        f.project.put_segment(Segment("Atlantis", query=query(block(A))))
        assert m.count(f, "Do not contact") == 0
        assert m.add_members(f, "Do not contact", [1, 3, 3]) == 2
        assert m.add_members(f, "Do not contact", [3, 5]) == 1
        assert m.member_ids(f, "Do not contact") == [1, 3, 5]
        assert m.remove_members(f, "Do not contact", [3, 99]) == 1
        with pytest.raises(AudienceError, match="some of the ids are no contact"):
            m.add_members(f, "Do not contact", [2, 999])
        assert m.member_ids(f, "Do not contact") == [1, 5]  # nothing of the failed addition stayed
        with pytest.raises(AudienceError, match="segment 'Atlantis' is dynamic; only static"):
            m.add_members(f, "Atlantis", [1])
        with pytest.raises(AudienceError, match="no segment named 'Nobody'"):
            m.count(f, "Nobody")


def test_subscription_segments_are_the_contacts_on_their_list(tmp_path: Path) -> None:
    with known_project(tmp_path / "s.jstudio") as f:
        assert m.member_ids(f, Segment("Newsletter", kind="subscription")) == [1, 2]
        offers = Segment("Special offers", kind="subscription", query={"list": "Offers"})
        assert m.member_ids(f, offers) == [2, 4]
        assert m.subscribe(f, "Offers", [1, 2]) == 1
        assert m.unsubscribe(f, "Offers", [4]) == 1
        assert m.member_ids(f, offers) == [1, 2]


def test_paging(pf: ProjectFile) -> None:
    everyone = Segment("Everyone", query=query(block()))
    assert m.member_ids(pf, everyone, offset=2, limit=3) == [3, 4, 5]
    assert m.member_ids(pf, everyone, offset=7) == [8]
    with pytest.raises(AudienceError, match="cannot be negative"):
        m.member_ids(pf, everyone, limit=-1)


def test_segments_that_cannot_be_evaluated_say_why(pf: ProjectFile) -> None:
    with pytest.raises(AudienceError, match="segment 'VIP' is dynamic but has no query yet"):
        m.count(pf, Segment("VIP"))
    with pytest.raises(AudienceError, match="segment 'Big accounts' is dynamic but has no query yet"):
        m.count(pf, Segment("Big accounts", entity="accounts"))
    with pf.connection() as conn:  # a segment of accounts: all the contacts of the accounts it finds
        employed = conn.execute(select(func.count()).select_from(t.contacts)
                                .where(t.contacts.c.account_id.is_not(None))).scalar_one()
    assert m.count(pf, Segment("Accounts", entity="accounts", query=query(block()))) == employed
    bad = Segment("Bad", query=query(block(row("cty", "equals", "Atlantis"))))
    with pytest.raises(AudienceError, match=r"segment 'Bad': .*block 1, row 1: 'cty' is not a contact attribute"):
        m.count(pf, bad)


# --- a journey's audience ------------------------------------------------------------------------------------

def test_journey_audience_combines_segments_minus_exclusions(tmp_path: Path) -> None:
    with known_project(tmp_path / "a.jstudio") as f:
        for name, q in (("Atlantis", query(block(A))), ("Engaged", query(block(B))),
                        ("Buyers", query(block(C, root="interactions")))):
            f.project.put_segment(Segment(name, query=q))
        f.project.put_segment(Segment("Do not contact", kind="static"))
        m.add_members(f, "Do not contact", [2])
        j = Journey("j", "Launch", audience=Audience(segments=("Atlantis", "Engaged"), exclude=("Do not contact",)))
        f.project.add_journey(j)
        assert m.audience_ids(f, j, AT) == [1, 3, 4, 5, 8]
        j.audience = Audience(segments=("Atlantis", "Buyers"), combine="intersection")
        assert m.audience_ids(f, "Launch", AT) == [1, 2]
        j.audience = Audience(segments=("Atlantis", "Engaged"), min_consent="marketing")
        assert m.audience_count(f, j, AT) == 3  # 1, 4 and 8 consented to marketing or more
        assert m.audience_count(f, j, AT, with_consent=False) == 6
        j.audience = Audience(segments=("Ghost",))
        with pytest.raises(AudienceError, match="uses segment 'Ghost', which is not in the project"):
            m.audience_count(f, j)


# --- the validator -------------------------------------------------------------------------------------------

def codes(q: Any) -> list[tuple[str, str]]:
    return [(p.code, p.where()) for p in validate_query(q, CUSTOM)]


@pytest.mark.parametrize(("q", "expected"), [
    (query(block(row("city", "equals", 5))), [("value-type", "block 1, row 1")]),
    (query(block(row("lifetime_value", "greater_than", "abc"))), [("value-type", "block 1, row 1")]),
    (query(block(row("lifetime_value", "greater_than", True))), [("value-type", "block 1, row 1")]),
    (query(block(row("last_purchase_date", "equals", "31/12/2020"))), [("value-type", "block 1, row 1")]),
    (query(block(row("created_on", "at_least", "yesterday"))), [("value-type", "block 1, row 1")]),
    (query(block(row("consent_level", "in", ["marketing", "bogus"]))), [("value-type", "block 1, row 1")]),
    (query(block(row("city", "in", "Atlantis"))), [("value-type", "block 1, row 1")]),
    (query(block(row("lifetime_value", "between", [800, 100]))), [("value-type", "block 1, row 1")]),
    (query(block(row("lifetime_value", "between", [1]))), [("value-type", "block 1, row 1")]),
    (query(block(row("last_purchase_date", "in_last_days", -1))), [("value-type", "block 1, row 1")]),
    (query(block(row("last_purchase_date", "in_last_days", 2.5))), [("value-type", "block 1, row 1")]),
    (query(block(row("vip", "equals", "yes"))), [("value-type", "block 1, row 1")]),
    (query(block(row("city", "equals")), block(row("cty", "equals", "x"), op="union")),
     [("no-value", "block 1, row 1"), ("unknown-attribute", "block 2, row 1")]),
    (query(block(row("lifetime_value", "begins_with", "1"))), [("operator-type", "block 1, row 1")]),
    (query(block(row("vip", "greater_than", 1))), [("operator-type", "block 1, row 1")]),
    (query(block(row("city", "like", "x"))), [("unknown-operator", "block 1, row 1")]),
    (query(block(row("city; DROP TABLE contacts", "equals", "x"))), [("unknown-attribute", "block 1, row 1")]),
    (query(block(row("size", "equals", 5), root="interactions")), [("unknown-attribute", "block 1, row 1")]),
    ({"blocks": [{"where": {"all": []}}]}, [("empty-group", "block 1")]),
    ({"blocks": [{"where": {"all": [A, {"any": []}]}}]}, [("empty-group", "block 1, row 2")]),
    ({"blocks": [{"where": {"all": [A, {"any": [B, {"all": [{"attribute": "x"}]}]}]}}]},
     [("unknown-attribute", "block 1, row 2.2.1"), ("unknown-operator", "block 1, row 2.2.1")]),
    ({"blocks": []}, [("no-blocks", "")]),
    ({}, [("no-blocks", "")]),
    ({"lifetime_value": {"greater_than": 1000}}, [("bad-shape", ""), ("no-blocks", "")]),
    ("city = 'Atlantis'", [("bad-shape", "")]),
    ({"blocks": [block(A), block(B, op="minus")]}, [("block-op", "block 2")]),
    ({"blocks": [block(A, root="leads")]}, [("block-root", "block 1")]),
    ({"blocks": [{"where": {"all": [A], "any": [B]}}]}, [("bad-shape", "block 1")]),
    ({"blocks": [{"where": {"all": A}}]}, [("bad-shape", "block 1")]),
    ({"blocks": [{"where": {"all": ["city = 1"]}}]}, [("bad-shape", "block 1, row 1")]),
    ({"blocks": ["everyone"]}, [("bad-shape", "block 1")]),
])
def test_validator_flags_bad_input(q: Any, expected: list[tuple[str, str]]) -> None:
    assert codes(q) == expected


def test_validator_messages_say_what_and_how() -> None:
    [p] = validate_query(query(block(row("lifetime_value", "begins_with", "1"))))
    assert p.path == ("blocks", 0, "where", "all", 0, "op")
    assert p.message == "'begins_with' does not apply to 'Lifetime value', which is number"
    assert "greater_than" in p.fix
    [p] = validate_query(query(block(row("consent_level", "equals", "yes"))))
    assert "one of: not_set, consent_given" in p.message
    assert describe_path(("blocks", 1, "where", "any", 0, "all", 2)) == "block 2, row 1.3"


def test_segment_definitions_other_than_queries() -> None:
    assert validate_segment(Segment("Newsletter", kind="subscription")) == []
    assert validate_segment(Segment("N", kind="subscription", query={"list": "Newsletter"})) == []
    [p] = validate_segment(Segment("N", kind="subscription", query={"list": ""}))
    assert p.code == "bad-list"
    [p] = validate_segment(Segment("N", kind="static", query=query(block())))
    assert p.code == "static-query"
    assert validate_segment(Segment("Draft")) == []  # a dynamic segment without a query yet
    [p] = validate_query(query(block(row('odd"name', "equals", "x"))), {'odd"name': "text"})
    assert p.code == "bad-attribute-name"


JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
                    | st.sampled_from(["all", "any", "city", "equals", "in_last_days", "blocks", "where", "account",
                                       "interactions", "exclude", "kind", "at", "vip", "tags"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["blocks", "where", "all", "any", "op", "root", "attribute", "value"]),
                        inner, max_size=4), max_leaves=12)
ROWS = st.builds(lambda a, o, v: {"attribute": a, "op": o, "value": v},
                 st.sampled_from(["city", "lifetime_value", "created_on", "last_purchase_date", "consent_level",
                                  "vip", "tags", "subscription_lists", "account.size", "kind", "at", "value"]),
                 st.sampled_from(list(OPERATORS)),
                 st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
                     ["Atlantis", "2026-05-01", "2026-05-01T10:00", "marketing", "purchase", "%"])
                 | st.lists(st.sampled_from([1, 5, "2026-01-01", "2026-06-01", "gold"]), max_size=3))
QUERIES = st.builds(lambda blocks: {"blocks": blocks}, st.lists(st.builds(
    lambda op, root, rows, key: {"op": op, "root": root, "where": {key: rows}},
    st.sampled_from(["union", "exclude", "intersect"]), st.sampled_from(["contacts", "account", "interactions"]),
    st.lists(ROWS, min_size=1, max_size=3), st.sampled_from(["all", "any"])), min_size=1, max_size=3))


@settings(max_examples=150, deadline=None)
@given(JUNK)
def test_validator_never_raises(q: Any) -> None:
    assert all(p.message for p in validate_query(q, CUSTOM))


@settings(max_examples=150, deadline=None)
@given(QUERIES)
def test_every_valid_query_compiles_and_runs(pf: ProjectFile, q: dict[str, Any]) -> None:
    if validate_query(q, CUSTOM):
        with pytest.raises(AudienceError):
            members(pf, q)
    else:
        assert members(pf, q) <= ALL


# --- the check for errors and the file formats ---------------------------------------------------------------

def _journey(segment: str) -> Journey:
    j = Journey("j1", "Welcome", audience=Audience(segments=(segment,)))
    j.add_step(Step("bye", "exit", props={"reason": "done"}))
    return j


def test_check_for_errors_reports_segment_query_problems(tmp_path: Path) -> None:
    with known_project(tmp_path / "c.jstudio") as f:
        f.project.put_segment(Segment("Atlanteans", query=query(block(row("city", "equals", 42)))))
        f.project.put_segment(Segment("Fine", query=query(block(A))))
        j = _journey("Atlanteans")
        f.project.add_journey(j)
        [finding] = [x for x in check_journey(j, f.project) if x.code == "segment-query"]
        assert finding.is_error and finding.field == "audience"
        assert finding.message.startswith("Segment 'Atlanteans': block 1, row 1: 'Address 1: City' equals: 42 "
                                          "is not some text")
        j.update(audience=Audience(segments=("Fine",)))
        assert [x for x in check_journey(j, f.project) if x.code == "segment-query"] == []


def test_query_is_saved_in_the_project_file_and_the_journey_file(tmp_path: Path) -> None:
    q = query(block(A, row("last_purchase_date", "between", ["2026-01-01", "2026-02-01"])),
              block(C, op="exclude", root="interactions"))
    path = tmp_path / "f.jstudio"
    with known_project(path) as f:
        f.project.put_segment(Segment("Atlanteans", query=q))
        f.project.add_journey(_journey("Atlanteans"))
    with ProjectFile.open(path, readonly=True) as f:
        assert f.project.segments["Atlanteans"].query == q
        text_ = write_journey_text(f.project.journey("Welcome"), f.project.content, f.project.segments)
    _, _, segments = read_journey_text(text_)
    assert segments[0].query == q and validate_query(segments[0].query) == []
