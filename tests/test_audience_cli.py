"""The audience commands end to end: population, contacts import, segment count and members."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audience_helpers import fill
from tests.cli_helpers import run

JOURNEY = """\
format: journey/1
name: Atlantis welcome
audience: {segments: [Contacts from Atlantis]}
steps:
  bye: {type: exit, reason: done}
segments:
  Contacts from Atlantis:
    kind: dynamic
    query:
      blocks:
        - where: {all: [{attribute: city, op: equals, value: Atlantis}]}
  Recent buyers:
    kind: dynamic
    query:
      blocks:
        - root: interactions
          where: {all: [{attribute: kind, op: equals, value: purchase}, {attribute: at, op: in_last_days, value: 7}]}
  Broken:
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: city, op: greater_than, value: 3}]}}]}
"""


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "shop.jstudio"
    assert run(capsys, "new", path)[0] == 0
    journey = tmp_path / "atlantis.yaml"
    journey.write_text(JOURNEY, encoding="utf-8")
    assert run(capsys, "import", path, journey)[0] == 0
    return path


def test_population_is_generated_once_unless_replaced(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "population", project, "--contacts", "1500", "--seed", "3", "--locale", "en_US",
                       "--locale", "fr_FR", "--as-of", "2026-06-01")
    assert code == 0 and out.startswith("Generated 1,500 contacts, 38 accounts, ")
    assert "seed 3, as of 2026-06-01, locales en_US, fr_FR" in out
    code, _, err = run(capsys, "population", project, "--contacts", "10", "--seed", "3")
    assert code == 2 and err.count("\n") == 1 and "already has contacts" in err
    assert run(capsys, "population", project, "--contacts", "10", "--seed", "3", "--replace")[0] == 0
    code, _, err = run(capsys, "population", project, "--contacts", "10", "--seed", "1", "--as-of", "June")
    assert code == 2 and "--as-of June: not a date" in err


def test_segment_count_and_members(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.store import ProjectFile
    with ProjectFile.open(project) as pf:
        fill(pf)
    assert run(capsys, "segment", "count", project, "Contacts from Atlantis") == (0, "3\n", "")
    code, out, _ = run(capsys, "segment", "members", project, "Contacts from Atlantis", "--limit", "2")
    assert code == 0 and out == "1\t\tann@example.com\n2\t\tbob@example.org\n"
    code, out, _ = run(capsys, "segment", "members", project, "Contacts from Atlantis", "--offset", "2")
    assert out == "3\t\tcleo@example.net\n"
    assert run(capsys, "segment", "count", project, "Recent buyers", "--at", "2026-06-01T12:00")[1] == "2\n"
    assert run(capsys, "segment", "count", project, "Recent buyers", "--at", "2026-05-25")[1] == "1\n"
    code, _, err = run(capsys, "segment", "count", project, "Recent buyers", "--at", "soon")
    assert code == 2 and "--at soon: not a date or date-time" in err
    code, _, err = run(capsys, "segment", "count", project, "Nobody")
    assert code == 2 and "no segment named 'Nobody'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "segment", "count", project, "Broken")
    assert code == 2 and "segment 'Broken'" in err and "'greater_than' does not apply" in err
    code, out, _ = run(capsys, "validate", project)
    assert code == 0 and out.startswith("Atlantis welcome: 0 errors") and "Segment" not in out


def test_validate_reports_a_broken_segment_query(project: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    journey = tmp_path / "broken.yaml"
    journey.write_text("format: journey/1\nname: Broken audience\naudience: {segments: [Broken]}\n"
                       "steps:\n  bye: {type: exit, reason: done}\n", encoding="utf-8")
    assert run(capsys, "import", project, journey)[0] == 0
    code, out, _ = run(capsys, "validate", project, "--journey", "Broken audience")
    assert code == 1
    assert ("  error   journey (audience): Segment 'Broken': block 1, row 1: 'greater_than' does not apply to "
            "'Address 1: City', which is text.") in out


def test_contacts_import(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,E-mail,Address 1: City,Shoe size\nAnn Lee,ann@example.com,Atlantis,38\n"
                   "Bob Stone,bob(at)example.org,Atlantis,44\n", encoding="utf-8")
    code, out, err = run(capsys, "contacts", "import", project, bad)
    assert code == 2
    assert "  Address 1: City -> city\n" in out and "  Shoe size -> shoe_size (new custom attribute, number)" in out
    assert "  line 3, column 'E-mail': 'bob(at)example.org' is not an e-mail address\n" in err
    assert err.endswith("1 of 2 rows have errors; nothing was imported (fix them, or pass --skip-bad-rows to "
                        "import the others)\n")
    assert run(capsys, "segment", "count", project, "Contacts from Atlantis")[1] == "0\n"
    code, out, _ = run(capsys, "contacts", "import", project, bad, "--skip-bad-rows", "--map", "Shoe size=")
    assert code == 0 and "Shoe size -> (not imported)" in out
    assert out.endswith("Imported 1 contacts, skipped 1 rows with errors; created 0 accounts\n")
    assert run(capsys, "segment", "count", project, "Contacts from Atlantis")[1] == "1\n"
    code, _, err = run(capsys, "contacts", "import", project, bad, "--map", "Shoe size")
    assert code == 2 and "--map Shoe size: write COLUMN=ATTRIBUTE" in err
    code, _, err = run(capsys, "contacts", "import", project, tmp_path / "none.csv")
    assert code == 2 and "no such file" in err
