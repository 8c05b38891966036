"""Importing contacts from CSV: mapping by header and by hand, type inference of custom columns, per-row
errors with line numbers, nothing imported on errors unless bad rows are skipped, clear refusals."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from app.audience.csv_import import import_contacts, infer_type, resolve_mapping
from app.audience.members import member_ids
from app.errors import AudienceError
from app.model.segment import Segment
from app.store import ProjectFile
from app.store import schema as t

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=timezone.utc)
GOOD = '''\
First Name,Last Name,E-mail,Address 1: City,Country,Consent,Loyalty tier,LTV,Last purchase,Birthday,Company,Lists,Shoe size,VIP,Signed up on,Notes
Ann,Lee,ann@example.com,Atlantis,US,Marketing,gold,1500.50,2026-05-20,1990-01-15,Acme Corp,Newsletter;Offers,38,yes,2024-01-10,likes cats
Bob,Stone,bob@example.org,Atlantis,US,consent given,silver,400,2026-03-01,,acme corp,Newsletter,44,no,2025-06-01,
"Cleo ""CJ""",Park,cleo@example.net,"Springfield, IL",FR,not_set,,0,,2001-07-04,,,,,,"multi
line note"
'''


def _write(tmp_path: Path, content: str | bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def pf(tmp_path: Path) -> Any:
    f = ProjectFile.create(tmp_path / "p.jstudio")
    yield f
    f.close()


def _contacts(pf: ProjectFile) -> list[Any]:
    with pf.connection() as conn:
        return conn.execute(select(t.contacts).order_by(t.contacts.c.id)).all()


def test_a_clean_file_is_imported_with_its_columns_understood(pf: ProjectFile, tmp_path: Path) -> None:
    report = import_contacts(pf, _write(tmp_path, "\ufeff" + GOOD), now=NOW)  # with a byte-order mark
    assert (report.rows_ok, report.rows_bad, report.imported, report.errors) == (3, 0, 3, [])
    assert report.mapping == {
        "First Name": "first_name", "Last Name": "last_name", "E-mail": "email", "Address 1: City": "city",
        "Country": "country", "Consent": "consent_level", "Loyalty tier": "loyalty_tier", "LTV": "lifetime_value",
        "Last purchase": "last_purchase_date", "Birthday": "birth_date", "Company": "account",
        "Lists": "subscription_lists", "Shoe size": "shoe_size", "VIP": "vip", "Signed up on": "signed_up_on",
        "Notes": "notes"}
    assert report.new_custom == {"shoe_size": "number", "vip": "boolean", "signed_up_on": "date", "notes": "text"}
    assert pf.project.settings.custom_attributes == report.new_custom
    assert report.accounts_created == 1  # "Acme Corp" and "acme corp" are one company
    ann, bob, cleo = _contacts(pf)
    assert (ann.full_name, ann.consent_level, ann.lifetime_value, ann.last_purchase_date.isoformat()) == \
        ("Ann Lee", "marketing", 1500.5, "2026-05-20")
    assert ann.custom == {"shoe_size": 38, "vip": True, "signed_up_on": "2024-01-10", "notes": "likes cats"}
    assert ann.account_id == bob.account_id is not None and cleo.account_id is None
    assert bob.consent_level == "consent_given" and bob.birth_date is None
    assert cleo.first_name == 'Cleo "CJ"' and cleo.city == "Springfield, IL" and cleo.loyalty_tier is None
    assert cleo.custom == {"notes": "multi\nline note"}
    assert ann.created_on == datetime(2026, 6, 1, 9, 30) and ann.engagement is None
    assert member_ids(pf, Segment("Newsletter", kind="subscription")) == [1, 2]
    atlantis = Segment("Atlantis", query={"blocks": [{"where": {"all": [
        {"attribute": "city", "op": "equals", "value": "Atlantis"},
        {"attribute": "vip", "op": "equals", "value": True}]}}]})
    assert member_ids(pf, atlantis) == [1]


def test_errors_are_reported_by_line_and_nothing_is_imported(pf: ProjectFile, tmp_path: Path) -> None:
    bad = GOOD.replace("2026-03-01", "01/03/2026").replace("ann@example.com", "ann(at)example.com")
    bad += "Dan,Ray,dan@example.com,Paris,FR,very much,gold,-5,2026-01-01,,,,x,maybe,2020-01-01,\n"
    bad += "Eve,Short,eve@example.com\n"
    bad += "Fay,Dup,BOB@example.org,Paris,FR,,,,,,,,,,,\n"
    report = import_contacts(pf, _write(tmp_path, bad), now=NOW)
    assert report.imported == 0 and report.rows_ok == 2 and report.rows_bad == 4
    assert [e.format() for e in report.errors] == [
        "line 2, column 'E-mail': 'ann(at)example.com' is not an e-mail address",
        "line 3, column 'Last purchase': '01/03/2026' is not a date such as 2026-12-31",
        "line 6, column 'Consent': 'very much' is not a consent level; use one of: not_set, consent_given, "
        "transactional, subscriptions, marketing, profiling",
        "line 6, column 'LTV': -5 is negative; a lifetime value cannot be",
        "line 7: it has 3 fields but the header has 16",
    ]
    # seed 004 makes two contacts with one address: a warning, not a refusal
    assert [w.format() for w in report.warnings] == [
        "line 8: the e-mail address BOB@example.org is also on line 3; both are imported as contacts of their own"]
    assert _contacts(pf) == [] and pf.project.settings.custom_attributes == {}
    assert report.new_custom["shoe_size"] == "text"  # "x" is not a number: the column is text


def test_bad_rows_can_be_skipped(pf: ProjectFile, tmp_path: Path) -> None:
    bad = GOOD.replace("ann@example.com", "not-an-address")
    report = import_contacts(pf, _write(tmp_path, bad), skip_bad_rows=True, now=NOW)
    assert (report.rows_ok, report.rows_bad, report.imported) == (2, 1, 2)
    assert [c.first_name for c in _contacts(pf)] == ["Bob", 'Cleo "CJ"']
    again = import_contacts(pf, _write(tmp_path, "email,city\nzed@example.com,Oslo\n", "more.csv"))
    assert again.imported == 1 and [c.id for c in _contacts(pf)] == [1, 2, 3]


def test_columns_can_be_mapped_by_hand(pf: ProjectFile, tmp_path: Path) -> None:
    path = _write(tmp_path, "Who,Where,Spent,Internal id,Mood\nAnn Lee,Atlantis,12.5,A-1,happy\n")
    report = import_contacts(pf, path, {"who": "Full name", "Where": "city", "Spent": "lifetime_value",
                                        "Internal id": None, "Mood": "temper"})
    assert report.mapping == {"Who": "full_name", "Where": "city", "Spent": "lifetime_value",
                              "Internal id": None, "Mood": "temper"}
    [ann] = _contacts(pf)
    assert (ann.first_name, ann.last_name, ann.full_name, ann.city) == ("Ann", "Lee", "Ann Lee", "Atlantis")
    assert ann.custom == {"temper": "happy"}
    with pytest.raises(AudienceError, match="names column 'Nope', which the file does not have"):
        import_contacts(pf, path, {"Nope": "city"})
    with pytest.raises(AudienceError, match="'Who', 'Where' all map to 'city'"):
        import_contacts(pf, path, {"Who": "city", "Where": "city"})
    with pytest.raises(AudienceError, match="'shoe size!' is not an attribute"):
        import_contacts(pf, path, {"Who": "shoe size!"})


def test_declared_custom_attributes_keep_their_type(pf: ProjectFile, tmp_path: Path) -> None:
    pf.project.update_settings(custom_attributes={"shoe_size": "number"})
    report = import_contacts(pf, _write(tmp_path, "email,shoe size\na@example.com,41\nb@example.com,big\n"))
    assert [e.format() for e in report.errors] == [
        "line 3, column 'shoe size': 'big' is not a number such as 1234.50"]
    assert report.new_custom == {}


@pytest.mark.parametrize(("values", "kind"), [
    (["1", "2.5", "-3e2"], "number"), (["yes", "No", "TRUE"], "boolean"), (["2026-01-01"], "date"),
    (["2026-01-01T10:00", "2026-01-02 11:00:00"], "datetime"), (["1", "x"], "text"), ([], "text"),
    (["0", "1"], "number"),
])
def test_type_inference(values: list[str], kind: str) -> None:
    assert infer_type(values) == kind


def test_automatic_mapping_by_label_name_and_synonym() -> None:
    header = ["Address 1: City", "EMAIL", "Mobile Phone", "Account industry", "Time-zone", "Favourite colour"]
    assert resolve_mapping(header, None, {}) == {
        "Address 1: City": "city", "EMAIL": "email", "Mobile Phone": "mobile_phone",
        "Account industry": "account.industry", "Time-zone": "time_zone", "Favourite colour": "favourite_colour"}


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\n\n", "the file is empty"),
    (b"PK\x03\x04rest of a zip", "spreadsheet workbook, not CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a CSV file"),
    ("name,city\nAnn,Zürich\n".encode("latin-1"), "line 2 is not UTF-8 text"),
    (b"first_name,,city\nA,B,C\n", "column 2 has no header"),
    (b"city,City\nA,B\n", "names a column twice"),
])
def test_files_that_are_not_usable_csv_are_refused(pf: ProjectFile, tmp_path: Path, content: bytes,
                                                   message: str) -> None:
    with pytest.raises(AudienceError, match=message):
        import_contacts(pf, _write(tmp_path, content, "bad.csv"))
    assert _contacts(pf) == []


def test_missing_file_and_read_only_project(pf: ProjectFile, tmp_path: Path) -> None:
    with pytest.raises(AudienceError, match="no such file"):
        import_contacts(pf, tmp_path / "nope.csv")
    path = _write(tmp_path, "email\na@example.com\n")
    pf.close()
    with ProjectFile.open(pf.path, readonly=True) as ro, pytest.raises(AudienceError, match="opened read-only"):
        import_contacts(ro, path)


def test_semicolon_separated_files_and_injection_text(pf: ProjectFile, tmp_path: Path) -> None:
    path = _write(tmp_path, "name;city\n\"Robert'); DROP TABLE contacts;--\";100%_town\n")
    report = import_contacts(pf, path)
    assert report.imported == 1
    [bobby] = _contacts(pf)
    assert bobby.full_name == "Robert'); DROP TABLE contacts;--" and bobby.city == "100%_town"
    with pf.connection() as conn:
        assert conn.execute(text("SELECT count(*) FROM contacts")).scalar_one() == 1


def test_a_watcher_is_told_what_the_import_is_doing_with_the_rows_read_so_far(pf: ProjectFile, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from app.audience import bulk, csv_import
    monkeypatch.setattr(csv_import, "CHUNK", 2)  # a chunk written every two good rows
    seen: list[str] = []
    with bulk.watched(seen.append):
        report = import_contacts(pf, _write(tmp_path, GOOD), now=NOW)
    assert report.imported == 3
    # new custom columns (Shoe size, VIP, ...) are typed from a first pass over the file
    assert seen == ["reading the file for the new columns' types", "checking and writing the rows",
                    "checking and writing the rows: 2 read", "checking and writing the rows: 3 read",
                    "saving the project file"]
