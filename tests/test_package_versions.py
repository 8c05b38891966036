"""Versions that mean something (issue 16, item 2): an unchanged released version is packaged again as itself, a
change makes the next version with what changed; packages carry the approved run and `import-package` brings it
back, approved for that version, with the package's provenance; name clashes are handled alike by `import` and
`import-package`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from app.package.build import assess, package_journey, version_doc
from app.package.changes import diff_versions
from app.package.read import read_package
from app.package.signing import generate_key_pair
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.test_package import NAME, approve, entries, make_project, save_run
from tests.samples import ANNOUNCEMENT

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


def test_packaging_an_unchanged_release_reuses_its_version_and_approved_run(project: Path, tmp_path: Path,
                                                                          capsys: Cap) -> None:
    with ProjectFile.open(project) as pf:
        run_id = save_run(pf)
        approve(pf, run_id, "ana")
    for n in (1, 2, 3):
        code, stdout, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / f"{n}.jpkg")
        assert code == 0, stderr
        assert stdout.startswith(f"Wrote {tmp_path / f'{n}.jpkg'}: '{NAME}' version 1, unsigned, approved run "
                                 f"{run_id}\n")
        if n > 1:
            assert f"'{NAME}' is unchanged since version 1 was released: packaged version 1 again" in stderr
            assert "Froze" not in stderr
    with ProjectFile.open(project) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1] and pf.project.journey(NAME).version == 2
        moving = pf.project.journey(NAME)
        moving.step(moving.entry or "announce").position = None  # the layout is not a change of the release
    assert read_package(tmp_path / "3.jpkg").approved_run["id"] == run_id  # type: ignore[index]
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "4.jpkg")
    assert code == 0 and "unchanged since version 1" in stderr


def test_a_change_makes_the_next_version_with_what_changed(project: Path, tmp_path: Path, capsys: Cap) -> None:
    run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "1.jpkg")
    with ProjectFile.open(project) as pf:
        j = pf.project.journey(NAME)
        j.set_props("launch", {"until": datetime(2026, 12, 12, 9, 0)})
        j.update(description="Second wave")
        readiness = assess(pf, NAME)
        assert not readiness.reuses and readiness.freezes and readiness.version == 2
        assert readiness.changes is not None and readiness.changes.old == 1
    code, stdout, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "2.jpkg")
    assert code == 0 and f"'{NAME}' version 2" in stdout
    lines = stderr.splitlines()
    assert f"Froze '{NAME}' as version 2; edits now make version 3" in lines
    assert "Changes from version 1: 1 step changed, settings changed" in lines
    assert "  step 'launch' changed: until: '2026-12-10T09:00' -> '2026-12-12T09:00'" in lines
    assert "  setting description: (none) -> 'Second wave'" in lines
    manifest = read_package(tmp_path / "2.jpkg").manifest
    assert manifest["changes"]["from_version"] == 1 and list(manifest["changes"]["steps_changed"]) == ["launch"]
    code, stdout, _ = run(capsys, "verify", tmp_path / "2.jpkg")
    assert "  changes       since version 1: 0 steps added, 0 removed, 1 changed, settings changed" in stdout


def test_diff_names_steps_added_removed_changed_and_settings() -> None:
    old = {"format": "journey/1", "name": "J", "version": 1, "target": "contacts",
           "schedule": {"start": "2026-12-01T09:00"}, "steps": {"a": {"type": "email", "content": "A", "next": "b"},
                                                                 "b": {"type": "wait", "for": "1d"}},
           "content": {"A": {"kind": "email", "subject": "Hi"}}, "layout": {"a": [0, 0]}}
    new = {**old, "version": 2, "schedule": {"start": "2026-12-02T09:00"}, "layout": {"a": [5, 5]},
           "steps": {"a": {"type": "email", "content": "A", "next": "c"}, "c": {"type": "sms", "content": "B"}},
           "content": {"A": {"kind": "email", "subject": "Hello"}, "B": {"kind": "sms", "text": "x"}}}
    d = diff_versions(old, new, 1, 2)
    assert (d.steps_added, d.steps_removed, list(d.steps_changed)) == (["c"], ["b"], ["a"])
    assert d.lines() == ["step 'c' added", "step 'b' removed", "step 'a' changed: next: 'b' -> 'c'",
                         "setting schedule: {'start': '2026-12-01T09:00'} -> {'start': '2026-12-02T09:00'}",
                         "content 'B' added", "content 'A' changed"]
    assert d.headline() == ("Changes from version 1: 1 step added, 1 step removed, 1 step changed, settings changed, "
                            "content changed")
    assert diff_versions(old, {**old, "version": 2, "layout": {}}, 1, 2).empty


def test_import_package_brings_back_the_approved_run_and_the_provenance(project: Path, tmp_path: Path,
                                                                       capsys: Cap) -> None:
    from simulator.runs import load_run
    generate_key_pair(tmp_path / "team.key")
    run(capsys, "keys", "add", project, tmp_path / "team.key.pub", "--name", "Ana")
    with ProjectFile.open(project) as pf:
        run_id = save_run(pf)
        approve(pf, run_id, "ana")
        funnel = pf.run_info(run_id).summary["funnel"]
    out = tmp_path / "a.jpkg"
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", out, "--sign-key",
                          tmp_path / "team.key", "--by", "Bo")
    assert code == 0, stderr
    assert "run.record" in entries(out)
    review = tmp_path / "review.jstudio"
    run(capsys, "new", review)
    code, stdout, stderr = run(capsys, "import-package", review, out, "--keyring", project)
    assert code == 0, stderr
    assert "Version 1 is the released version; edits make version 2" in stdout
    assert "approved for version 1 (by ana on 2026-05-01T09:30:00+00:00, as packaged)" in stdout
    with ProjectFile.open(review) as pf:
        journey = pf.project.journey(NAME)
        assert [v for v, _ in pf.versions(NAME)] == [1] and journey.version == 2
        assert version_doc(pf, journey.id, 1) == read_package(out).journey_doc
        (info,) = pf.runs(NAME)
        assert (info.approved, info.approved_by, info.journey_version, info.name) == (True, "ana", 1, "baseline")
        assert info.summary["funnel"] == funnel
        assert pf.approved_run(NAME, 1) == info
        record = load_run(pf, info.id)  # it replays: its record is whole, and names the imported journey
        assert record.journey_id == journey.id and record.journey_version == 1
        kinds = {k: d for k, _, d in pf.milestones(NAME)}
    assert kinds["packaged"].startswith("version 1 packaged by Bo at ")
    assert kinds["signed"].startswith("signed by the trusted key 'Ana' ") and "('Bo')" not in kinds["signed"]
    assert {"approved", "simulated", "imported"} <= set(kinds)
    code, stdout, _ = run(capsys, "runs", review)
    assert "baseline" in stdout


def test_a_package_without_the_run_record_says_so_on_import(project: Path, tmp_path: Path) -> None:
    from tests.test_package import rezip
    with ProjectFile.open(project) as pf:
        approve(pf, save_run(pf), "ana")
        package_journey(pf, NAME, tmp_path / "a.jpkg")
    files = entries(tmp_path / "a.jpkg")
    manifest = json.loads(files["manifest.json"])  # as an earlier version made it: run.json only
    del manifest["members"]["run.record"], files["run.record"]
    manifest["approved_run"]["record"] = None
    from app.package import manifest as mf
    files["manifest.json"] = mf.manifest_bytes(manifest)
    from app.package.importing import import_package_into
    with ProjectFile.create(tmp_path / "review.jstudio") as pf:
        report = import_package_into(pf, read_package(rezip(tmp_path / "old.jpkg", files)))
        assert pf.runs() == []
    assert any("was not added to the saved runs: the package carries its summary only" in x for x in report)


def test_import_and_import_package_handle_a_clash_alike(project: Path, tmp_path: Path, capsys: Cap) -> None:
    (tmp_path / "a.yaml").write_text(ANNOUNCEMENT)
    out = tmp_path / "a.jpkg"
    run(capsys, "package", project, "--journey", NAME, "--out", out)
    for k, command, file in ((2, "import", tmp_path / "a.yaml"), (3, "import-package", out)):
        code, _, stderr = run(capsys, command, project, file)
        assert (code, stderr) == (2, f"journey-studio: error: the project already has a journey named '{NAME}': give "
                                     f"--rename to import it as '{NAME} ({k})', or --replace to replace it (nothing "
                                     "was changed)\n"), command
        code, stdout, _ = run(capsys, command, project, file, "--rename")
        assert code == 0 and f"'{NAME} ({k})'" in stdout
        code, _, stderr = run(capsys, command, project, file, "--rename", "--replace")
        assert code == 2 and "contradict each other" in stderr
    with ProjectFile.open(project) as pf:
        before = pf.project.journey(NAME).id
    code, stdout, _ = run(capsys, "import-package", project, out, "--replace")
    assert code == 0 and f"The project already had a journey named '{NAME}': replaced it" in stdout
    with ProjectFile.open(project) as pf:
        names = sorted(j.name for j in pf.project.journeys)
        replaced = pf.project.journey(NAME)
        assert replaced.id != before and [v for v, _ in pf.versions(replaced.id)] == [1]
    assert names == [NAME, f"{NAME} (2)", f"{NAME} (3)"]


def test_the_changes_a_manifest_records_are_bounded() -> None:
    from app.package.changes import MAX_RECORDED
    steps = {f"s{i}": {"type": "wait", "for": "1d"} for i in range(3 * MAX_RECORDED)}
    old = {"name": "J", "steps": steps}
    new = {"name": "J", "steps": {k: {**v, "for": "2d"} for k, v in steps.items()}}
    plain = diff_versions(old, new, 1, 2).to_plain()
    assert len(plain["steps_changed"]) == MAX_RECORDED and plain["truncated"]
    assert plain["counts"]["steps_changed"] == 3 * MAX_RECORDED
    assert len(json.dumps(plain)) < 64 * 1024


def test_a_run_of_the_released_version_is_not_outdated_while_the_draft_is_unchanged(project: Path, tmp_path: Path,
                                                                                     capsys: Cap) -> None:
    """After packaging, the draft is the next version number but still the released journey: its run is current
    (the issue saw 'outdated: journey now v4' on an approved run of an unchanged journey); an edit makes it
    outdated."""
    with ProjectFile.open(project) as pf:
        run_id = save_run(pf)
        approve(pf, run_id, "ana")
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "1.jpkg")
    assert code == 0, stderr
    with ProjectFile.open(project) as pf:
        [info] = pf.runs(NAME)
        assert (info.journey_version, info.current_version) == (1, 2)
        assert not info.outdated and info.outdated_text == "" and info.version_tag == "v1"
        assert not pf.run_info(run_id).outdated
        pf.project.journey(NAME).update(description="Second wave")
    with ProjectFile.open(project) as pf:
        [info] = pf.runs(NAME)
        assert info.outdated and "the journey is now at version 2" in info.outdated_text
