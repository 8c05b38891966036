"""Counts at one moment on NumPy columns cached on the file's connection: the same as the SQL's, read exactly
(numbers whose short text is not themselves, texts holding the separator, missing values, ids with gaps,
rows pointing at no contact), and never stale: any change, through this connection or another, is seen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, text, update

from app.audience.columns import read_table
from app.audience.members import add_members, count, subscribe
from app.audience.moment import count_at, forget
from app.audience.population import generate
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, 12)
QUERIES = {
    "gold_or_recent_buyers": {"blocks": [
        {"root": "contacts", "where": {"all": [{"attribute": "loyalty_tier", "op": "in", "value": ["gold",
                                                                                                   "platinum"]}]}},
        {"root": "interactions", "op": "union", "where": {"all": [
            {"attribute": "kind", "op": "equals", "value": "purchase"},
            {"attribute": "at", "op": "in_last_days", "value": 30}]}}]},
    "valuable_not_on_newsletter": {"blocks": [
        {"root": "contacts", "where": {"all": [{"attribute": "lifetime_value", "op": "at_least", "value": 100}]}},
        {"root": "contacts", "op": "exclude", "where": {"all": [
            {"attribute": "subscription_lists", "op": "contains", "value": "Newsletter"}]}}]},
    "city_and_recent": {"blocks": [{"root": "contacts", "where": {"any": [
        {"attribute": "city", "op": "begins_with", "value": "pa"},
        {"attribute": "last_purchase_date", "op": "in_last_days", "value": 45},
        {"attribute": "created_on", "op": "not_in_last_days", "value": 200}]}}]},
    "account_industry": {"blocks": [{"root": "account", "where": {"all": [
        {"attribute": "industry", "op": "contains_data"}]}}]},
}


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[ProjectFile]:
    pf = ProjectFile.create(tmp_path / "moment.jstudio")
    generate(pf, 400, 3, ("en_US", "fr_FR"), as_of=AS_OF)
    pf.project.put_segment(Segment("Picked", kind="static"))
    yield pf
    pf.close()


def _both(pf: ProjectFile) -> list[tuple[int, int]]:
    segments = [Segment(name, query=q) for name, q in QUERIES.items()]
    segments += [Segment("Picked", kind="static"), Segment("Newsletter", kind="subscription")]
    return [(count(pf, s, AT), count(pf, s, AT, columnar=False)) for s in segments]


def _agree(pf: ProjectFile) -> None:
    pairs = _both(pf)
    assert all(a == b for a, b in pairs), pairs


def test_counts_agree_with_sql_and_follow_every_change(project: ProjectFile) -> None:
    _agree(project)
    add_members(project, "Picked", [2, 3, 5])
    subscribe(project, "Newsletter", range(1, 60))
    _agree(project)
    with project.connection(write=True) as conn:  # edits through the file's own connection
        conn.execute(update(t.contacts).where(t.contacts.c.id % 3 == 0).values(loyalty_tier="gold",
                                                                                lifetime_value=150.5))
        conn.execute(delete(t.interactions).where(t.interactions.c.contact_id % 2 == 0))
        conn.execute(update(t.accounts).where(t.accounts.c.id % 2 == 0).values(industry=None))
    _agree(project)
    assert count(project, "Picked", AT) == 3


def test_a_change_by_another_connection_is_seen(project: ProjectFile) -> None:
    seg = Segment("gold", query={"blocks": [{"root": "contacts", "where": {"all": [
        {"attribute": "loyalty_tier", "op": "equals", "value": "gold"}]}}]})
    before = count(project, seg, AT)
    other = sqlite3.connect(project.path)
    try:
        other.execute("UPDATE contacts SET loyalty_tier = 'gold' WHERE id <= 50")
        other.commit()
    finally:
        other.close()
    after = count(project, seg, AT)
    assert after == count(project, seg, AT, columnar=False)
    assert after > before


def test_awkward_values_are_read_exactly(project: ProjectFile) -> None:
    with project.connection(write=True) as conn:
        conn.execute(text("UPDATE contacts SET lifetime_value = 0.1 + 0.2 WHERE id = 1"))  # 0.30000000000000004
        conn.execute(text("UPDATE contacts SET lifetime_value = 'lots' WHERE id = 2"))  # not a number
        conn.execute(text("UPDATE contacts SET city = 'Pa' || char(30) || 'ris' WHERE id = 3"))  # the separator
        conn.execute(text("UPDATE contacts SET city = '' WHERE id = 4"))
        conn.execute(text("UPDATE contacts SET city = NULL, last_purchase_date = 'soon' WHERE id = 5"))
        conn.execute(text("DELETE FROM contacts WHERE id IN (7, 8, 9)"))  # ids with gaps
    with project.connection() as conn:
        driver = conn.connection.driver_connection
        keys, cols = read_table(driver, "contacts", "id", [("lifetime_value", "number"), ("city", "text"),
                                                           ("last_purchase_date", "days")])
        assert keys[:6].tolist() == [1, 2, 3, 4, 5, 6]
        assert cols["lifetime_value"][0] == 0.1 + 0.2 and cols["lifetime_value"][1] == np.inf
        city = cols["city"]
        assert city.values[city.codes[2]] == "Pa\x1eris" and city.values[city.codes[3]] == ""
        assert city.codes[4] == -1 and np.isnan(cols["last_purchase_date"][4])
    for value in (0.3, 0.1 + 0.2):
        for op in ("equals", "at_least", "greater_than"):
            seg = Segment("v", query={"blocks": [{"root": "contacts", "where": {"all": [
                {"attribute": "lifetime_value", "op": op, "value": value}]}}]})
            assert count(project, seg, AT) == count(project, seg, AT, columnar=False), (op, value)
    rows: list[dict[str, Any]] = [{"attribute": "city", "op": "contains", "value": "\x1e"},
                                  {"attribute": "city", "op": "does_not_contain_data"},
                                  {"attribute": "city", "op": "contains_data"}]
    for row in rows:
        op = row["op"]
        seg = Segment("c", query={"blocks": [{"root": "contacts", "where": {"all": [row]}}]})
        assert count(project, seg, AT) == count(project, seg, AT, columnar=False), op
    _agree(project)


def test_interactions_of_no_contact_are_ignored(project: ProjectFile) -> None:
    driver = sqlite3.connect(project.path)
    try:
        driver.execute("PRAGMA foreign_keys = OFF")
        driver.execute("INSERT INTO interactions (contact_id, kind, at, value) "
                       "VALUES (99999, 'purchase', '2026-05-30T10:00:00', 5)")
        driver.commit()
    finally:
        driver.close()
    _agree(project)


def test_forget_and_count_at(project: ProjectFile) -> None:
    seg = Segment("q", query=QUERIES["gold_or_recent_buyers"])
    with project.connection() as conn:
        first = count_at(conn, seg, AT)
        forget(conn)
        again = count_at(conn, seg, AT)
    assert again == first == count(project, seg, AT, columnar=False)


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the times the columns are read from the file."""
    import app.audience.moment as moment

    calls: list[int] = []
    real = moment.read_needs

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(moment, "read_needs", counted)
    return calls


def test_edits_outside_the_audience_keep_the_cached_columns(project: ProjectFile,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from app.model.content import Content
    from app.model.journey import Journey

    seg = Segment("q", query=QUERIES["gold_or_recent_buyers"])
    reads = _reads(monkeypatch)
    first = count(project, seg, AT)
    assert len(reads) == 1
    project.project.add_journey(Journey("j-welcome", "Welcome"))  # written through the file's own connection
    project.project.put_content(Content("Hello", kind="email"))
    project.project.put_segment(Segment("Other", kind="static"))
    assert count(project, seg, AT) == first
    assert len(reads) == 1, "a journey, content or segment edit must not cost the next count"
    with project.connection(write=True) as conn:
        conn.execute(update(t.contacts).where(t.contacts.c.id <= 40).values(loyalty_tier="gold"))
    assert count(project, seg, AT) == count(project, seg, AT, columnar=False) > first
    assert len(reads) == 2


@pytest.mark.parametrize("table", ["contacts", "accounts", "interactions", "contact_lists", "segment_members"])
def test_any_change_to_an_audience_table_is_seen(project: ProjectFile, table: str) -> None:
    add_members(project, "Picked", [2, 3, 5])
    _agree(project)
    change = {"contacts": "UPDATE contacts SET lifetime_value = 500, loyalty_tier = 'gold', city = 'Paris' "
                          "WHERE id % 2 = 0",
              "accounts": "UPDATE accounts SET industry = NULL",
              "interactions": "DELETE FROM interactions WHERE contact_id % 2 = 1",
              "contact_lists": "DELETE FROM contact_lists WHERE list = 'Newsletter'",
              "segment_members": "DELETE FROM segment_members WHERE contact_id = 3"}[table]
    with project.connection(write=True) as conn:
        conn.execute(text(change))
    _agree(project)


def test_a_rolled_back_change_never_leaves_a_stale_count(project: ProjectFile) -> None:
    seg = Segment("gold", query={"blocks": [{"root": "contacts", "where": {"all": [
        {"attribute": "loyalty_tier", "op": "equals", "value": "gold"}]}}]})
    before = count(project, seg, AT)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), project.connection(write=True) as conn:  # changed, counted, rolled back
        conn.execute(text("UPDATE contacts SET loyalty_tier = 'gold' WHERE id <= 60"))
        assert count_at(conn, seg, AT) > before
        raise Undo
    assert count(project, seg, AT) == before
    with project.connection(write=True) as conn:  # as many changes again, other rows: not the cached state
        conn.execute(text("UPDATE contacts SET loyalty_tier = 'gold' WHERE id > 340"))
    assert count(project, seg, AT) == count(project, seg, AT, columnar=False)


def test_counting_starts_inside_a_transaction_that_is_rolled_back(project: ProjectFile) -> None:
    seg = Segment("gold", query={"blocks": [{"root": "contacts", "where": {"all": [
        {"attribute": "loyalty_tier", "op": "equals", "value": "gold"}]}}]})

    class Undo(Exception):
        pass

    with pytest.raises(Undo), project.connection(write=True) as conn:  # the watch is made here, then undone
        first = count_at(conn, seg, AT)
        raise Undo
    with project.connection(write=True) as conn:  # no trigger counted this change
        conn.execute(text("UPDATE contacts SET loyalty_tier = 'gold' WHERE id <= 60"))
    assert count(project, seg, AT) == count(project, seg, AT, columnar=False) > first


def test_a_population_load_stops_the_watch(project: ProjectFile) -> None:
    from app.audience.moment import WATCHED

    seg = Segment("q", query=QUERIES["gold_or_recent_buyers"])
    count(project, seg, AT)
    with project.connection() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        triggers = "SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger'"
        assert driver.execute(triggers).fetchone()[0] == 3 * len(WATCHED)
    generate(project, 300, 4, ("en_US",), as_of=AS_OF, replace=True)
    with project.connection() as conn:
        assert driver.execute(triggers).fetchone()[0] == 0
    _agree(project)


def test_a_read_only_file_is_counted_and_follows_other_writers(project: ProjectFile, tmp_path: Path) -> None:
    seg = Segment("gold", query={"blocks": [{"root": "contacts", "where": {"all": [
        {"attribute": "loyalty_tier", "op": "equals", "value": "gold"}]}}]})
    with ProjectFile.open(project.path, readonly=True) as ro:
        before = count(ro, seg, AT)
        assert count(ro, seg, AT) == before
        with project.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET loyalty_tier = 'gold' WHERE id <= 60"))
        assert count(ro, seg, AT) == count(ro, seg, AT, columnar=False) > before


def test_reals_are_read_exactly_whatever_their_digits(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = [0.08930656036506571, 0.1 + 0.2, 1e300, -1.7976931348623157e308, 5e-324, float("inf"), -0.0,
              *rng.random(2000).tolist(), *(rng.standard_normal(500) * 1e250).tolist()]
    con = sqlite3.connect(tmp_path / "reals.db")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x REAL)")
    con.executemany("INSERT INTO t (x) VALUES (?)", [(v,) for v in values])
    for kind in ("number", "real"):
        _, got = read_table(con, "t", "id", [("x", kind)])
        assert got["x"].tolist() == values
    con.close()
