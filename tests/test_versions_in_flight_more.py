"""Versions in flight, the gaps after the first round (issue 18, item 3): `export --release` takes the plan as
`package` does; `simulate --in-flight-from RUN --at DATE` forecasts the moved contacts without packaging; a run
of N that N+1 has taken over enrols nobody new, even after a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.package.read import read_package
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.test_package import NAME
from tests.test_versions_in_flight import released

Cap = pytest.CaptureFixture[str]
_fixtures = (released,)


def _status(project: Path, tmp_path: Path) -> Path:
    """A file of `status --json` of the run of version 1: 38 contacts wait at 'clicked', 412 at 'launch'."""
    with ProjectFile.open(project) as pf:
        jid = pf.project.journey(NAME).id
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"key": f"{jid}:v1", "steps": [{"step": "clicked", "waiting": 38},
                                                                {"step": "launch", "waiting": 412}]}))
    return status


# --- export --release ---------------------------------------------------------------------------------------

def test_export_release_refuses_a_plan_that_cannot_be_done_before_freezing(released: Path, tmp_path: Path,
                                                                           capsys: Cap) -> None:
    out = tmp_path / "v2.yaml"
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--in-flight", "move")
    assert code == 1 and not out.exists()
    assert "  contacts waiting at 'Wait until 10 Dec 09:00' (launch), which version 2 removes, need a choice" in stderr
    assert stderr.splitlines()[-1].endswith("(nothing was frozen)") and "package" not in stderr.splitlines()[-1]
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1]
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--move", "launch=launched")
    assert code == 2 and "--in-flight and its options go with --release" in stderr and not out.exists()
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--move", "launch")  # the same strict reading as package
    assert code == 1 and "--move 'launch': write it as STEP=TARGET" in stderr and not out.exists()


def test_export_release_records_previews_and_forecasts_the_plan_as_package_does(released: Path, tmp_path: Path,
                                                                                capsys: Cap) -> None:
    status = _status(released, tmp_path)
    out = tmp_path / "v2.yaml"
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--move", "launch=launched", "--leave", "clicked", "--in-flight-from", status,
                          "--forecast-at", "2026-12-03T09:00")
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[0] == "Froze 'Product announcement' as version 2; edits now make version 3"
    assert "  contacts at 'launch' move to 'launched'" in lines
    assert (f"In flight now on version 1 ({status}): 450 contacts: 412 move to version 2, 0 finish on version 1, "
            "38 leave") in lines
    assert "  412 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: they will move to 'Product " \
           "launched text' of version 2" in lines
    head = lines.index("Forecast of version 2 for the 412 contacts it moves, from 2026-12-03 09:00 UTC (seed 7, the "
                       "default behaviour assumptions):")
    assert lines[head + 1].startswith("  'Product launched text': 412 entered")
    assert any(ln.startswith("  assumed: ") for ln in lines[head + 1:])
    assert "launched" in out.read_text()
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1, 2]
        kinds = [d for k, _, d in pf.milestones(NAME) if k == "in-flight"]
    assert kinds == ["version 2: contacts in flight on version 1 move to the same steps of version 2; chosen: "
                     "clicked: leave, launch -> launched"]
    # the journey file does not carry the plan: a package of the version does, with the same options
    assert ("Note: a journey file does not carry the plan to the live runner: package version 2 with the same "
            "options (journey-studio package ... --version 2 ...) and run it with --replaces and the state folder "
            "of the run of version 1") in lines
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v2.jpkg",
                          "--version", "2", "--move", "launch=launched", "--leave", "clicked")
    assert code == 0, stderr
    assert read_package(tmp_path / "v2.jpkg").manifest["in_flight"]["to_version"] == 2
