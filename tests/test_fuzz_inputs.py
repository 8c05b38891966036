"""Fuzzing the inputs a user hands the app (issue 14): journey files (YAML and JSON, mutated and generated), CSV
contact files and segment queries. Whatever the input, nothing escapes but the project's own errors, each one
line; what is accepted is written back and read again to the same thing, and a segment query that validates
counts (in SQL and in the simulator's evaluator, to the same number). Each test runs a bounded number of
examples, a few seconds at most; the inputs found by hand are replayed in tests/test_hostile_inputs.py."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.audience import members as m
from app.audience.base_store import read_base
from app.audience.csv_import import import_contacts
from app.audience.evaluate import members_at
from app.audience.query import MAX_DAYS, root_attributes, validate_query
from app.codec.plain import journey_to_doc
from app.codec.yamlio import dump_json, read_journey_text, write_journey_text
from app.errors import JourneyStudioError
from app.model.attributes import OPERATORS, STANDARD_ATTRIBUTES
from app.model.project import Project
from app.model.segment import Segment
from app.resources import resource_path
from app.store import ProjectFile
from app.validation.checks import check_journey
from tests.audience_helpers import AT, CUSTOM, known_project
from tests.samples import ANNOUNCEMENT
from tests.test_hostile_inputs import IN_LIST  # the `in` list and empty suppression a user exported
from tests.strategies import content_for, journeys

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _one_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message, message


def _refused_in_one_line(e: JourneyStudioError) -> None:
    _one_line(str(e))


# --- journey files ------------------------------------------------------------------------------------------

SEEDS = [ANNOUNCEMENT, IN_LIST] + [p.read_text(encoding="utf-8")
                                   for p in sorted(resource_path("templates").glob("*.yaml"))]
SEEDS.append(dump_json(journey_to_doc(read_journey_text(ANNOUNCEMENT)[0])))
# what makes YAML (and its readers) trip: aliases, tags, directives, indicators, escapes, numbers, control characters
TOKENS = ["&a ", "*a", "<<: *a", "!!int ", "!!timestamp ", "!!python/object:os.system ", "! ", "!x ", "%YAML 1.1\n",
          "---\n", "...\n", "? ", "- ", ": ", "{", "}", "[", "]", ",", "#", "|\n", ">-\n", "'", '"', "\\", "\\x85",
          "\\u2028", "\\ud800", "\\0", "\t", "\x00", "\x85", "\u2028", "\ufeff", "\r", "\n  ", "\n", "  ",
          "9" * 25, "9" * 400, "1e400", "-.inf", ".nan", "0x10", "0o7", "1_000", "12:30", "2026-12-01",
          "9999-12-31T23:59", "0001-01-01", "null", "~", "true", "yes", "no", "end", "format: journey/1", "steps:",
          "segments:", "query: {blocks: [{where: {all: [", "{attribute: city, op: in, value: [", "value: ", "within: ",
          "999999999d", "suppress: ''", "layout: {", "[1e308, -1e308]"]


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "insert", "delete", "duplicate", "char"]))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "duplicate":
            piece = text[at:at + draw(st.integers(1, 80))]
            text = text[:at] + piece * draw(st.integers(2, 4)) + text[at:]
        else:
            text = text[:at] + draw(st.characters()) + text[at + 1:]
    return text


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70), st.floats(),
                        st.text(max_size=12), st.sampled_from(["end", "email", "contacts", "1d", "2026-12-01T09:00",
                                                               "Europe/Paris", "in", "city", "union", "all"]))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["type", "next", "value", "op", "attribute", "blocks", "where", "all", "segments", "query"])), inner,
        max_size=4)), max_leaves=12)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _doc(text: str) -> dict[str, Any]:
    j, contents, segments = read_journey_text(text)
    return json.loads(dump_json(journey_to_doc(j, {c.name: c for c in contents}, {s.name: s for s in segments})))


_SEED_DOCS = [_doc(ANNOUNCEMENT), _doc(IN_LIST)]


@st.composite
def generated_texts(draw: st.DrawFn) -> str:
    """A seed document with one value (anywhere) replaced by, or joined by, a random JSON-like value."""
    doc = json.loads(json.dumps(draw(st.sampled_from(_SEED_DOCS))))
    path = draw(st.sampled_from(list(_paths(doc))[1:]))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    value = draw(json_values)
    if isinstance(parent, dict) and draw(st.booleans()):
        parent[draw(st.text(max_size=8))] = value
    else:
        parent[path[-1]] = value
    import yaml  # only to write what a careless editor or generator might hand us
    if draw(st.booleans()):
        return json.dumps(doc, ensure_ascii=draw(st.booleans()))
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), default_flow_style=draw(st.booleans()))


def _read_and_write_back(text: str) -> None:
    """Read a text; if accepted, its YAML and JSON forms read to the same journey, content and segments."""
    try:
        first = read_journey_text(text, file="fuzz.yaml", journey_id="j1")
    except JourneyStudioError as e:
        _refused_in_one_line(e)
        return
    j, contents, segments = first
    _check(j, contents, segments)
    for as_json in (False, True):
        written = write_journey_text(j, {c.name: c for c in contents}, {s.name: s for s in segments}, as_json=as_json)
        written.encode("utf-8")
        again = read_journey_text(written, file="again", journey_id="j1")
        assert again[0] == j
        assert {c.name: c for c in again[1]} == {c.name: c for c in contents if c.name in {x.name for x in again[1]}}
        assert {s.name: s for s in again[2]} == {s.name: s for s in segments if s.name in {x.name for x in again[2]}}
        assert write_journey_text(*again[:1], {c.name: c for c in again[1]}, {s.name: s for s in again[2]},
                                  as_json=as_json) == written


def _check(j: Any, contents: list[Any], segments: list[Segment]) -> None:
    """The check for errors runs every rule on what was read, each finding one line."""
    project = Project("Fuzz")
    try:
        project.add_journey(j.clone())
        for c in contents:
            project.put_content(c)
        for s in segments:
            project.put_segment(s)
    except JourneyStudioError as e:
        _refused_in_one_line(e)
        return
    for finding in check_journey(project.journeys[0], project, for_export=True):
        assert finding.code != "check-failed", finding.message
        _one_line(finding.format())


@FAST
@given(mutated_texts())
def test_mutated_journey_files_are_read_or_refused_in_one_line(text: str) -> None:
    _read_and_write_back(text)


@FAST
@given(generated_texts())
def test_generated_journey_documents_are_read_or_refused_in_one_line(text: str) -> None:
    _read_and_write_back(text)


@FAST
@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_in_one_line(text: str) -> None:
    _read_and_write_back(text)


# import -> export -> import over generated journeys, with the free-form values a hand-written file may hold

plain_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63 + 1, 2**63 - 1), st.floats(allow_nan=False,
              allow_infinity=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=10)


@st.composite
def journeys_with_free_values(draw: st.DrawFn) -> tuple[Any, dict[str, Any], dict[str, Segment]]:
    j = draw(journeys(max_steps=5))
    for step in j:
        if step.type == "if-then" and "condition" in step.props:
            step.props["condition"]["value"] = draw(plain_values)
    from app.codec.plain import referenced_segments
    segments = {n: Segment(n, entity=j.target, query=draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["blocks", "list", "x"]), plain_values, max_size=2))))
        for n in referenced_segments(j)}
    return j, content_for(j), segments


def _lists(v: Any) -> Any:
    """`v` as a reader gives it back: tuples are lists."""
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    return v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys_with_free_values(), st.booleans())
def test_import_export_import_gives_the_same_journey(case: Any, as_json: bool) -> None:
    j, content, segments = case
    text = write_journey_text(j, content, segments, as_json=as_json)
    first = read_journey_text(text, journey_id=j.id)
    assert [s.query for s in first[2]] == [_lists(segments[s.name].query) for s in first[2]]
    exported = write_journey_text(first[0], {c.name: c for c in first[1]}, {s.name: s for s in first[2]},
                                  as_json=as_json)
    second = read_journey_text(exported, journey_id=j.id)
    assert second == first and exported == text


# --- CSV contact files --------------------------------------------------------------------------------------

COLUMNS = ["First name", "Last name", "Full name", "E-mail", "Mobile", "City", "Country", "Signed up", "Birthday",
           "LTV", "Consent", "Loyalty tier", "Lists", "Company", "Company size", "Notes", "Score", "Seen", "VIP"]
CELLS = ["", " ", "Ann", "O'Brien", "Zoë", "ann@example.com", "a@b.c", "+33 6 12 34 56 78", "2026-12-01",
         "2026-12-01T09:30", "2026-12-01 09:30:00+02:00", "0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00",
         "1799-12-31", "3000-01-01", "2026-02-30", "1e15", "1e16", "-1e308", "1e400", "nan", "inf", str(2**63 + 1),
         "9" * 50, "0", "-5", "1,5", "1_000", "yes", "no", "marketing", "gold", "Newsletter;Offers", "a|b,c",
         "line\nbreak", "cr\rhere", "tab\there", "nul\x00", "\u2028", "\ufeff", "\x85", '"quoted"', "x" * 10_001,
         "=cmd|' /C calc'!A0", "Acme Corp", "500"]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.one_of(st.sampled_from(COLUMNS), st.text(min_size=1, max_size=10)), min_size=1,
                           max_size=6))
    cells = st.one_of(st.sampled_from(CELLS), st.text(max_size=15))
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header) + draw(st.integers(0, 1))),
                         max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(st.sampled_from([",", ";", "\t"])))
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:  # damage the bytes too: not UTF-8, quotes left open, binary
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b'"', b"\x00", b"PK\x03\x04", b"\r", b"\n\n"])) + data[at:]
    return data


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectFile]:
    project = Project("Shop")
    project.update_settings(custom_attributes={"score": "number", "seen": "datetime", "vip": "boolean"})
    pf = ProjectFile.create(tmp_path_factory.mktemp("csv") / "shop.jstudio", project=project)
    yield pf
    pf.close()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=csv_files(), skip=st.booleans())
def test_csv_files_are_imported_or_refused_in_one_line(shop: ProjectFile, tmp_path: Path, data: bytes,
                                                       skip: bool) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data)
    try:
        report = import_contacts(shop, path, skip_bad_rows=skip)
    except JourneyStudioError as e:
        _refused_in_one_line(e)
        return
    for problem in report.errors + report.warnings:
        _one_line(problem.format())
    first = report.first_error()
    assert (first is None) == (not report.errors)
    if first is not None:
        _refused_in_one_line(first)


# --- segment queries ----------------------------------------------------------------------------------------

EDGE_VALUES = [0, -1, 1.5, 10**15, -10**15, 10**15 + 1, 2**63, 10**400, float("nan"), float("inf"), 1e300, True,
               None, "", "x", "%", "_", "\\", "'", '"', "a\x00", "\x00", "Zoë", "line\nbreak", "x" * 1000,
               "x" * 1001, "1800-01-01", "2999-12-31", "1799-12-31", "3000-01-01", "0001-01-01", "9999-12-31",
               "2026-06-01", "2026-06-01T12:00", "2999-12-31T23:59:59-12:00", "1800-01-01T00:00+14:00",
               "0001-01-01T00:00+01:00", "9999-12-31T23:59:59-05:00", "2026-02-30", "gold", "Newsletter",
               MAX_DAYS, MAX_DAYS + 1, 10**20, 1e20, [], ["Atlantis"], ["a", "b"] * 600, [1, 2], ["1800-01-01",
               "2999-12-31"], ["2999-12-31", "1800-01-01"], [0, 10**15], [[["deep"]]], {"a": 1}]
ATTRIBUTES = list(STANDARD_ATTRIBUTES) + list(CUSTOM) + ["kind", "at", "value", "name", "size", "nope", "", 7]
ROOTS = ["contacts", "contacts", "account", "interactions", None, None, "people"]
BLOCK_OPS = ["union", "exclude", "intersect", None, None, "xor"]

values = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(), st.floats(), st.text(max_size=8),
                   st.lists(st.one_of(st.text(max_size=5), st.sampled_from(EDGE_VALUES[:40])), max_size=4))


@st.composite
def hostile_rows(draw: st.DrawFn) -> Any:
    """A row of any shape: attribute, operator and value each from everything (most do not fit together)."""
    r: dict[Any, Any] = {"attribute": draw(st.sampled_from(ATTRIBUTES)),
                         "op": draw(st.sampled_from(list(OPERATORS) + ["like", None]))}
    if draw(st.integers(0, 5)):
        r["value"] = draw(values)
    if draw(st.integers(0, 20)) == 0:
        r[draw(st.sampled_from(["extra", 1, None]))] = 1
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([[], "row", 3, {"any": []}]))
    return r


# values of each type, to the edges of what validates (and a little beyond, to be refused)
NUMBERS = [0, -1, 1.5, 0.1, 38, 1500.0, 1e-300, 10**15, -10**15, 10**15 + 1]
DATES = ["1800-01-01", "2999-12-31", "2026-05-20", "2026-06-01", "1990-01-15", "2024-02-29", "1799-12-31"]
MOMENTS = DATES + ["2026-06-01T12:00", "2026-06-01 12:00:00", "2999-12-31T23:59:59-12:00", "1800-01-01T00:00+14:00",
                   "2026-05-30T10:00:00+05:00", "1800-01-01T00:00:00", "2026-05-20T10:00:00.5"]
TEXTS = ["Atlantis", "atlantis", "ATLANTIS", "%", "_", "\\", "'", "x'; DROP TABLE contacts; --", "Zoë", "ZOË",
         "line\nbreak", "tab\t", "x" * 1000, "a", "100% Pure_City", "bobby", "gold", "\x01", "x" * 1001, "a\x00"]
LISTS = ["Newsletter", "newsletter", "Offers", "Events", "a", "b", "x" * 1000, "x\x00"]


@st.composite
def typed_rows(draw: st.DrawFn, root: str) -> dict[str, Any]:
    """A row whose operator fits its attribute and whose value is of its type, near the edges of its range."""
    attrs = root_attributes(root, CUSTOM)
    attr = attrs[draw(st.sampled_from(sorted(attrs)))]
    op = draw(st.sampled_from([o for o, types in OPERATORS.items() if attr.type in types]))
    r: dict[str, Any] = {"attribute": attr.name, "op": op}
    if op in ("contains_data", "does_not_contain_data"):
        return r
    if op in ("in_last_days", "not_in_last_days"):
        r["value"] = draw(st.sampled_from([0, 1, 7, 365, 100_000, MAX_DAYS, MAX_DAYS + 1]))
        return r
    pool: list[Any] = {"number": NUMBERS, "date": DATES, "datetime": MOMENTS, "boolean": [True, False],
                       "choice": list(attr.choices) + ["nope"], "list": LISTS}.get(attr.type, TEXTS)
    if op == "between":
        low, high = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        r["value"] = sorted([low, high]) if attr.type == "number" else [min(low, high), max(low, high)]
    elif op == "in":
        r["value"] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    else:
        r["value"] = draw(st.sampled_from(pool))
    return r


def query_groups(root: str, depth: int = 2) -> st.SearchStrategy[Any]:
    row = st.one_of(typed_rows(root), typed_rows(root), typed_rows(root), hostile_rows())
    item = row if depth == 0 else st.one_of(row, row, query_groups(root, depth - 1))
    keys = st.sampled_from(["all", "any"] * 10 + ["none"])
    return st.builds(lambda key, items: {key: items}, keys, st.lists(item, min_size=1, max_size=3))


@st.composite
def queries(draw: st.DrawFn) -> Any:
    blocks = []
    for _ in range(draw(st.integers(0, 3))):
        b: dict[str, Any] = {}
        root = draw(st.sampled_from(ROOTS))
        op = draw(st.sampled_from(BLOCK_OPS))
        if root is not None:
            b["root"] = root
        if op is not None:
            b["op"] = op
        if draw(st.integers(0, 5)):
            b["where"] = draw(query_groups(root if root in ("account", "interactions") else "contacts"))
        blocks.append(b)
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "q", {"blocks": "x"}, {"blocks": blocks, "more": 1}]))
    return {"blocks": blocks}


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectFile]:
    pf = known_project(tmp_path_factory.mktemp("known") / "known.jstudio")
    yield pf
    pf.close()


_BASE: dict[str, Any] = {}


def _base(pf: ProjectFile) -> Any:
    if "base" not in _BASE:
        with pf.connection() as conn:
            _BASE["base"] = read_base(conn, columns=list(STANDARD_ATTRIBUTES), custom=CUSTOM, custom_names=CUSTOM,
                                      interactions=True, lists=True)
    return _BASE["base"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(query=queries(), moment=st.sampled_from([AT, date(2026, 6, 1), datetime(1800, 1, 2), datetime(2999, 12, 30)]))
def test_a_query_that_validates_counts_and_one_that_does_not_is_refused(known: ProjectFile, query: Any,
                                                                        moment: datetime | date) -> None:
    problems = validate_query(query, CUSTOM)
    for p in problems:
        _one_line(p.format())
    segment = Segment("Fuzz", query=query if isinstance(query, dict) else None)
    try:
        counted = m.count(known, segment, moment)
    except JourneyStudioError as e:
        _refused_in_one_line(e)
        assert problems or not isinstance(query, dict), f"a valid query failed to count: {e}"
        return
    assert not problems and isinstance(counted, int)
    evaluated = members_at(_base(known), segment, moment, CUSTOM)
    assert int(evaluated.sum()) == counted  # the simulator's evaluator agrees, at the edges of every range too
