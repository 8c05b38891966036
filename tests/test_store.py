"""The project file: round trips, write-through of every change kind, versions, milestones, open errors,
read-only files, the write lock, crashes and Save as."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.codec.yamlio import read_journey_text
from app.codec.plain import MAX_WHOLE
from app.errors import ModelError, ProjectFileError
from app.model.attributes import CONSENT_LEVELS
from app.model.content import Content
from app.model.journey import (Audience, Frequency, FrequencyCap, Journey, Position, QuietHours, Schedule, Step,
                               Trigger)
from app.model.project import Project
from app.model.registry import END, REGISTRY
from app.model.segment import Segment
from app.store import APPLICATION_ID, ProjectFile, held_by, is_project_file, migrate
from app.store.plain_read import read_project
from tests.samples import ANNOUNCEMENT as _PLAIN

ANNOUNCEMENT = _PLAIN.replace("content:\n", "layout:\n  announce: [0, 0]\n  clicked: [200.5, -40]\ncontent:\n", 1)


WELCOME = """\
format: journey/1
name: Welcome
frequency: ongoing
goal: {segment: Customers, when: joins}
steps:
  hello: {type: email, name: Hello!, content: Welcome email, next: split}
  split: {type: ab-split, split: [30, 30, 30], holdout: 10, A: wait, B: task, C: end}
  wait: {type: wait, duration: 2d, next: bye}
  task: {type: task, subject: Call them, owner: ana}
  bye: {type: exit, reason: done}
content:
  Welcome email: {kind: email, subject: "Hi {{first_name}}", status: draft}
"""


def journey(text: str, jid: str) -> tuple[Journey, list[Content], list[Segment]]:
    return read_journey_text(text, journey_id=jid)


def sample_project() -> Project:
    project = Project("Sample")
    for text, jid in ((ANNOUNCEMENT, "j1"), (WELCOME, "j2")):
        j, contents, _ = journey(text, jid)
        project.add_journey(j)
        for c in contents:
            project.put_content(c)
    project.put_segment(Segment("Most valuable customers", query={"lifetime_value": {"greater_than": 1000}}))
    project.put_segment(Segment("Unsubscribed", kind="subscription", description="opted out"))
    project.update_settings(custom_attributes={"shoe_size": "number"}, default_timezone="Europe/Paris")
    return project


def reloaded(path: Path) -> Project:
    with ProjectFile.open(path, readonly=True) as pf:
        return pf.project


def assert_same(a: Project, b: Project) -> None:
    assert a.name == b.name
    assert {j.id: j for j in a.journeys} == {j.id: j for j in b.journeys}
    assert a.content == b.content
    assert a.segments == b.segments
    assert a.settings == b.settings


@pytest.fixture
def pf(tmp_path: Path) -> Any:
    f = ProjectFile.create(tmp_path / "p.jstudio", project=sample_project())
    yield f
    f.close()


# --- round trips ---------------------------------------------------------------------------------------------

def test_create_writes_empty_project_and_refuses_existing(tmp_path: Path) -> None:
    path = tmp_path / "new.jstudio"
    with ProjectFile.create(path) as f:
        assert not f.readonly and f.readonly_reason is None and f.project.name == "new"
        assert f.schema_version() == migrate.SCHEMA_VERSION
    assert is_project_file(path) and held_by(path) is None
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match="already exists"):
        ProjectFile.create(path, name="Other")
    assert path.read_bytes() == before
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_create_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    project = Project("Bad")
    bad = Journey("x", "Bad")
    bad.add_step(Step("s", "no-such-tile"))
    project.add_journey(bad)
    with pytest.raises(ProjectFileError, match="bad.jstudio cannot be created: "):
        ProjectFile.create(tmp_path / "bad.jstudio", project=project)
    assert os.listdir(tmp_path) == []


def test_round_trip_of_a_whole_project(pf: ProjectFile) -> None:
    assert_same(reloaded(pf.path), pf.project)
    loaded = reloaded(pf.path).journey("Product announcement")
    assert loaded.step("clicked").position == Position(200.5, -40.0)
    assert loaded.step("launch").position is None


def test_round_trip_through_write_through(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path, name="Built") as f:
        source = sample_project()
        with f.project.batch():
            for j in source.journeys:
                f.project.add_journey(j.clone())
            for c in source.content.values():
                f.project.put_content(c)
        for s in source.segments.values():
            f.project.put_segment(s)
        f.project.update_settings(default_timezone="Asia/Tokyo")
        expected = f.project
    assert_same(reloaded(path), expected)


# --- write-through of every change kind ------------------------------------------------------------------------

def test_write_through_of_each_change_kind(pf: ProjectFile) -> None:
    p = pf.project
    j = p.journey("Welcome")

    def check() -> None:
        assert_same(reloaded(pf.path), p)

    j.add_step(Step("sms1", "sms", props={"content": "Welcome email", "send_to": "mobile_phone"}), 1); check()
    j.add_step(Step("lead1", "lead", props={"topic": "hot"})); check()
    j.connect("sms1", "next", "split"); check()
    j.connect("hello", "next", "sms1"); check()
    j.disconnect("split", "C"); check()
    j.set_props("split", {"split": (50, 50), "holdout": 0}); check()
    j.set_props("task", {"owner": None}); check()
    j.set_props("split", {"split": (20, 20, 60)}); check()
    j.rename_step("task", "Call the customer"); check()
    j.move_step("task", Position(-3.25, 1e6)); check()
    j.move_step("task", None); check()
    j.update(description="Greets new customers", frequency=Frequency("repeating", timedelta(days=30), 3),
             frequency_cap=FrequencyCap(2, timedelta(days=7))); check()
    j.update(name="Welcome series"); check()
    j.set_entry("sms1"); check()
    j.remove_step("hello"); check()
    j.remove_step("sms1"); check()  # the entry step: the entry moves on
    j.add_step(Step("late", "workflow", props={"workflow": "onboard"}), 0); check()
    p.put_content(Content("Promo", "push", "ready", text="Go", title="Now")); check()
    p.put_content(Content("Promo", "push", "draft", text="Go!")); check()
    p.remove_content("Product launched text"); check()
    p.put_segment(Segment("Customers", entity="accounts", kind="static")); check()
    p.remove_segment("Unsubscribed"); check()
    p.update_settings(custom_attributes={}); check()
    p.remove_journey("Product announcement"); check()
    with pytest.raises(ModelError):
        p.journey("Product announcement")


def test_batched_gestures_and_name_swaps(pf: ProjectFile) -> None:
    p = pf.project
    a, b = p.journey("Product announcement"), p.journey("Welcome")
    with p.batch():
        a.update(name="tmp")
        b.update(name="Product announcement")
        a.update(name="Welcome")
    assert_same(reloaded(pf.path), p)
    with p.batch():  # remove a step and put it back elsewhere: the order must follow
        step = b.remove_step("hello")
        b.add_step(step)
        b.add_step(Step("again", "exit"), 0)
        removed = p.remove_journey(a.id)
        p.add_journey(removed)
    assert_same(reloaded(pf.path), p)
    assert list(reloaded(pf.path).journey(b.id).steps) == list(b.steps)


def test_one_edit_touches_only_its_rows(tmp_path: Path) -> None:
    big = Journey("big", "Big")
    for i in range(1000):
        big.add_step(Step(f"s{i}", "wait", props={"duration": timedelta(hours=1)}, position=Position(i, 0)))
    for i in range(999):
        big.connect(f"s{i}", "next", f"s{i + 1}")
    project = Project("Big")
    project.add_journey(big)
    with ProjectFile.create(tmp_path / "big.jstudio", project=project) as f:
        raw: Any = f._conn.connection.driver_connection  # type: ignore[union-attr]
        before = raw.total_changes
        f.project.journey("big").set_props("s500", {"duration": timedelta(days=2)})
        assert raw.total_changes - before <= 2  # the step row and the journey's updated_at
        before = raw.total_changes
        f.project.journey("big").move_step("s7", Position(1, 2))
        assert raw.total_changes - before <= 2
        expected = f.project.journey("big")
    assert reloaded(tmp_path / "big.jstudio").journey("big") == expected


def test_a_1000_step_journey_opens_whole(tmp_path: Path) -> None:
    big = Journey("big", "Big")
    for i in range(1000):
        big.add_step(Step(f"s{i}", "email", props={**REGISTRY["email"].defaults(), "content": "Mail"},
                          position=Position(i, i)))
    for i in range(999):
        big.connect(f"s{i}", "next", f"s{i + 1}")
    project = Project("Big")
    project.add_journey(big)
    ProjectFile.create(tmp_path / "big.jstudio", project=project).close()
    with ProjectFile.open(tmp_path / "big.jstudio") as f:  # (how long: benchmarks/bench_foundation.py)
        assert f.project.journey("big") == big


# --- property test ---------------------------------------------------------------------------------------------

texts = st.text(max_size=12)
names = st.text(min_size=1, max_size=12)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0))
durations = st.integers(min_value=1, max_value=10**7).map(lambda s: timedelta(seconds=s))
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)
percents = st.one_of(st.integers(1, 100), st.floats(0.5, 100, allow_nan=False))
triggers = st.one_of(st.builds(Trigger, event=names),
                     st.builds(Trigger, segment=names, when=st.sampled_from(["joins", "leaves"])))


def props_for(tile: str) -> st.SearchStrategy[dict[str, Any]]:
    if REGISTRY[tile].is_message:
        return st.fixed_dictionaries({"content": names}, optional={"send_to": texts})
    return {
        "if-then": st.one_of(
            st.fixed_dictionaries({"wait_for": st.fixed_dictionaries(
                {"event": names, "step": names}, optional={"link": texts}), "within": durations}),
            st.fixed_dictionaries({"condition": st.fixed_dictionaries(
                {"attribute": names, "op": names},
                optional={"value": st.one_of(texts, st.integers(-MAX_WHOLE, MAX_WHOLE))})}),
            st.fixed_dictionaries({"segment": names})),
        "wait": st.one_of(st.fixed_dictionaries({"duration": durations}),
                          st.fixed_dictionaries({"until": moments})),
        "ab-split": st.fixed_dictionaries({"split": st.lists(percents, min_size=2, max_size=4).map(tuple)},
                                          optional={"holdout": st.integers(0, 50),
                                                    "winner_metric": st.sampled_from(["opened", "clicked", "goal"])}),
        "random-split": st.fixed_dictionaries({"split": st.lists(percents, min_size=2, max_size=3).map(tuple)}),
        "task": st.fixed_dictionaries({"subject": texts}, optional={
            "activity": st.sampled_from(["task", "phone_call"]), "owner": texts, "due_in": durations}),
        "lead": st.fixed_dictionaries({"topic": texts}),
        "webhook": st.fixed_dictionaries({"url": texts}, optional={"method": st.sampled_from(["PUT", "GET"]),
                                                                   "payload": texts}),
        "workflow": st.fixed_dictionaries({"workflow": texts}),
        "exit": st.fixed_dictionaries({}, optional={"reason": texts}),
    }[tile]


@st.composite
def journeys(draw: st.DrawFn, jid: str) -> Journey:
    j = Journey(jid, draw(names), description=draw(texts), version=draw(st.integers(1, 9)),
                target=draw(st.sampled_from(["contacts", "accounts"])),
                audience=Audience(tuple(draw(st.lists(names, max_size=2))),
                                  draw(st.sampled_from(["union", "intersection"])),
                                  tuple(draw(st.lists(names, max_size=2))), draw(st.none() | names),
                                  draw(st.none() | st.sampled_from(CONSENT_LEVELS))),
                frequency=draw(st.sampled_from([Frequency(), Frequency("ongoing"),
                                                Frequency("repeating", timedelta(days=7), 4)])),
                schedule=Schedule(draw(st.none() | moments), draw(st.none() | moments),
                                  draw(st.sampled_from(["UTC", "Europe/Paris", "America/New_York"])),
                                  draw(st.none() | st.just(QuietHours(dtime(21), dtime(8))))),
                goal=draw(st.none() | triggers), exit_when=tuple(draw(st.lists(triggers, max_size=2))),
                frequency_cap=draw(st.none() | st.builds(FrequencyCap, st.integers(1, 9), durations)))
    count = draw(st.integers(0, 7))
    for i in range(count):
        tile = draw(st.sampled_from(sorted(REGISTRY)))
        props = {**REGISTRY[tile].defaults(), **draw(props_for(tile))}
        position = draw(st.none() | st.builds(Position, numbers, numbers))
        j.add_step(Step(f"s{i}", tile, draw(texts), props, position=position))
    for i, step in enumerate(list(j)):
        for port in step.ports():
            target = draw(st.sampled_from([None, END] + [f"s{k}" for k in range(i + 1, count)]))
            if target is not None:
                j.connect(step.id, port.id, target)
    if count:
        j.set_entry(f"s{draw(st.integers(0, count - 1))}")
    return j


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=journeys("a"), b=journeys("b"), content=st.lists(
    st.builds(Content, names, st.sampled_from(["email", "sms", "push"]), st.sampled_from(["draft", "ready"]),
              texts, texts, texts, st.lists(names, max_size=2).map(tuple), texts, texts), max_size=3))
def test_property_random_journeys_round_trip(a: Journey, b: Journey, content: list[Content]) -> None:
    if a.name == b.name:
        b.name += "'"
    project = Project("Random")
    project.add_journey(a)
    project.add_journey(b)
    for c in content:
        project.put_content(c)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.jstudio"
        with ProjectFile.create(path, project=project) as f:
            f.project.journey("a").update(version=a.version + 1)
        loaded = reloaded(path)
    assert loaded.journey("a") == a and loaded.journey("b") == b
    assert loaded.content == project.content


def test_a_value_the_file_could_not_read_back_is_refused_when_written(tmp_path: Path) -> None:
    """An if/then's value beyond SQLite's integers (from a script or an import that built the step itself) is
    refused when written, naming the step and the property; no file is left half made, and an open file keeps
    what it had."""
    big = Journey("big", "Big")
    big.add_step(Step("s1", "if-then", "Big?", {"condition": {"attribute": "x", "op": ">", "value": MAX_WHOLE + 1}}))
    project = Project("P")
    project.add_journey(big)
    with pytest.raises(ProjectFileError, match=r"cannot be created: step\.s1\.condition\.value: the whole number is "
                                               r"too large"):
        ProjectFile.create(tmp_path / "a.jstudio", project=project)
    assert not list(tmp_path.iterdir())
    with ProjectFile.create(tmp_path / "b.jstudio", project=Project("P")) as f:
        with pytest.raises(ProjectFileError, match="could not save the change: step.s1.condition.value"):
            f.project.add_journey(big)
    assert not reloaded(tmp_path / "b.jstudio").journeys


# --- versions and milestones -------------------------------------------------------------------------------------

def test_freeze_versions_and_read_version(pf: ProjectFile) -> None:
    j = pf.project.journey("Welcome")
    frozen_1 = j.clone()
    assert pf.freeze("Welcome") == 1 and j.version == 2
    j.rename_step("task", "Edited after v1")
    frozen_2 = j.clone()
    assert pf.freeze(j.id) == 2 and j.version == 3
    pf.project.put_content(Content("Welcome email", "email", "ready", subject="Changed"))
    j.remove_step("task")
    assert [v for v, _ in pf.versions("Welcome")] == [1, 2]
    assert all(isinstance(at, datetime) and at.tzinfo for _, at in pf.versions("Welcome"))
    old, contents, _ = pf.read_version("Welcome", 1)
    assert old == frozen_1
    assert [c.subject for c in contents] == ["Hi {{first_name}}"]  # the content as it was then
    assert pf.read_version("Welcome", 2)[0] == frozen_2
    with pytest.raises(ModelError, match="no frozen version 7"):
        pf.read_version("Welcome", 7)
    with ProjectFile.open(pf.path, readonly=True) as again:
        assert again.project.journey("Welcome").version == 3
        assert again.read_version("Welcome", 2)[0] == frozen_2
        with pytest.raises(ProjectFileError, match="read-only"):
            again.freeze("Welcome")


def test_milestones(pf: ProjectFile) -> None:
    assert [k for k, _, _ in pf.milestones("Welcome")] == ["created"]
    pf.add_milestone("Welcome", "checked", "0 errors")
    pf.add_milestone("Welcome", "simulated")
    pf.freeze("Welcome")
    kinds = pf.milestones("Welcome")
    assert [(k, d) for k, _, d in kinds] == [("created", ""), ("checked", "0 errors"), ("simulated", ""),
                                             ("exported", "version 1")]
    assert [at for _, at, _ in kinds] == sorted(at for _, at, _ in kinds)
    with pytest.raises(ValueError):
        pf.add_milestone("Welcome", "Not a kind!")
    new = Journey("j3", "Third")
    with pf.project.batch():  # a milestone for a journey that reaches the file with the batch
        pf.project.add_journey(new)
        pf.add_milestone("Third", "approved", "by ana")
    assert [k for k, _, _ in pf.milestones("Third")] == ["created", "approved"]
    with ProjectFile.open(pf.path, readonly=True) as ro:
        ro.add_milestone("Welcome", "approved")  # skipped silently
        assert len(ro.milestones("Welcome")) == 4


# --- open errors -----------------------------------------------------------------------------------------------

def _refused(path: Path, pattern: str) -> None:
    before = path.read_bytes()
    listing = sorted(os.listdir(path.parent))
    for readonly in (False, True):
        with pytest.raises(ProjectFileError, match=pattern) as info:
            ProjectFile.open(path, readonly=readonly)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ProjectFileError, match=pattern) as info:  # the reader without SQLAlchemy, as `validate`
        read_project(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == listing


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="does not exist"):
        ProjectFile.open(tmp_path / "nope.jstudio")
    assert os.listdir(tmp_path) == []


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jstudio").write_bytes(b"")
    _refused(tmp_path / "empty.jstudio", r"is empty \(0 bytes\), not a Journey Studio project")


def test_text_and_random_files(tmp_path: Path) -> None:
    (tmp_path / "notes.jstudio").write_text("format: journey/1\nname: not a project\n")
    _refused(tmp_path / "notes.jstudio", r"is not a Journey Studio project \(not an SQLite database\)")
    (tmp_path / "noise.jstudio").write_bytes(os.urandom(5000))
    _refused(tmp_path / "noise.jstudio", r"not an SQLite database")
    (tmp_path / "short.jstudio").write_bytes(b"SQLite format 3\x00\x10\x00")
    _refused(tmp_path / "short.jstudio", r"is damaged")


def test_other_sqlite_databases(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE things (x)")
    _refused(other, r"is not a Journey Studio project \(an SQLite database without project tables\)")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("PRAGMA application_id = 1234")
        con.execute("CREATE TABLE things (x)")
    _refused(foreign, r"an SQLite database of another application")
    marked = tmp_path / "marked.db"
    with sqlite3.connect(marked) as con:
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute("CREATE TABLE things (x)")
    _refused(marked, r"without project tables")


def test_damaged_project(pf: ProjectFile) -> None:
    pf.close()
    data = pf.path.read_bytes()
    cut = pf.path.with_name("cut.jstudio")
    cut.write_bytes(data[: len(data) // 2])
    _refused(cut, r"is damaged: part of it cannot be read .* open a backup or an earlier copy\. Technical detail: ")
    scrambled = pf.path.with_name("scrambled.jstudio")
    page = 4096
    scrambled.write_bytes(data[:page] + bytes(b ^ 0x5A for b in data[page:3 * page]) + data[3 * page:])
    _refused(scrambled, r"is damaged: ")


def test_newer_schema_is_refused(pf: ProjectFile) -> None:
    pf.close()
    with sqlite3.connect(pf.path) as con:
        con.execute("UPDATE alembic_version SET version_num = '0007'")
        con.execute("PRAGMA user_version = 7")
    con.close()
    _refused(pf.path, r"was saved by a newer version of Journey Studio than this one .*\(file format 7; this "
                      rf"version reads up to {migrate.SCHEMA_VERSION}\)\. Install the newer Journey Studio to open "
                      r"it; the file was not changed\.")


def test_undecodable_rows_name_journey_and_step(pf: ProjectFile) -> None:
    pf.close()
    with sqlite3.connect(pf.path) as con:
        con.execute("UPDATE steps SET type = 'foo' WHERE step_id = 'launch'")
    con.close()
    _refused(pf.path, rf"^{pf.path}: journey 'Product announcement', step 'launch': unknown tile type 'foo'$")
    with sqlite3.connect(pf.path) as con:
        con.execute("UPDATE steps SET type = 'wait', props = '{\"duration\": \"soon\"}' WHERE step_id = 'launch'")
    con.close()
    _refused(pf.path, r"journey 'Product announcement', step 'launch': property duration: not a duration")
    with sqlite3.connect(pf.path) as con:
        con.execute("UPDATE steps SET props = '{}', outputs = '{\"next\": \"ghost\"}' WHERE step_id = 'launch'")
    con.close()
    _refused(pf.path, r"step 'launch': output 'next' leads to 'ghost'")


# --- read-only files and the write lock ---------------------------------------------------------------------

def test_read_only_permission_bits(pf: ProjectFile) -> None:
    pf.close()
    os.chmod(pf.path, 0o444)
    before = pf.path.read_bytes()
    with ProjectFile.open(pf.path) as ro:
        assert ro.readonly and ro.readonly_reason == "the file is read-only"
        ro.project.journey("Welcome").rename_step("task", "not saved")
        ro.add_milestone("Welcome", "checked")
    assert pf.path.read_bytes() == before
    assert not pf.path.with_name(pf.path.name + "-lock").exists()


def test_explicit_read_only(pf: ProjectFile) -> None:
    with ProjectFile.open(pf.path, readonly=True) as ro:
        assert ro.readonly and ro.readonly_reason == "it was opened read-only"


HOLDER = textwrap.dedent("""
    import sys
    from app.store import ProjectFile
    f = ProjectFile.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    f.close()
""")


def test_second_process_gets_read_only(pf: ProjectFile) -> None:
    pf.close()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(pf.path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert held_by(pf.path) == child.pid
        with ProjectFile.open(pf.path) as second:
            assert second.readonly
            assert second.readonly_reason == (f"it is open for writing in another Journey Studio window "
                                              f"(process {child.pid})")
            assert second.project.journey("Welcome") is not None
    finally:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(timeout=10)
    assert held_by(pf.path) is None
    with ProjectFile.open(pf.path) as again:
        assert not again.readonly and held_by(pf.path) == os.getpid()


def test_lock_of_a_killed_process_is_released(pf: ProjectFile) -> None:
    pf.close()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(pf.path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with ProjectFile.open(pf.path) as again:  # the stale sidecar is taken over
        assert not again.readonly


# --- failures and crashes ------------------------------------------------------------------------------------

def test_failed_write_rolls_back_and_is_retried(pf: ProjectFile, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.store.project_file as module
    from app.store.writing import write_changes as real

    def failing(*args: Any) -> None:
        real(*args)
        raise sqlite3.OperationalError("disk I/O error")

    j = pf.project.journey("Welcome")
    j.rename_step("task", "saved")
    monkeypatch.setattr(module, "write_changes", failing)
    with pytest.raises(ProjectFileError, match=r"could not save the change: disk I/O error"):
        with pf.project.batch():
            j.rename_step("wait", "lost")
            j.remove_step("bye")
    assert pf.unsaved
    on_disk = reloaded(pf.path).journey("Welcome")
    assert on_disk.step("task").name == "saved" and on_disk.step("wait").name == "" and "bye" in on_disk.steps
    monkeypatch.setattr(module, "write_changes", real)
    j.rename_step("hello", "next edit")
    assert not pf.unsaved
    assert reloaded(pf.path).journey("Welcome") == j


CRASHER = textwrap.dedent("""
    import sys, time
    import app.store.writing as writing
    from app.store import ProjectFile
    from app.model.journey import Step
    f = ProjectFile.open(sys.argv[1])
    # A tiny page cache spills pages into the file mid-transaction, so the kill leaves a hot journal.
    f._conn.connection.driver_connection.execute("PRAGMA cache_size = 2")
    j = f.project.journey("Welcome")
    j.rename_step("task", "committed")
    real = writing._upsert_step
    calls = []
    def slow(conn, jid, step):
        real(conn, jid, step)
        calls.append(step.id)
        if len(calls) == 150:
            print("writing", flush=True)
            time.sleep(60)
    writing._upsert_step = slow
    with f.project.batch():
        for i in range(200):
            j.add_step(Step(f"n{i}", "exit", "x" * 2000))
""")


def test_kill_during_a_write_loses_only_that_batch(pf: ProjectFile) -> None:
    pf.close()
    child = subprocess.Popen([sys.executable, "-c", CRASHER, str(pf.path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    assert pf.path.with_name(pf.path.name + "-journal").exists()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    before = pf.path.read_bytes()
    with pytest.raises(ProjectFileError, match="holds a change that was interrupted by a crash"):
        ProjectFile.open(pf.path, readonly=True)
    assert pf.path.read_bytes() == before
    with ProjectFile.open(pf.path) as again:  # opened for writing, SQLite rolls the unfinished change back
        j = again.project.journey("Welcome")
        assert j.step("task").name == "committed"
        assert not any(s.startswith("n") for s in j.steps)
    assert not pf.path.with_name(pf.path.name + "-journal").exists()


# --- save as ---------------------------------------------------------------------------------------------------

def test_save_as_continues_on_the_new_file(pf: ProjectFile, tmp_path: Path) -> None:
    old = pf.path
    new = tmp_path / "copy.jstudio"
    pf.save_as(new)
    assert pf.path == new and not pf.readonly
    assert held_by(new) == os.getpid() and held_by(old) is None
    pf.project.journey("Welcome").rename_step("task", "only in the copy")
    assert reloaded(new).journey("Welcome").step("task").name == "only in the copy"
    assert reloaded(old).journey("Welcome").step("task").name == ""
    assert [k for k, _, _ in pf.milestones("Welcome")] == ["created"]
    with pytest.raises(ProjectFileError, match="already exists"):
        pf.save_as(old)
    pf.save_as(old, overwrite=True)
    assert pf.path == old
    assert_same(reloaded(old), pf.project)


def test_save_as_from_a_read_only_file_gives_a_writable_copy(pf: ProjectFile, tmp_path: Path) -> None:
    pf.close()
    os.chmod(pf.path, 0o444)
    with ProjectFile.open(pf.path) as ro:
        assert ro.readonly
        ro.save_as(tmp_path / "mine.jstudio")
        assert not ro.readonly and ro.readonly_reason is None
        ro.project.journey("Welcome").rename_step("task", "mine")
    assert reloaded(tmp_path / "mine.jstudio").journey("Welcome").step("task").name == "mine"


def test_close_is_idempotent_and_releases_the_lock(pf: ProjectFile) -> None:
    assert held_by(pf.path) == os.getpid()
    pf.close()
    pf.close()
    assert held_by(pf.path) is None and pf.closed
    pf.project.journey("Welcome").rename_step("task", "after close")  # no longer written, no error
    assert reloaded(pf.path).journey("Welcome").step("task").name == ""


def test_deleting_a_journey_keeps_its_history_for_undo(tmp_path: Path) -> None:
    """Undo of a deletion (the same journey id added back) brings back its frozen versions and milestones."""
    journey, contents, segments = read_journey_text(ANNOUNCEMENT, journey_id="j1")
    with ProjectFile.create(tmp_path / "p.jstudio") as pf:
        p = pf.project
        with p.batch():
            for c in contents:
                p.put_content(c)
            p.add_journey(journey)
        assert pf.freeze("j1") == 1
        history = pf.milestones("j1")
        removed = p.remove_journey("j1")
        p.add_journey(removed)  # what undo does
        assert [v for v, _ in pf.versions("j1")] == [1]
        assert pf.milestones("j1") == history  # not "created" a second time
        assert pf.read_version("j1", 1)[0].name == "Product announcement"
