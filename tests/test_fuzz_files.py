"""Fuzzed project files and packages: only the project's own errors, each one line; a damaged file never opens
for writing; a damaged package is never read as sound.

Bounded for CI (a few seconds each); FUZZ_EXAMPLES=2000 runs them longer.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from app.errors import JourneyStudioError
from app.package.build import package_journey
from app.package.importing import import_package
from app.package.read import read_package_bytes
from app.codec.yamlio import read_journey_file
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile, integrity
from app.store import schema as t

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))  # FUZZ_EXAMPLES=2000 for a long run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


def template_project() -> Project:
    project = Project("Fuzz")
    import_journey(project, *read_journey_file(resource_path("templates", "announcement.yaml")))
    return project


@pytest.fixture(scope="module")
def sound_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "sound.jstudio"
    with ProjectFile.create(path, project=template_project()) as pf:
        with pf.connection(write=True) as conn:
            conn.execute(insert(t.contacts), [{"id": i, "first_name": f"N{i}", "email": f"c{i}@example.org",
                                               "city": "Lisbon"} for i in range(1, 801)])
    return path


@pytest.fixture(scope="module")
def sound_package(sound_project: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("fuzzpkg") / "a.jpkg"
    copy = out.with_name("copy.jstudio")
    shutil.copy(sound_project, copy)
    with ProjectFile.open(copy) as pf:
        package_journey(pf, pf.project.journeys[0].name, out)
    return out.read_bytes()


def _one_line(e: BaseException) -> None:
    assert isinstance(e, JourneyStudioError), f"{type(e).__name__}: {e}"
    assert str(e) and "\n" not in str(e), repr(str(e))


@FUZZ
@given(hits=st.lists(st.tuples(st.floats(0.0, 1.0), st.binary(min_size=1, max_size=64)), min_size=1, max_size=6))
def test_a_byte_damaged_project_file_is_refused_in_one_line_or_opens_read_only(
        sound_project: Path, tmp_path_factory: pytest.TempPathFactory,
        hits: list[tuple[float, bytes]]) -> None:
    path = tmp_path_factory.mktemp("case") / "damaged.jstudio"
    data = bytearray(sound_project.read_bytes())
    for where, junk in hits:
        at = min(len(data) - len(junk), int(where * len(data)))
        data[at:at + len(junk)] = junk
    path.write_bytes(bytes(data))
    try:
        pf = ProjectFile.open(path)  # a file never closed here: every page is checked before any write
    except Exception as e:  # noqa: BLE001 - the point: which exceptions escape
        _one_line(e)
        return
    try:
        if not pf.readonly:
            assert integrity.full_check(path) == [], "a file that fails its check opened for writing"
        else:
            assert "\n" not in (pf.readonly_reason or "")
    finally:
        pf.close()


@FUZZ
@given(hits=st.lists(st.tuples(st.floats(0.0, 1.0), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4))
def test_a_byte_damaged_package_is_refused_in_one_line(sound_package: bytes, hits: list[tuple[float, bytes]]) -> None:
    data = bytearray(sound_package)
    for where, junk in hits:
        at = min(len(data) - len(junk), int(where * len(data)))
        data[at:at + len(junk)] = junk
    try:
        read_package_bytes(bytes(data), "damaged.jpkg")
    except Exception as e:  # noqa: BLE001
        _one_line(e)


@FUZZ
@given(member=st.sampled_from(["manifest.json", "journey.yaml", "content.json", "segments.json",
                               "validation.json"]),
       text=st.one_of(st.text(max_size=300), st.sampled_from([
           "{}", "[]", "null", '{"format": "journey-package/1"}', "a: &a [*a]", "!!python/object:os.system x",
           '{"a": ' * 400 + "1" + "}" * 400, "name: x\nsteps: {a: {type: email, next: a}}"])))
def test_a_package_with_a_member_rewritten_is_refused_in_one_line(sound_package: bytes, member: str,
                                                                   text: str) -> None:
    src = zipfile.ZipFile(io.BytesIO(sound_package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info.filename, text.encode("utf-8", "surrogatepass") if info.filename == member
                       else src.read(info.filename))
    try:
        package = read_package_bytes(out.getvalue(), "edited.jpkg")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
        return
    try:  # a member whose hash still matches (rewritten to its own text): it must import, or refuse in a line
        import_package(template_project(), package, name="Imported")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
