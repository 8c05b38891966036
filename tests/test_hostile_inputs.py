"""Inputs are bounded and total (issue 14): each input a QA engineer found hanging or crashing the app is
refused in one line that says where, or read and written back whole. The random inputs are in
tests/test_fuzz_inputs.py; these are the cases found, replayed."""

from __future__ import annotations

import ast
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.audience import members as m
from app.audience.csv_import import import_contacts
from app.audience.query import (MAX_BLOCKS, MAX_CONDITIONS, MAX_DAYS, MAX_DEPTH, MAX_QUERY_VALUES, MAX_VALUES,
                                validate_query)
from app.codec.yamlio import dump_json, dump_yaml, parse_text, read_journey_file, read_journey_text, write_journey_text
from app.errors import AudienceError, FormatError, JourneyStudioError, ModelError, ProjectFileError
from app.model.project import Project
from app.model.segment import Segment
from app.store import ProjectFile
from tests.audience_helpers import AT, ALL, block, known_project, query, row
from tests.cli_helpers import run
from tests.samples import ANNOUNCEMENT

ROOT = Path(__file__).resolve().parent.parent


def _one_line(e: BaseException) -> str:
    message = str(e)
    assert "\n" not in message and "\r" not in message, message
    return message


# --- 1. YAML: no aliases, no tags ------------------------------------------------------------------------

def _laughs(levels: int = 9) -> str:
    """The 'billion laughs' file QA sent: each level an alias of the one before, nine times over, in a query."""
    lines = ["format: journey/1", "name: Laughs", "audience: {segments: [Laughs]}", "steps:",
             "  bye: {type: exit}", "segments:", "  Laughs:", "    query:", "      blocks:", "        - where:",
             "            any:",
             "              - &l0 {attribute: city, op: in, value: [ha, ha, ha, ha, ha, ha, ha, ha, ha]}"]
    for i in range(1, levels):
        lines.append(f"              - &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_first_alias(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(), encoding="utf-8")
    assert path.stat().st_size < 1500  # the 1.4 KB file that took more than 600 s and 4 GB
    with pytest.raises(FormatError) as e:
        read_journey_file(path)
    assert (e.value.file, e.value.line, e.value.column) == (str(path), 13, 22)
    assert "aliases (*l0) are not supported" in _one_line(e.value)


def test_importing_the_laughs_is_a_user_error_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, path = tmp_path / "shop.jstudio", tmp_path / "laughs.yaml"
    path.write_text(_laughs(), encoding="utf-8")
    assert run(capsys, "new", project)[0] == 0
    code, _, err = run(capsys, "import", project, path)
    assert code not in (0, 3) and f"{path}:13:22: aliases (*l0) are not supported" in err
    assert len(err.strip().splitlines()) == 1


def test_every_alias_is_refused_even_a_small_one() -> None:
    with pytest.raises(FormatError, match=r"<input>:3:6: aliases \(\*base\) are not supported"):
        parse_text("a: &base {x: 1}\nb:\n  c: *base\n")
    with pytest.raises(FormatError, match="aliases"):  # a merge key is an alias too
        parse_text("a: &base {x: 1}\nb: {<<: *base, y: 2}\n")
    assert parse_text("a: &lone {x: 1}\n") == {"a": {"x": 1}}  # an anchor alone repeats nothing


@pytest.mark.parametrize("value", ["!!int abc", "!!timestamp 2026-12-01", "!!python/object/apply:os.system [ls]",
                                   "!!binary aGk=", "!!set {a, b}", "!!float x", "!!str 007", "!custom x", "! 12"])
def test_explicit_tags_are_refused_where_they_are_written(value: str) -> None:
    text = ANNOUNCEMENT.replace("subject: \"Meet the new X\"", f"subject: {value}")
    with pytest.raises(FormatError) as e:
        read_journey_text(text, file="tagged.yaml")
    line = ANNOUNCEMENT.splitlines().index(next(x for x in ANNOUNCEMENT.splitlines() if "Meet the new X" in x)) + 1
    assert (e.value.file, e.value.line) == ("tagged.yaml", line) and e.value.column is not None
    assert "explicit tags" in _one_line(e.value)


def test_integers_too_long_for_python_are_refused_not_crashed() -> None:
    with pytest.raises(FormatError, match="a whole number of 5,000 digits is too long"):
        parse_text("a: " + "9" * 5000)
    with pytest.raises(FormatError, match="version must be a whole number"):  # long, but for the decoder to say
        read_journey_text(ANNOUNCEMENT.replace("target: contacts", "version: 99999999999999999999\ntarget: contacts"))


def test_behaviour_and_profile_files_use_the_same_reader(tmp_path: Path) -> None:
    from app.audience.profile import read_profile_text
    from simulator.behaviour_file import read_behaviour_file
    path = tmp_path / "behaviour.yaml"
    path.write_text("event_rates: &r {purchase: 0.1}\nmore: *r\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"behaviour.yaml:2:7: aliases"):
        read_behaviour_file(path)
    with pytest.raises(FormatError, match=r"profile.yaml:1:7: explicit tags"):
        read_profile_text("seed: !!python/name:os.system x\n", file="profile.yaml")


_YAML_READERS = {"load", "safe_load", "full_load", "unsafe_load", "load_all", "safe_load_all", "full_load_all",
                 "unsafe_load_all", "compose", "compose_all", "parse", "scan", "Loader", "SafeLoader", "FullLoader",
                 "UnsafeLoader", "BaseLoader", "CLoader", "CSafeLoader", "CFullLoader", "CUnsafeLoader",
                 "CBaseLoader", "YAML"}


def test_no_module_reads_yaml_but_the_codec() -> None:
    """Every YAML entry point goes through app.codec.yamlio.parse_text (its loader refuses aliases and tags):
    no other module calls a YAML reader (importing yaml for its error type is fine)."""
    readers = []
    for folder in ("app", "simulator", "designer"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == "app/codec/yamlio.py":
                continue
            source = path.read_text(encoding="utf-8")
            if "yaml" not in source and "ruamel" not in source:
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Attribute) and node.attr in _YAML_READERS and isinstance(node.value, ast.Name) \
                        and node.value.id in ("yaml", "ruamel"):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}: yaml.{node.attr}")
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("yaml", "ruamel")) \
                        and any(a.name in _YAML_READERS for a in node.names):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import ...")
    assert readers == []


# --- 2. CSV import -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pf(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One project for the import tests: each file has errors, so nothing is imported into it."""
    project = Project("Shop")
    project.update_settings(custom_attributes={"score": "number", "seen": "datetime"})
    f = ProjectFile.create(tmp_path_factory.mktemp("shop") / "p.jstudio", project=project)
    yield f
    f.close()


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("First name,E-mail,Signed up,LTV,score,seen\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("cells, column, says", [
    ('Ann,ann@example.com,0001-01-01T00:00+01:00,1,2,', "Signed up", "out of range"),
    ('Ann,ann@example.com,,1,2,0001-01-01T00:00+01:00', "seen", "out of range"),
    ('Ann,ann@example.com,9999-12-31T23:59-01:00,1,2,', "Signed up", "out of range"),
    (f'Ann,ann@example.com,,{2**63 + 1},2,', "LTV", "out of range"),
    (f'Ann,ann@example.com,,1,{2**63 + 1},', "score", "out of range"),
    (f'Ann,ann@example.com,,1,-{10**30},', "score", "out of range"),
    ('"An\nn",ann@example.com,,1,2,', "First name", "line break"),
    ('"An\rn",ann@example.com,,1,2,', "First name", "line break"),
    ('Ann,"ann@exa\u2028mple.com",,1,2,', "E-mail", "line break"),
    ('A\tnn,ann@example.com,,1,2,', "First name", "control character"),
    ('Ann\t,ann\u2028,,1,2,', "E-mail", "not an e-mail address"),  # a cell's ends are trimmed first
    ('Ann,ann@exa\x01mple.com,,1,2,', "E-mail", "control character"),
    ("Ann,ann@example.com,,1,2," + "x" * 10_001, "seen", "10,001 characters"),
])
def test_bad_cells_are_one_line_errors_naming_file_line_and_column(pf: ProjectFile, tmp_path: Path, cells: str,
                                                                  column: str, says: str) -> None:
    path = _csv(tmp_path, "Bob,bob@example.com,2026-01-01,5,3,2026-01-02T10:00\n" + cells + "\n")
    report = import_contacts(pf, path)
    assert (report.rows_ok, report.rows_bad, report.imported) == (1, 1, 0)
    [error] = report.errors
    assert (error.line, error.column) == (3, column) and says in _one_line(error.format())
    first = report.first_error()
    assert isinstance(first, AudienceError)
    assert _one_line(first).startswith(f"{path}: line 3, column '{column}': ") and says in str(first)


def test_a_nul_anywhere_is_refused(pf: ProjectFile, tmp_path: Path) -> None:
    padding = "".join(f"P{i},p{i}@example.com,,1,2,\n" for i in range(3000))  # past the 64 KB the sniffer reads
    path = _csv(tmp_path, padding + "Ann,ann@example.com,,1,2,likes\x00cats\n")
    assert path.stat().st_size > 64 * 1024
    report = import_contacts(pf, path)
    assert report.rows_bad == 1 and "NUL character" in report.errors[0].format()
    assert report.errors[0].line == 3002


def test_the_cli_says_a_bad_cell_in_one_line_and_exits_with_a_user_error(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "shop.jstudio"
    assert run(capsys, "new", project)[0] == 0
    path = _csv(tmp_path, '"An\nn",ann@example.com,0001-01-01T00:00+01:00,' + f"{2**63 + 1},2,\n")
    code, _, err = run(capsys, "contacts", "import", project, path)
    assert code not in (0, 3), err  # a user's error, never "internal error"
    assert "line 2, column 'First name': 'An\\nn' holds a line break" in err
    assert "line 2, column 'Signed up': '0001-01-01T00:00+01:00' is out of range" in err


def test_a_long_customer_id_makes_its_column_text_not_a_rounded_number(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("E-mail,Customer id\nann@example.com,123456789012345678901\nbob@example.com,7\n",
                    encoding="utf-8")
    with ProjectFile.create(tmp_path / "ids.jstudio") as pf:
        report = import_contacts(pf, path)
    assert report.new_custom == {"customer_id": "text"} and report.imported == 2


# --- 3. segment values ---------------------------------------------------------------------------------------

@pytest.fixture
def known(tmp_path: Path) -> Any:
    f = known_project(tmp_path / "known.jstudio")
    yield f
    f.close()


@pytest.mark.parametrize("bad_row", [
    row("created_on", "in_last_days", 1_000_000_000),
    row("created_on", "in_last_days", 1e20),
    row("last_purchase_date", "not_in_last_days", 10**20),
    row("city", "ends_with", "\x00"),
    row("city", "in", ["Atlantis", "x\x00"]),
    row("city", "contains", "x" * 1001),
    row("city", "in", ["x"] * 1001),
    row("lifetime_value", "greater_than", 10**400),
    row("lifetime_value", "at_least", 2**63 + 1),
    row("lifetime_value", "between", [0, 1e300]),
    row("birth_date", "between", ["2000-01-01", "9999-12-31"]),
    row("birth_date", "less_than", "0001-01-01"),
    row("created_on", "equals", "0001-01-01T00:00+01:00"),
    row("created_on", "between", ["2026-01-01", "9999-12-31T23:59:59-05:00"]),
    row("subscription_lists", "contains", "News\x00letter"),
])
def test_values_out_of_bounds_are_problems_and_counting_says_so(known: ProjectFile,
                                                                bad_row: dict[str, Any]) -> None:
    q = query(block(bad_row))
    problems = validate_query(q)
    assert len(problems) == 1 and problems[0].code == "value-type", problems
    assert "\n" not in problems[0].format()
    with pytest.raises(AudienceError) as e:
        m.count(known, Segment("Hostile", query=q), AT)
    _one_line(e.value)


def test_the_cli_counts_a_segment_with_a_huge_look_back_as_a_user_error(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    project, path = tmp_path / "shop.jstudio", tmp_path / "recent.yaml"
    path.write_text(IN_LIST.replace("{attribute: city, op: in, value: [Paris, Lyon]}]}",
                                    "{attribute: created_on, op: in_last_days, value: 1000000000}]}"), encoding="utf-8")
    assert run(capsys, "new", project)[0] == 0
    assert run(capsys, "import", project, path)[0] == 0
    code, _, err = run(capsys, "segment", "count", project, "Paris or Lyon")
    assert code not in (0, 3) and "is not a number of days" in err and len(err.strip().splitlines()) == 1


def test_the_bounds_themselves_count() -> None:
    at_bounds = query(block(row("created_on", "in_last_days", MAX_DAYS), row("birth_date", "between",
                            ["1800-01-01", "2999-12-31"]), row("lifetime_value", "at_most", 10**15)))
    assert validate_query(at_bounds) == []


def test_a_look_back_past_year_one_counts_everyone_with_a_date(known: ProjectFile) -> None:
    everyone = query(block(row("created_on", "in_last_days", MAX_DAYS)))
    assert m.count(known, Segment("All", query=everyone), AT) == len(ALL) - 1  # contact 6 has no date
    assert m.count(known, Segment("All", query=everyone), date(1801, 1, 1)) == 0
    with pytest.raises(AudienceError, match="out of range"):
        m.count(known, Segment("All", query=everyone), datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_nul_no_longer_matches_every_contact(known: ProjectFile) -> None:
    q = query(block(row("city", "ends_with", "\x00")))
    assert validate_query(q) and "NUL" in validate_query(q)[0].message


@pytest.mark.parametrize("hostile", [
    {"blocks": [{"where": {"all": [row("lifetime_value", "equals", 10**5000)]}}]},
    {"blocks": [{10**5000: 1}]},
    {"blocks": [{"where": {"all": [{"attribute": "city", "op": "equals", "value": "x", 10**5000: 1}]}}]},
    {10**5000: 1, "blocks": [{}]},
    {"blocks": [{"where": {"all": [row("city", "in", [[[[["deep"]]]]])]}}]},
    {"blocks": [{}] * (MAX_BLOCKS + 1)},
    {"blocks": [{"where": {"any": [row("city", "equals", "x")] * (MAX_CONDITIONS + 1)}}]},
    {"blocks": [{"where": {"all": [{"any": [{"all": []}]}]}}]},
    {"blocks": [{"where": {"all": [row("birth_date", "between", ["2000-01-01", "9999-12-31"])]}}]},
    {"blocks": [{"where": {"all": [row("created_on", "at_most", "0001-01-01T00:00+01:00")]}}]},
])
def test_validate_query_never_raises(hostile: dict[str, Any]) -> None:
    problems = validate_query(hostile)
    assert problems and all("\n" not in p.format() for p in problems)


def test_validate_query_survives_a_structure_it_cannot_even_walk() -> None:
    deep: Any = row("city", "equals", "x")
    for _ in range(5000):
        deep = {"all": [deep]}
    assert validate_query({"blocks": [{"where": deep}]})[0].code == "too-deep"

    class Hostile(dict):  # a mapping that raises when read: the contract holds for values no check foresaw
        def get(self, *a: Any) -> Any:
            raise RuntimeError("boom")
    assert [p.code for p in validate_query(Hostile(blocks=[]))] == ["unreadable"]


def test_the_largest_queries_accepted_still_count(known: ProjectFile) -> None:
    """At the bounds (blocks nested as deep as allowed, many blocks combined in turn, in-lists with as many values
    as allowed), SQLite's expression depth and variable count and Python's stack all hold."""
    def nested(depth: int) -> dict[str, Any]:
        group: dict[str, Any] = {"all": [row("city", "contains", "a")]}
        for _ in range(depth):
            group = {"any": [group, row("city", "equals", "x")]}
        return group
    ops = ("union", "exclude", "intersect")
    deep = {"blocks": [{"op": ops[i % 3], "where": nested(MAX_DEPTH - 1)} for i in range(15)]}
    many = {"blocks": [{"op": ops[i % 3], "where": {"all": [row("city", "contains", "a")]}}
                       for i in range(MAX_BLOCKS)]}
    wide = query(block(*[row("city", "in", [f"c{i}-{j}" for j in range(MAX_VALUES)])
                         for i in range(MAX_QUERY_VALUES // MAX_VALUES - 1)], any_=True))
    for q in (deep, many, wide):
        assert validate_query(q) == []
        assert isinstance(m.count(known, Segment("Big", query=q), AT), int)
    wider = query(block(*[row("city", "in", [f"c{i}-{j}" for j in range(MAX_VALUES)])
                          for i in range(MAX_QUERY_VALUES // MAX_VALUES + 1)], any_=True))
    assert [p.code for p in validate_query(wider)] == ["too-many-values"]


# --- 4. journey files: what is read is written back --------------------------------------------------------

IN_LIST = """\
format: journey/1
name: In list
audience: {segments: [Paris or Lyon], suppress: ''}
steps:
  ask: {type: if-then, condition: {attribute: city, op: in, value: [Paris, Lyon]}, yes: end, no: end}
segments:
  Paris or Lyon:
    query:
      blocks:
        - where: {all: [{attribute: city, op: in, value: [Paris, Lyon]}]}
"""


def _round_trip(text: str, *, as_json: bool = False) -> tuple[Any, str]:
    j, contents, segments = read_journey_text(text, journey_id="j1")
    written = write_journey_text(j, {c.name: c for c in contents}, {s.name: s for s in segments}, as_json=as_json)
    return (j, contents, segments), written


@pytest.mark.parametrize("as_json", [False, True])
def test_an_in_list_is_written_back_and_reads_the_same(as_json: bool) -> None:
    first, written = _round_trip(IN_LIST, as_json=as_json)
    second, again = _round_trip(written, as_json=as_json)
    assert first == second and written == again
    j, _, [segment] = first
    assert j.step("ask").props["condition"]["value"] == ["Paris", "Lyon"]
    assert type(j.step("ask").props["condition"]["value"]) is list
    assert segment.query == {"blocks": [{"where": {"all": [{"attribute": "city", "op": "in",
                                                             "value": ["Paris", "Lyon"]}]}}]}


def test_an_empty_suppress_means_no_suppression_and_survives_the_round_trip() -> None:
    (j, _, _), written = _round_trip(IN_LIST)
    assert j.audience.suppress is None and "suppress" not in written
    assert _round_trip(written)[0][0] == j


def test_tuples_in_a_model_are_written_as_lists() -> None:
    j, contents, _ = read_journey_text(IN_LIST, journey_id="j1")
    tupled = Segment("Paris or Lyon", query={"blocks": ({"where": {"all": ({"attribute": "city", "op": "in",
                                                                             "value": ("Paris", "Lyon")},)}},)})
    written = write_journey_text(j, {}, {tupled.name: tupled})
    assert read_journey_text(written, journey_id="j1")[2][0].query == {"blocks": [{"where": {"all": [
        {"attribute": "city", "op": "in", "value": ["Paris", "Lyon"]}]}}]}


@pytest.mark.parametrize("value", ["a\x85b", "a\u2028b", "a\u2029b", "cr\rlf", "bom\ufeff", "nul\x00", "tab\tx",
                                   "lone \ud800 surrogate", "trailing \n", " \n leading"])
def test_every_text_survives_yaml_and_json(value: str) -> None:
    j, _, _ = read_journey_text(ANNOUNCEMENT, journey_id="j1")
    j.update(description=value)
    for as_json in (False, True):
        written = write_journey_text(j, as_json=as_json)
        written.encode("utf-8")  # a lone surrogate is escaped, not written raw
        assert read_journey_text(written, journey_id="j1")[0].description == value


@pytest.mark.parametrize("doc, says", [
    (".nan", "not a finite number"),
    ("-.inf", "not a finite number"),
    ("{1: a}", "a key must be text"),
    ("99999999999999999999", "too large"),
])
def test_free_form_values_that_could_not_be_written_back_are_refused(doc: str, says: str) -> None:
    text = IN_LIST.replace("op: in, value: [Paris, Lyon]}, yes", f"op: equals, value: {doc}}}, yes")
    with pytest.raises(FormatError, match=says) as e:
        read_journey_text(text, file="f.yaml")
    assert e.value.line is not None


def test_a_step_id_with_a_line_break_is_refused_in_one_line() -> None:
    with pytest.raises(FormatError) as e:
        read_journey_text('format: journey/1\nname: X\nsteps:\n  "bye\\n": {type: exit}\n')
    assert "is not a valid step id" in _one_line(e.value)


def test_names_with_line_breaks_are_quoted_on_one_line() -> None:
    with pytest.raises(FormatError) as e:
        read_journey_text('format: journey/1\nname: X\nsteps:\n  a: {type: email, next: "b\\nc"}\n')
    assert "'b\\nc'" in _one_line(e.value)


def test_dates_and_durations_out_of_range_are_refused() -> None:
    for old, new, says in [("2026-12-10T09:00", "9999-12-31T23:59", "out of range"),
                           ("within: 1d", "within: 999999999d", "more than 100 years"),
                           ("within: 1d", "within: 100000000000000000000", "more than 100 years")]:
        with pytest.raises(FormatError, match=says):
            read_journey_text(ANNOUNCEMENT.replace(old, new))


# --- 5. project file documents ------------------------------------------------------------------------------

@pytest.fixture
def frozen(tmp_path: Path) -> Any:
    project = Project("Shop")
    j, contents, _ = read_journey_text(ANNOUNCEMENT, journey_id="j1")
    project.add_journey(j)
    for c in contents:
        project.put_content(c)
    f = ProjectFile.create(tmp_path / "p.jstudio", project=project)
    f.freeze("Product announcement")
    yield f
    f.close()


def _edit(pf: ProjectFile, sql: str) -> None:
    with pf.connection(write=True) as conn:
        conn.execute(text(sql))


@pytest.mark.parametrize("sql, says", [
    ("UPDATE journey_versions SET frozen_at = 'last tuesday'", "version 1 is damaged: its time stamp 'last tuesday'"),
    ("UPDATE journey_versions SET frozen_at = 12345", "version 1 is damaged: its time stamp '12345'"),
    ("UPDATE journey_versions SET version = 'one'", "a frozen version is damaged: its number 'one'"),
])
def test_damaged_versions_are_refused_naming_the_journey_and_version(frozen: ProjectFile, sql: str,
                                                                      says: str) -> None:
    _edit(frozen, sql)  # as a hand edit would: SQLite keeps text in an INTEGER column, a number in a TEXT one
    with pytest.raises(ProjectFileError) as e:
        frozen.versions("Product announcement")
    assert f"{frozen.path}: journey 'Product announcement'" in _one_line(e.value) and says in str(e.value)


@pytest.mark.parametrize("document, says", [
    ("'{not json'", "its document is not JSON"),
    ("x'00ff'", "its document is not JSON"),
    ("'" + "[" * 100_000 + "'", "its document is not JSON"),
    ("'{\"format\": \"journey/1\", \"name\": \"X\", \"steps\": {\"a\": {\"type\": \"nope\"}}}'", "unknown tile type"),
    ("'[1, 2]'", "a journey document must be a mapping"),
    ("7", "is damaged"),
])
def test_a_damaged_version_document_is_refused_naming_it(frozen: ProjectFile, document: str, says: str) -> None:
    _edit(frozen, f"UPDATE journey_versions SET document = {document}")
    assert [v for v, _ in frozen.versions("Product announcement")] == [1]  # the list does not read documents
    with pytest.raises(ProjectFileError) as e:
        frozen.read_version("Product announcement", 1)
    message = _one_line(e.value)
    assert message.startswith(f"{frozen.path}: journey 'Product announcement', version 1 is damaged")
    assert says in message


@pytest.mark.parametrize("sql, says", [
    ("UPDATE milestones SET at = 'yesterday' WHERE kind = 'exported'", "its time stamp 'yesterday'"),
    ("UPDATE milestones SET at = 3.5 WHERE kind = 'exported'", "its time stamp '3.5'"),
    ("UPDATE milestones SET detail = x'01' WHERE kind = 'exported'", "its kind and detail must be text"),
])
def test_damaged_milestones_are_refused_naming_the_row(frozen: ProjectFile, sql: str, says: str) -> None:
    _edit(frozen, sql)
    with pytest.raises(ProjectFileError) as e:
        frozen.milestones("Product announcement")
    message = _one_line(e.value)
    assert f"{frozen.path}: journey 'Product announcement', milestone " in message and says in message


@pytest.mark.parametrize("sql, says", [
    ("UPDATE steps SET props = '{oops' WHERE step_id = 'clicked'",
     "journey 'Product announcement', step 'clicked': props is damaged: its document is not JSON"),
    ("UPDATE steps SET outputs = x'ff' WHERE step_id = 'clicked'",
     "journey 'Product announcement', step 'clicked': outputs is damaged: its document is not JSON"),
    ("UPDATE steps SET x = 'left' WHERE step_id = 'launch'",
     "journey 'Product announcement', step 'launch': the position ('left', None) is not two numbers"),
    ("UPDATE journeys SET settings = '[1'", "journey 'Product announcement': settings is damaged"),
    ("UPDATE journeys SET version = 'two'", "journey 'Product announcement': the version 'two' is not a whole number"),
    ("UPDATE content SET data = 'nope' WHERE name = 'Product launched text'",
     "content 'Product launched text': data is damaged: its document is not JSON"),
    ("UPDATE project SET settings = '{'", "project settings: settings is damaged"),
])
def test_a_damaged_row_is_named_when_the_project_opens(frozen: ProjectFile, sql: str, says: str) -> None:
    path = frozen.path
    _edit(frozen, sql)
    frozen.close()
    with pytest.raises(ProjectFileError) as e:
        ProjectFile.open(path).close()
    assert says in _one_line(e.value)


def test_time_stamps_the_loader_does_not_use_do_not_stop_the_project_opening(frozen: ProjectFile) -> None:
    path = frozen.path
    _edit(frozen, "UPDATE journeys SET created_at = 'garbage', updated_at = 7")
    frozen.close()
    with ProjectFile.open(path) as again:
        assert again.project.journey("Product announcement").version == 2


def test_undamaged_history_reads_as_before(frozen: ProjectFile) -> None:
    [(number, at)] = frozen.versions("Product announcement")
    assert number == 1 and at.tzinfo is not None
    assert [k for k, _, _ in frozen.milestones("Product announcement")] == ["created", "exported"]
    assert frozen.read_version("Product announcement", 1)[0].name == "Product announcement"


def test_writing_a_value_no_reader_makes_is_a_model_error_not_a_yaml_traceback() -> None:
    for dump in (dump_json, dump_yaml):
        with pytest.raises(ModelError, match="cannot hold a date value"):
            dump({"format": "journey/1", "when": date(2026, 1, 1)})


def test_errors_are_the_projects_own() -> None:
    assert issubclass(FormatError, JourneyStudioError) and issubclass(AudienceError, JourneyStudioError)


def test_a_journey_name_with_a_line_break_is_quoted_on_one_line() -> None:
    from app.errors import ModelError
    from app.model.journey import Journey
    from app.model.project import Project
    project = Project("p")
    project.add_journey(Journey(project.new_journey_id(), "Two\nlines"))
    for attempt in (lambda: project.journey("no\nsuch"),
                    lambda: project.add_journey(Journey(project.new_journey_id(), "Two\nlines"))):
        with pytest.raises(ModelError) as caught:
            attempt()
        assert "\n" not in str(caught.value) and "Two\\nlines" in str(caught.value)
