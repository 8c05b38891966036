"""The synthetic population: bit-for-bit reproducible from its seed, shaped like a real customer base, fast,
and written all or nothing."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text

from app.audience import population
from app.audience.members import add_members, count
from app.audience.pools import ascii_word
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, INTERACTION_KINDS, LOYALTY_TIERS
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t

AS_OF = date(2026, 6, 1)
TABLES = ("accounts", "contacts", "contact_lists", "interactions")


def _digest(conn: Connection) -> str:
    """A hash of every audience row, in key order: equal digests mean bit-for-bit equal tables."""
    h = hashlib.sha256()
    for table in TABLES:
        key = "contact_id, list" if table == "contact_lists" else "id"
        for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {key}"):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _generate(path: Path, size: int, seed: int, **kw: object) -> tuple[ProjectFile, population.PopulationReport]:
    pf = ProjectFile.create(path)
    return pf, population.generate(pf, size, seed, as_of=AS_OF, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProjectFile, population.PopulationReport]]:
    pf, report = _generate(tmp_path_factory.mktemp("pop") / "base.jstudio", 10_000, 42,
                           locales=("en_US", "fr_FR"))
    yield pf, report
    pf.close()


def test_same_seed_gives_the_same_rows_bit_for_bit(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        pf, _ = _generate(tmp_path / f"{name}.jstudio", 2000, seed, locales=("en_US", "de_DE"))
        with pf, pf.connection() as conn:
            digests.append(_digest(conn))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_ten_thousand_contacts_are_written_and_analysed(
        base: tuple[ProjectFile, population.PopulationReport]) -> None:
    pf, report = base
    assert (report.contacts, report.accounts) == (10_000, 250)
    assert report.seconds > 0  # (how long it takes: benchmarks/bench_audience.py)
    with pf.connection() as conn:
        assert conn.execute(select(func.count()).select_from(t.contacts)).scalar_one() == 10_000
        assert conn.execute(select(func.count()).select_from(t.interactions)).scalar_one() == report.interactions
        assert conn.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar_one() > 0  # analysed


def test_distributions_look_like_a_customer_base(base: tuple[ProjectFile, population.PopulationReport]) -> None:
    pf, _ = base
    c = t.contacts
    with pf.connection() as conn:
        rows = conn.execute(select(c.c.lifetime_value, c.c.engagement, c.c.loyalty_tier, c.c.consent_level,
                                   c.c.email, c.c.account_id, c.c.last_purchase_date)).all()
    values = [r.lifetime_value for r in rows if r.lifetime_value > 0]
    assert statistics.mean(values) > 1.3 * statistics.median(values)  # right-skewed
    assert all(0.0 <= r.engagement <= 1.0 for r in rows)
    assert len({r.email for r in rows}) == len(rows)
    assert {r.loyalty_tier for r in rows} == set(LOYALTY_TIERS)
    assert {r.consent_level for r in rows} == set(CONSENT_LEVELS)
    by_tier = {tier: statistics.mean(r.lifetime_value for r in rows if r.loyalty_tier == tier)
               for tier in LOYALTY_TIERS}
    assert [by_tier[tier] for tier in LOYALTY_TIERS] == sorted(by_tier.values())  # value drives the tier
    engagement = {level: statistics.mean(r.engagement for r in rows if r.consent_level == level)
                  for level in CONSENT_LEVELS}
    assert engagement["profiling"] > engagement["subscriptions"] > engagement["not_set"]
    sizes = sorted(Counter(r.account_id for r in rows if r.account_id is not None).values())
    assert sizes[-1] > 5 * statistics.median(sizes) and sizes[0] < statistics.median(sizes) / 2  # varied
    buyers = [r for r in rows if r.last_purchase_date is not None]
    assert 0.4 < len(buyers) / len(rows) < 0.8 and all(r.lifetime_value > 0 for r in buyers)


def test_rows_are_consistent(base: tuple[ProjectFile, population.PopulationReport]) -> None:
    pf, _ = base
    with pf.connection() as conn:
        def one(sql: str) -> object:
            return conn.execute(text(sql)).scalar_one()
        # the latest purchase falls on the last purchase date, and no interaction precedes the contact
        assert one("SELECT count(*) FROM contacts c WHERE last_purchase_date IS NOT "
                   "(SELECT substr(max(at), 1, 10) FROM interactions i WHERE i.contact_id = c.id "
                   "AND kind = 'purchase')") == 0
        assert one("SELECT count(*) FROM interactions i JOIN contacts c ON c.id = i.contact_id "
                   "WHERE i.at < c.created_on OR i.at >= '2026-06-01'") == 0
        assert one("SELECT count(*) FROM contacts WHERE created_on >= '2026-06-01' OR birth_date > '2008-06-01'") == 0
        kinds = set(conn.execute(text("SELECT DISTINCT kind FROM interactions")).scalars())
        assert kinds == set(INTERACTION_KINDS)
        assert one("SELECT count(*) FROM contacts WHERE country = 'France' AND (time_zone != 'Europe/Paris' "
                   "OR language != 'fr-FR' OR mobile_phone NOT LIKE '+33 %')") == 0
        assert one("SELECT count(*) FROM contacts WHERE country = 'United States' AND NOT "
                   "(time_zone LIKE 'America/%' OR time_zone LIKE 'Pacific/%')") == 0
        assert one("SELECT count(*) FROM contact_lists l JOIN contacts c ON c.id = l.contact_id") > 1000
        # only people who consented to subscriptions are on many lists
        assert one("SELECT avg(consent_level IN ('subscriptions', 'marketing', 'profiling')) "
                   "FROM contact_lists l JOIN contacts c ON c.id = l.contact_id") > 0.8


def test_segments_run_on_a_generated_population(base: tuple[ProjectFile, population.PopulationReport]) -> None:
    pf, _ = base
    q = {"blocks": [{"where": {"all": [{"attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]},
                                       {"attribute": "country", "op": "equals", "value": "France"}]}},
                    {"op": "exclude", "root": "interactions", "where": {"all": [
                        {"attribute": "kind", "op": "equals", "value": "purchase"},
                        {"attribute": "at", "op": "in_last_days", "value": 30}]}}]}
    n = count(pf, Segment("Lapsed French VIPs", query=q), AS_OF)
    assert 0 < n < 10_000


def test_existing_contacts_are_kept_unless_replaced(tmp_path: Path) -> None:
    pf, _ = _generate(tmp_path / "r.jstudio", 500, 1)
    with pf:
        pf.project.put_segment(Segment("Picked", kind="static"))
        add_members(pf, "Picked", [1, 2])
        with pytest.raises(AudienceError, match="already has contacts"):
            population.generate(pf, 100, 2)
        report = population.generate(pf, 300, 2, as_of=AS_OF, replace=True)
        assert report.contacts == 300
        assert count(pf, "Picked") == 0  # members of the old population are gone with it
        with pf.connection() as conn:
            assert conn.execute(select(func.min(t.contacts.c.id), func.max(t.contacts.c.id))).one() == (1, 300)


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pf = ProjectFile.create(tmp_path / "f.jstudio")
    from app.audience import bulk
    real = bulk.insert_rows

    def failing(conn: Connection, table: t.Table, *args: object, **kw: object) -> int:
        if table is t.interactions:
            raise RuntimeError("disk on fire")
        return real(conn, table, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "insert_rows", failing)
    with pf, pytest.raises(RuntimeError, match="disk on fire"):
        population.generate(pf, 200, 3, as_of=AS_OF)
    with ProjectFile.open(pf.path) as again, again.connection() as conn:
        for table in TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
        indexes = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
    assert {ix.name for ix in t.contacts.indexes} <= indexes


@pytest.mark.parametrize(("kw", "message"), [
    ({"size": 0}, "size must be a whole number from 1"),
    ({"seed": -1}, "seed must be a whole number from 0"),
    ({"locales": ("xx_XX",)}, "'xx_XX' is not a locale Faker knows"),
    ({"locales": ()}, "at least one locale"),
    ({"accounts": -2}, "number of accounts"),
])
def test_bad_arguments_are_refused(tmp_path: Path, kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"size": 10, "seed": 1, **kw}
    with ProjectFile.create(tmp_path / "b.jstudio") as pf, pytest.raises(AudienceError, match=message):
        population.generate(pf, **args)  # type: ignore[arg-type]


def test_no_accounts_and_other_lists(tmp_path: Path) -> None:
    pf, report = _generate(tmp_path / "n.jstudio", 200, 5, accounts=0, lists=("VIP club",))
    with pf, pf.connection() as conn:
        assert report.accounts == 0
        assert conn.execute(text("SELECT count(*) FROM contacts WHERE account_id IS NOT NULL")).scalar_one() == 0
        assert set(conn.execute(text("SELECT DISTINCT list FROM contact_lists")).scalars()) <= {"VIP club"}


def test_names_become_ascii_addresses() -> None:
    assert ascii_word("Hélène") == "helene"
    assert ascii_word("O'Brien-Smith") == "obriensmith"
    assert ascii_word("淳") == ""
