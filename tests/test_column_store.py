"""The audience's columns kept in the project file (app.audience.column_store): what is kept is exactly what
reading the rows gives, it is used only while the audience stamp says the rows are unchanged (any change, by
any connection, moves it; a rollback takes it back), bulk loads move the stamp once, and the column-wise
reader of a customer base gives what the previous row-by-row reader gave."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from app.audience import base_load, base_store, column_store, columns
from app.audience.base import Items, Text
from app.audience.base_store import read_base
from app.audience.csv_import import import_contacts
from app.audience.members import add_members, segment_condition
from app.audience.population import generate
from app.errors import ProjectFileError
from app.model.journey import Journey
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t
from app.store.integrity import repair
from tests.audience_helpers import AT, CUSTOM, known_project
from tests.base_reference import reference_read_base

AS_OF = date(2026, 6, 1)


def _stamps(pf: ProjectFile) -> dict[str, int]:
    with pf.connection() as conn:
        return {tbl: n for tbl, n in conn.exec_driver_sql("SELECT tbl, n FROM audience_stamp")}


def _stamp(pf: ProjectFile, table: str = "contacts") -> int:
    with pf.connection() as conn:
        stamp = column_store.current_stamp(conn.connection.driver_connection, table)
    assert stamp is not None
    return stamp


def _kept(path: Path, plain: set[str] | None = None) -> dict[str, tuple[int, Any]]:
    """{name: (stamp, values)} of the kept columns; `plain` gets the names of number columns kept as holding no
    text."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name, stamp, data, texts FROM audience_columns").fetchall()
    finally:
        con.close()
    if plain is not None:
        plain.update(name for name, _, _, texts in rows if texts == column_store.PLAIN)
    return {name: (stamp, column_store._decode(name.split("|")[2], data, texts)) for name, stamp, data, texts in rows}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Text) or isinstance(b, Text):
        return isinstance(a, Text) and isinstance(b, Text) and a.texts() == b.texts()
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.array_equal(a, b))


def _kept_equals_rows(path: Path) -> int:
    """Every kept column equals reading the rows now; returns how many were checked."""
    plain: set[str] = set()
    kept = _kept(path, plain)
    con = sqlite3.connect(path)
    try:
        for name, (at, values) in kept.items():
            table, key, kind, column = name.split("|", 3)
            assert at == column_store.current_stamp(con, table), name
            keys, got = columns.read_table(con, table, key, [] if column == column_store.KEYS else [(column, kind)])
            assert _same(keys if column == column_store.KEYS else got[column], values), name
            if name in plain:  # kept once for both readings of a number column
                _, real = columns.read_table(con, table, key, [(column, "real")])
                assert _same(real[column], values), name
    finally:
        con.close()
    return len(kept)


# --- the schema ------------------------------------------------------------------------------------------------

def test_a_new_file_has_the_stamp_and_its_triggers(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "p.jstudio") as pf:
        assert _stamp(pf) == 0
    con = sqlite3.connect(tmp_path / "p.jstudio")
    made = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    con.close()
    assert made == dict(t.stamp_triggers())
    assert len(made) == 3 * len(t.AUDIENCE_TABLES)


@pytest.mark.parametrize("table, sql", [
    ("accounts", "INSERT INTO accounts (id, name) VALUES (9, 'New')"),
    ("contacts", "UPDATE contacts SET city = 'Paris' WHERE id = 1"),
    ("interactions", "DELETE FROM interactions WHERE id = 1"),
    ("contact_lists", "INSERT INTO contact_lists (contact_id, list) VALUES (3, 'Offers')"),
    ("segment_members", "INSERT INTO segment_members (segment, contact_id) VALUES ('Picked', 1)"),
])
def test_every_change_of_an_audience_table_moves_its_stamp(tmp_path: Path, table: str, sql: str) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        before = _stamps(pf)
        with pf.connection(write=True) as conn:
            conn.execute(text(sql))
        after = _stamps(pf)
        assert after[table] > before[table] and {k: v for k, v in after.items() if k != table} == {
            k: v for k, v in before.items() if k != table}


def test_a_contact_edit_leaves_the_interactions_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        asked = [("contact_id", "int"), ("at", "seconds")]
        with pf.connection() as conn:
            _, first = column_store.read(conn.connection.driver_connection, "interactions", "id", asked)
        with pf.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET city = 'Paris' WHERE id = 1"))

        def no_rows(*args: Any) -> Any:
            raise AssertionError("the rows were read again")

        monkeypatch.setattr(column_store, "read_table", no_rows)
        with pf.connection() as conn:
            _, again = column_store.read(conn.connection.driver_connection, "interactions", "id", asked)
        assert all(_same(first[c], again[c]) for c, _ in asked)


def test_edits_outside_the_audience_and_rollbacks_leave_the_stamp(tmp_path: Path) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        before = _stamp(pf)
        pf.project.add_journey(Journey("j", "J"))
        pf.project.put_segment(Segment("Picked", kind="static"))
        assert _stamp(pf) == before
        with pytest.raises(RuntimeError):
            with pf.connection(write=True) as conn:
                conn.execute(text("DELETE FROM contacts"))
                raise RuntimeError("undo")
        assert _stamp(pf) == before


# --- reading and keeping ---------------------------------------------------------------------------------------

ASKED = [("lifetime_value", "number"), ("city", "text"), ("last_purchase_date", "days"), ("created_on", "seconds"),
         ("account_id", "int")]


def test_columns_are_kept_and_then_read_from_the_file_until_the_rows_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        with pf.connection() as conn:
            driver = conn.connection.driver_connection
            keys, first = column_store.read(driver, "contacts", "id", ASKED)
        assert len(_kept(pf.path)) == len(ASKED) + 1 and _kept_equals_rows(pf.path)

        def no_rows(*args: Any) -> Any:
            raise AssertionError("the rows were read again")

        with monkeypatch.context() as m:
            m.setattr(column_store, "read_table", no_rows)
            with pf.connection() as conn:
                again_keys, again = column_store.read(conn.connection.driver_connection, "contacts", "id", ASKED)
        assert _same(keys, again_keys) and all(_same(first[c], again[c]) for c, _ in ASKED)

        with pf.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET lifetime_value = 7 WHERE id = 1"))
        with pf.connection() as conn:
            _, fresh = column_store.read(conn.connection.driver_connection, "contacts", "id", ASKED)
        assert fresh["lifetime_value"][0] == 7
        assert _kept_equals_rows(pf.path) == len(ASKED) + 1  # kept again, at the new stamp


def test_a_column_asked_later_is_added_to_those_kept(tmp_path: Path) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        with pf.connection() as conn:
            driver = conn.connection.driver_connection
            column_store.read(driver, "contacts", "id", ASKED[:1])
            column_store.read(driver, "contacts", "id", ASKED[:3])
        assert _kept_equals_rows(pf.path) == 4


def test_a_read_only_connection_reads_but_keeps_nothing(tmp_path: Path) -> None:
    known_project(tmp_path / "k.jstudio").close()
    with ProjectFile.open(tmp_path / "k.jstudio", readonly=True) as pf, pf.connection() as conn:
        keys, got = column_store.read(conn.connection.driver_connection, "contacts", "id", ASKED)
    assert keys.tolist() == list(range(1, 9)) and got["city"].texts()[0] == "Atlantis"
    assert _kept(tmp_path / "k.jstudio") == {}


def test_what_is_kept_inside_a_rolled_back_transaction_goes_with_it(tmp_path: Path) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        with pytest.raises(RuntimeError):
            with pf.connection(write=True) as conn:
                conn.execute(text("UPDATE contacts SET city = 'Rome' WHERE id = 2"))
                _, got = column_store.read(conn.connection.driver_connection, "contacts", "id", ASKED)
                assert got["city"].texts()[1] == "Rome"
                raise RuntimeError("undo")
        assert _kept(pf.path) == {}
        with pf.connection() as conn:
            _, got = column_store.read(conn.connection.driver_connection, "contacts", "id", ASKED)
        assert got["city"].texts()[1] == "Atlantis"


def test_a_database_without_a_stamp_is_read_from_its_rows(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "plain.db")
    con.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, city TEXT)")
    con.executemany("INSERT INTO contacts VALUES (?, ?)", [(1, "A"), (2, None)])
    keys, got = column_store.read(con, "contacts", "id", [("city", "text")])
    assert keys.tolist() == [1, 2] and got["city"].texts() == ["A", None]
    con.close()


# --- bulk loads --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["side process", "in process"])
def test_a_population_keeps_exactly_what_reading_its_rows_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                mode: str) -> None:
    if mode == "side process":
        monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    path = tmp_path / "pop.jstudio"
    with ProjectFile.create(path) as pf:
        generate(pf, 1500, 7, ("en_US", "ja_JP"), as_of=AS_OF)
        first = _stamp(pf)
        assert first == 1  # once for the whole load
        assert _kept_equals_rows(path) >= 25
        generate(pf, 900, 8, ("fr_FR",), as_of=AS_OF, replace=True)
        assert _stamp(pf) == first + 1
        kept = _kept_equals_rows(path)
        assert kept >= 25 and all(at == first + 1 for at, _ in _kept(path).values())
    con = sqlite3.connect(path)
    assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")} == {
        name for name, _ in t.stamp_triggers()}
    con.close()


def test_a_failed_population_leaves_the_triggers_and_the_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pop.jstudio"
    with ProjectFile.create(path) as pf:
        def broken(*args: Any) -> None:
            raise OSError("disk on fire")

        monkeypatch.setattr(base_load, "_keep_base", broken)
        with pytest.raises(OSError):
            generate(pf, 200, 1, ("en_US",), as_of=AS_OF)
        assert _stamp(pf) == 0
    con = sqlite3.connect(path)
    assert len(con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()) == 15
    assert con.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    con.close()


def test_an_import_moves_the_stamp_once_and_a_refused_one_not_at_all(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("email,lifetime_value\n" + "".join(f"c{i}@x.org,{i}\n" for i in range(50)), encoding="utf-8")
    bad.write_text("email,lifetime_value\na@x.org,12\nb@x.org,lots\n", encoding="utf-8")
    with ProjectFile.create(tmp_path / "imp.jstudio") as pf:
        report = import_contacts(pf, good)
        assert report.imported == 50 and _stamp(pf) == 1
        refused = import_contacts(pf, bad)
        assert refused.imported == 0 and _stamp(pf) == 1
        with pf.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET lifetime_value = 1 WHERE id = 1"))
        assert _stamp(pf) == 2  # the triggers are back


def test_a_repaired_copy_keeps_no_columns(tmp_path: Path) -> None:
    path = tmp_path / "pop.jstudio"
    with ProjectFile.create(path) as pf:
        generate(pf, 300, 2, ("en_US",), as_of=AS_OF)
    assert _kept(path)
    repair(path, tmp_path / "copy.jstudio")
    assert _kept(tmp_path / "copy.jstudio") == {}
    with ProjectFile.open(tmp_path / "copy.jstudio") as copy, copy.connection() as conn:
        assert column_store.current_stamp(conn.connection.driver_connection, "contacts") is not None


# --- the customer base -------------------------------------------------------------------------------------------

def _decoded(col: Any, rows: np.ndarray | None = None) -> Any:
    if isinstance(col, Text):
        return col.texts()
    if isinstance(col, Items):
        return [sorted(col.values[c] for c in col.codes[col.indptr[i]:col.indptr[i + 1]])
                for i in range(len(col.indptr) - 1)]
    return np.asarray(col, dtype=np.float64)


def _assert_same_base(new: Any, old: Any) -> None:
    assert new.ids.tolist() == old.ids.tolist()
    for name in old.columns:
        a, b = _decoded(new.column(name)), _decoded(old.column(name))
        assert (a == b) if isinstance(a, list) else _same(a, b), name
    per_contact = [(old.account_ids[r] if r >= 0 else None) for r in old.account.tolist()]
    assert [(new.account_ids[r] if r >= 0 else None) for r in new.account.tolist()] == per_contact
    for name in old.accounts:
        a, b = new.account_column(name), old.account_column(name)
        pick_a = [None if r < 0 else r for r in new.account.tolist()]
        pick_b = [None if r < 0 else r for r in old.account.tolist()]
        va, vb = _decoded(a), _decoded(b)
        got = [None if r is None else (va[r] if isinstance(va, list) else float(va[r])) for r in pick_a]
        want = [None if r is None else (vb[r] if isinstance(vb, list) else float(vb[r])) for r in pick_b]
        assert str(got) == str(want), name
    ni, oi = new.interactions, old.interactions

    def rows(i: Any) -> list[tuple[Any, ...]]:
        return sorted(zip(i.contact.tolist(), i.at.tolist(), i.kind.tolist(), np.nan_to_num(i.value, nan=-1).tolist()))

    assert rows(ni) == rows(oi)
    assert np.all(np.diff(ni.contact) >= 0)
    assert _decoded(new.lists) == _decoded(old.lists)
    assert {k: v.tolist() for k, v in new.static.items()} == {k: v.tolist() for k, v in old.static.items()}
    assert new.custom_types == old.custom_types
    for name in old.custom:
        a, b = _decoded(new.custom_column(name)), _decoded(old.custom_column(name))
        assert (a == b) if isinstance(a, list) else _same(a, b), name


ALL_COLUMNS = ["lifetime_value", "engagement", "birth_date", "last_purchase_date", "created_on", "city", "country",
               "email", "first_name", "consent_level", "loyalty_tier", "time_zone", "language"]


@pytest.mark.parametrize("where", [None, "gold", "none"])
def test_the_base_is_what_the_row_by_row_reader_gave(tmp_path: Path, where: str | None) -> None:
    with known_project(tmp_path / "k.jstudio") as pf:
        pf.project.put_segment(Segment("Picked", kind="static"))
        add_members(pf, "Picked", [2, 4, 7])
        with pf.connection(write=True) as conn:  # awkward values the readers must agree on
            conn.execute(text("UPDATE contacts SET lifetime_value = 'lots', engagement = 0.1 + 0.2 WHERE id = 2"))
            conn.execute(text("INSERT INTO interactions (id, contact_id, kind, at, value) VALUES "
                              "(20, 2, 'telepathy', '2026-05-01T00:00:00', 3), (21, 1, 'purchase', 'soon', 1), "
                              "(22, 1, 'purchase', '2026-05-20T10:00:00', 0.30000000000000004)"))
            conn.execute(text("UPDATE accounts SET size = 'big' WHERE id = 2"))
        condition = None
        if where == "gold":
            condition = segment_condition(Segment("g", query={"blocks": [{"root": "contacts", "where": {"any": [
                {"attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]},
                {"attribute": "country", "op": "equals", "value": "FR"}]}}]}), CUSTOM, AT)
        elif where == "none":
            condition = t.contacts.c.id < 0
        asked: dict[str, Any] = dict(columns=ALL_COLUMNS, custom=CUSTOM, custom_names=list(CUSTOM), interactions=True,
                                     lists=True, static=["Picked"], where=condition)
        for _ in range(2):  # from the rows, then from the kept columns
            with pf.connection() as conn:
                new = read_base(conn, **asked)
                old = reference_read_base(conn, **asked)
            _assert_same_base(new, old)
        if where is None:
            assert new.n == 8 and new.interactions.kind.tolist().count(-1) == 1
            assert np.isnan(new.column("lifetime_value")[1]) and new.column("engagement")[1] == 0.1 + 0.2


def test_a_generated_base_reads_back_as_the_row_by_row_reader_gave(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "g.jstudio") as pf:
        generate(pf, 700, 11, ("en_GB", "de_DE"), as_of=AS_OF)
        with pf.connection() as conn:
            asked: dict[str, Any] = dict(columns=ALL_COLUMNS, interactions=True, lists=True)
            _assert_same_base(read_base(conn, **asked), reference_read_base(conn, **asked))


def test_after_a_population_counts_and_simulations_read_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ProjectFile.create(tmp_path / "g.jstudio") as pf:
        generate(pf, 500, 4, ("en_US",), as_of=AS_OF)

        def no_rows(*args: Any) -> Any:
            raise AssertionError("the rows were read")

        monkeypatch.setattr(column_store, "read_table", no_rows)
        with pf.connection() as conn:
            read_base(conn, columns=["lifetime_value", "engagement", "last_purchase_date", "country", "loyalty_tier",
                                     "consent_level", "time_zone", "language", "city"], interactions=True, lists=True)
            driver = conn.connection.driver_connection
            for kind in ("number", "real"):
                column_store.read(driver, "contacts", "id", [("lifetime_value", kind)])
                column_store.read(driver, "interactions", "id", [("value", kind)])


def test_an_interrupted_read_reports_the_interruption_and_leaves_the_connection_usable(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "g.jstudio") as pf:
        generate(pf, 3000, 4, ("en_US",), as_of=AS_OF)
        with pf.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET city = 'Paris' WHERE id = 1"))  # the rows must be read
        with pytest.raises(ProjectFileError, match="interrupted"):
            with pf.connection() as conn:
                driver = conn.connection.driver_connection
                driver.set_progress_handler(lambda: 1, 2_000)  # stops any long statement, as Cancel does
                try:
                    read_base(conn, columns=["city", "country"])
                finally:
                    driver.set_progress_handler(None, 0)
        with pf.connection() as conn:
            assert read_base(conn, columns=["city"]).column("city").texts()[0] == "Paris"


@pytest.mark.parametrize("ids", [[], [-1, -1], [3, -1, 3, 7, 1], [5_000_000, -1, 12, 5_000_000],
                                 list(range(-1, 2000, 3)) * 2])
def test_contacts_find_their_accounts_rows_by_table_or_by_search_alike(ids: list[int]) -> None:
    got_ids, got_rows = base_store._rows_of_ids(np.array(ids, dtype=np.int64))
    arr = np.array(ids, dtype=np.int64)
    want_ids = np.unique(arr[arr >= 0])
    want_rows = np.where(arr >= 0, np.searchsorted(want_ids, arr), -1)
    assert got_ids.tolist() == want_ids.tolist() and got_rows.tolist() == want_rows.tolist()
