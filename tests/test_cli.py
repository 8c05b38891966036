"""The command line: each subcommand end to end, and bad input answered with one clear line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from app.codec.yamlio import read_journey_text, write_journey_text
from app.resources import resource_path
from tests.samples import ANNOUNCEMENT
from tests.cli_helpers import run

TEMPLATE = resource_path("templates", "announcement.yaml")


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "shop.jstudio"
    assert run(capsys, "new", path)[0] == 0
    assert run(capsys, "import", path, TEMPLATE)[0] == 0
    return path


def canonical(text: str) -> str:
    j, contents, segments = read_journey_text(text)
    return write_journey_text(j, {c.name: c for c in contents}, {s.name: s for s in segments})


def test_yaml_to_project_to_yaml_is_identical(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.yaml"
    text = canonical(TEMPLATE.read_text(encoding="utf-8"))
    j, _, _ = read_journey_text(text)
    # include the layout a first import adds, so the file is the project's own canonical form
    path = tmp_path / "p.jstudio"
    run(capsys, "new", path)
    source.write_text(text, encoding="utf-8")
    assert run(capsys, "import", path, source)[0] == 0
    code, exported, _ = run(capsys, "export", path, "--journey", j.name)
    assert code == 0
    source.write_text(exported, encoding="utf-8")
    path2 = tmp_path / "p2.jstudio"
    run(capsys, "new", path2)
    assert run(capsys, "import", path2, source)[0] == 0
    assert run(capsys, "export", path2, "--journey", j.name)[1] == exported
    assert "layout:" in exported  # the first import laid the journey out


def test_import_validate_info_export(project: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "validate", project)
    assert code == 0 and "Product announcement: 0 errors, 0 warnings" in out
    code, out, _ = run(capsys, "validate", project, "--journey", "Product announcement", "--json", "--for-export")
    assert code == 0 and json.loads(out)["errors"] == 0
    code, out, _ = run(capsys, "info", project)
    assert code == 0 and "Product announcement: 4 steps" in out and "Most valuable customers" in out
    from app.store.migrate import SCHEMA_VERSION
    assert f"schema {SCHEMA_VERSION}" in out and "bound method" not in out
    out_file = tmp_path / "out.json"
    assert run(capsys, "export", project, "--journey", "Product announcement", "--out", out_file)[0] == 0
    assert json.loads(out_file.read_text())["steps"]["clicked"]["yes"] == "launch"


def test_validate_exits_1_on_errors_and_lists_them(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.jstudio"
    run(capsys, "new", path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(ANNOUNCEMENT.replace("audience: {segments: [Most valuable customers], ", "audience: {")
                   .replace("within: 1d", "within: 0s"), encoding="utf-8")
    assert run(capsys, "import", path, bad)[0] == 0
    code, out, _ = run(capsys, "validate", path)
    assert code == 1
    assert "no-audience" not in out and "error" in out and "clicked (within)" in out
    code, out, _ = run(capsys, "validate", path, "--json")
    codes = {f["code"] for f in json.loads(out)["journeys"]["Product announcement"]}
    assert code == 1 and {"no-audience", "if-then-time-limit"} <= codes


def test_release_freezes_versions_that_stay_readable(project: Path, tmp_path: Path, capsys) -> None:
    code, v1, err = run(capsys, "export", project, "--journey", "Product announcement", "--release")
    assert code == 0 and "version 1" in err
    edited = tmp_path / "edited.yaml"
    edited.write_text(v1.replace("within: 1d", "within: 2d"), encoding="utf-8")
    assert run(capsys, "import", project, edited, "--replace")[0] == 0
    assert run(capsys, "export", project, "--journey", "Product announcement", "--version", "1")[1] == v1
    code, out, _ = run(capsys, "info", project)
    assert "frozen versions 1" in out and "exported" in out


def test_releasing_an_unchanged_journey_again_reuses_its_version(project: Path, tmp_path: Path, capsys) -> None:
    code, v1, err = run(capsys, "export", project, "--journey", "Product announcement", "--release")
    assert code == 0 and "Froze 'Product announcement' as version 1" in err
    code, again, err = run(capsys, "export", project, "--journey", "Product announcement", "--release")
    assert code == 0 and again == v1
    assert "unchanged since version 1 was released: exported version 1 again" in err and "Froze" not in err
    edited = tmp_path / "edited.yaml"
    edited.write_text(v1.replace("within: 1d", "within: 2d"), encoding="utf-8")
    assert run(capsys, "import", project, edited, "--replace")[0] == 0
    code, v2, err = run(capsys, "export", project, "--journey", "Product announcement", "--release")
    assert code == 0 and "as version 2" in err and "within: 2d" in v2
    code, out, _ = run(capsys, "info", project, "--json")
    assert json.loads(out)["journeys"][0]["frozen_versions"] == [1, 2]


def test_release_is_refused_while_there_are_errors(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.jstudio"
    run(capsys, "new", path)
    draft = tmp_path / "draft.yaml"
    draft.write_text(ANNOUNCEMENT.replace("status: ready", "status: draft"), encoding="utf-8")
    run(capsys, "import", path, draft)
    code, _, err = run(capsys, "export", path, "--journey", "Product announcement", "--release")
    assert code == 2 and "nothing was frozen" in err and "draft" in err.lower()
    code, out, _ = run(capsys, "info", path, "--json")
    journey = json.loads(out)["journeys"][0]
    assert journey["frozen_versions"] == [] and journey["version"] == 1


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("journey-studio: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("content,expect", [
    ("format: journey/1\nname: x\nsteps:\n  a: {type: email\n", "bad.yaml:5:1: malformed YAML"),
    ("format: journey/1\nname: x\nsteps:\n  a: {type: teleport}\n", "bad.yaml:4:13: unknown tile type 'teleport'"),
    ("", "bad.yaml:1: the file is empty"),
])
def test_bad_journey_files_leave_the_project_unchanged(project: Path, tmp_path: Path, capsys, content,
                                                       expect) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    before = project.read_bytes()
    line = _one_line_error(*run(capsys, "import", project, bad)[::2])
    assert expect in line
    assert project.read_bytes() == before


def test_importing_a_missing_file_or_into_a_missing_project(tmp_path: Path, capsys) -> None:
    assert "no such project" in _one_line_error(*run(capsys, "import", tmp_path / "none.jstudio", TEMPLATE)[::2])
    path = tmp_path / "p.jstudio"
    run(capsys, "new", path)
    assert "cannot read the file" in _one_line_error(*run(capsys, "import", path, tmp_path / "nope.yaml")[::2])


def test_duplicate_journey_is_refused_without_replace(project: Path, capsys) -> None:
    before = project.read_bytes()
    assert "already has a journey" in _one_line_error(*run(capsys, "import", project, TEMPLATE)[::2])
    assert project.read_bytes() == before


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"hello, I am a text file\n", "not a Journey Studio project"),
    (os.urandom(4096), "not a Journey Studio project"),
])
def test_project_files_that_are_not_projects(tmp_path: Path, capsys, content: bytes, expect: str) -> None:
    path = tmp_path / "x.jstudio"
    path.write_bytes(content)
    for args in (("info", path), ("validate", path), ("import", path, TEMPLATE)):
        assert expect in _one_line_error(*run(capsys, *args)[::2])
    assert path.read_bytes() == content


def test_read_only_project_file_is_refused_for_changes(project: Path, capsys) -> None:
    before = project.read_bytes()
    project.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        assert "read-only" in _one_line_error(*run(capsys, "import", project, TEMPLATE, "--replace")[::2])
        code, out, _ = run(capsys, "info", project)  # reading still works
        assert code == 0 and "read-only" in out
    finally:
        project.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert project.read_bytes() == before


def test_new_refuses_an_existing_file(project: Path, capsys) -> None:
    before = project.read_bytes()
    assert "already exists" in _one_line_error(*run(capsys, "new", project)[::2])
    assert project.read_bytes() == before


def test_unknown_journey_and_usage_errors(project: Path, capsys) -> None:
    assert "no journey named 'Nope'" in _one_line_error(*run(capsys, "export", project, "--journey", "Nope")[::2])
    code, _, err = run(capsys, "export", project)
    assert code == 2 and "--journey" in err
