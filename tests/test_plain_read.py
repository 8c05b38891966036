"""The reader without SQLAlchemy (app.store.plain_read, used by `validate`) gives exactly the Project that
ProjectFile gives, reads the columns schema.py declares, and refuses what ProjectFile refuses (the refusals are
also checked beside ProjectFile's in tests/test_store.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.codec.yamlio import read_journey_text
from app.errors import ProjectFileError
from app.model.project import Project
from app.resources import resource_path
from app.store import ProjectFile, schema
from app.store.plain_read import read_project
from app.store.plain_schema import PROJECT_TABLES
from tests.test_migrations import _schema1_file
from tests.test_store import assert_same, sample_project


def _same_as_project_file(path: Path) -> Project:
    with ProjectFile.open(path, readonly=True, check="never") as pf:
        expected = pf.project
    got = read_project(path)
    assert_same(got, expected)
    assert [j.id for j in got.journeys] == [j.id for j in expected.journeys]
    assert [list(j.steps) for j in got.journeys] == [list(j.steps) for j in expected.journeys]
    assert list(got.content) == list(expected.content) and list(got.segments) == list(expected.segments)
    return got


def test_columns_are_the_ones_schema_declares() -> None:
    for table, columns in PROJECT_TABLES.items():
        assert columns == tuple(c.name for c in schema.metadata.tables[table].columns), table


@pytest.mark.parametrize("template", sorted(p.name for p in resource_path("templates").iterdir()))
def test_every_template_reads_as_project_file_reads_it(tmp_path: Path, template: str) -> None:
    project = Project("Templates")
    journey, contents, segments = read_journey_text(resource_path("templates", template).read_text(), journey_id="j1")
    project.add_journey(journey)
    for c in contents:
        project.put_content(c)
    for s in segments:
        project.put_segment(s)
    ProjectFile.create(tmp_path / "t.jstudio", project=project).close()
    assert _same_as_project_file(tmp_path / "t.jstudio").journey(journey.name).entry == journey.entry


def test_a_project_with_settings_layout_and_several_journeys(tmp_path: Path) -> None:
    ProjectFile.create(tmp_path / "p.jstudio", project=sample_project()).close()
    _same_as_project_file(tmp_path / "p.jstudio")


def test_an_empty_project(tmp_path: Path) -> None:
    ProjectFile.create(tmp_path / "e.jstudio", name="Empty").close()
    assert _same_as_project_file(tmp_path / "e.jstudio").journeys == []


def test_an_old_file_is_refused_then_read_once_migrated(tmp_path: Path) -> None:
    path = _schema1_file(tmp_path / "old.jstudio")
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match=r"uses schema 1 of an older Journey Studio and must be upgraded, "
                                               r"which cannot be done while it was opened read-only"):
        read_project(path)
    assert path.read_bytes() == before
    ProjectFile.open(path).close()  # migrated
    assert _same_as_project_file(path).journey("One").step("bye").props == {"reason": "done"}


def test_a_damaged_json_column_is_one_line_naming_its_row(tmp_path: Path) -> None:
    ProjectFile.create(tmp_path / "p.jstudio", project=sample_project()).close()
    with sqlite3.connect(tmp_path / "p.jstudio") as con:
        con.execute("UPDATE steps SET props = '{not json' WHERE step_id = 'launch'")
    con.close()
    messages = []
    for read in (read_project, lambda p: ProjectFile.open(p, readonly=True, check="never")):
        with pytest.raises(ProjectFileError) as info:
            read(tmp_path / "p.jstudio")
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "step 'launch': props is damaged: its document is not JSON" in messages[0] and "\n" not in messages[0]
