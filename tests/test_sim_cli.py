"""`journey-studio simulate` with saving and project / segment populations, and `journey-studio runs`."""

from __future__ import annotations

import csv
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from simulator.runs import load_run
from app.audience import members as m
from app.cli.main import main
from app.store import ProjectFile
from tests.cli_helpers import run, template_project

START = "2026-12-01T08:00"
MOMENT = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A project with the announcement journey and 2,000 generated contacts (built once, copied per test)."""
    path = template_project(tmp_path_factory.mktemp("cli") / "base.jstudio", "announcement.yaml")
    assert main(["population", str(path), "--contacts", "2000", "--seed", "2", "--as-of", "2026-12-01"]) == 0
    with ProjectFile.open(path) as pf:
        m.add_members(pf, "Do not contact", list(range(1, 2001, 9)))
    return path.read_bytes()


@pytest.fixture
def project(tmp_path: Path, base: bytes, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "p.jstudio"
    path.write_bytes(base)
    capsys.readouterr()
    return path


SIM = ("--journey", "Product announcement", "--seed", "5")


def test_a_run_is_saved_and_listed(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_json = tmp_path / "run.json"
    code, out, err = run(capsys, "simulate", project, *SIM, "--contacts", "1500", "--replicas", "2",
                         "--json", out_json, "--name", "first try")
    assert code == 0, err
    assert "1,500 synthetic contacts, seed 5, 2 replicas" in out and "Saved as run 1 in" in out
    doc = json.loads(out_json.read_text())
    assert doc["run"] == 1 and doc["population"]["kind"] == "synthetic"
    code, out, _ = run(capsys, "runs", project)
    assert code == 0 and "first try" in out and "Product announcement v1" in out and "1,500 synthetic" in out
    code, out, _ = run(capsys, "runs", project, "--journey", "Product announcement", "--json")
    listed = json.loads(out)
    assert [r["id"] for r in listed] == [1] and listed[0]["summary"]["funnel"] == doc["funnel"]
    assert listed[0]["seed"] == 5 and listed[0]["replicas"] == 2 and listed[0]["approved"] is False
    with ProjectFile.open(project, readonly=True) as pf:
        rec = load_run(pf, 1)
        assert rec.replay().to_json()["funnel"] == doc["funnel"]
        assert any(kind == "simulated" for kind, _, _ in pf.milestones("Product announcement"))
    code, _, err = run(capsys, "runs", project, "--journey", "Nope")
    assert code == 2 and "no journey named 'Nope'" in err


def test_project_population(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        expected = m.audience_count(pf, "Product announcement", MOMENT)
    code, out, err = run(capsys, "simulate", project, *SIM, "--population", "project")
    assert code == 0, err
    assert f"{expected:,} project contacts in the audience, seed 5, 1 replica" in out
    assert "Saved as run 1" in out
    with ProjectFile.open(project, readonly=True) as pf:
        info = pf.runs()[0]
        assert info.population["kind"] == "project" and info.population["size"] == expected
        assert info.summary["funnel"][0]["entered"]["mean"] == expected
        rec = load_run(pf, info.id)
        assert rec.replay().trace.digest() == rec.trace_digest
    code, _, err = run(capsys, "simulate", project, *SIM, "--population", "project", "--contacts", "10")
    assert code == 2 and "--contacts is only for --population synthetic" in err and err.count("\n") == 1


def test_segment_population(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        members = m.count(pf, "Most valuable customers", MOMENT)
    code, out, err = run(capsys, "simulate", project, *SIM, "--segment", "Most valuable customers",
                         "--as-of", START, "--no-save")
    assert code == 0, err
    assert f"{members:,} members of segment 'Most valuable customers'" in out and "Saved" not in out
    code, _, err = run(capsys, "simulate", project, *SIM, "--population", "segment")
    assert code == 2 and "needs the segment" in err
    code, _, err = run(capsys, "simulate", project, *SIM, "--segment", "Nobody")
    assert code == 2 and "no segment named 'Nobody'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "simulate", project, *SIM)
    assert code == 2 and "add --contacts N" in err


def test_read_only_project_refuses_save_and_is_unchanged(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(project, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = project.read_bytes()
        code, out, err = run(capsys, "simulate", project, *SIM, "--contacts", "500", "--save")
        assert code == 2 and err.count("\n") == 1 and "cannot change the project" in err and out == ""
        assert project.read_bytes() == before
        code, out, err = run(capsys, "simulate", project, *SIM, "--contacts", "500")  # default: run, not saved
        assert code == 0 and "Saved" not in out and "Not saved: the file is read-only" in err
        assert project.read_bytes() == before
    finally:
        os.chmod(project, stat.S_IRUSR | stat.S_IWUSR)


def test_no_save_leaves_the_file_byte_identical(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_bytes()
    code, out, err = run(capsys, "simulate", project, *SIM, "--contacts", "800", "--replicas", "2", "--no-save")
    assert code == 0, err
    assert project.read_bytes() == before and "Saved" not in out
    assert run(capsys, "runs", project)[1] == "No saved runs.\n"


def test_compare_two_runs_and_locale(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "simulate", project, *SIM, "--contacts", "1500", "--replicas", "2")[0] == 0
    code, out, err = run(capsys, "simulate", project, "--journey", "Product announcement", "--seed", "6",
                         "--contacts", "1500", "--replicas", "2", "--locale", "en_GB")
    assert code == 0, err
    with ProjectFile.open(project, readonly=True) as pf:
        a, b = load_run(pf, 1), load_run(pf, 2)
    assert b.population["locale"] == "en_GB" and "locale" not in a.population
    csv_path = tmp_path / "c.csv"
    code, out, err = run(capsys, "compare", project, "1", "2", "--csv", csv_path)
    assert code == 0, err
    first = a.results["funnel"][0]
    assert first["name"] in out and f"{first['entered']['mean']:,.0f}" in out
    assert "population locale: A" in out and "en_GB" in out  # the assumptions that differ are listed
    rows = list(csv.reader(csv_path.open()))
    assert rows[0][:5] == ["step", "name", "type", "status", "metric"]
    entered = next(r for r in rows if r[0] == first["step"] and r[4] == "entered")
    assert float(entered[5]) == first["entered"]["mean"]
    assert float(entered[8]) == b.results["funnel"][0]["entered"]["mean"]
    code, _, err = run(capsys, "compare", project, "1", "7")
    assert code == 2 and "no saved simulation run 7" in err
    code, _, err = run(capsys, "simulate", project, *SIM, "--contacts", "10", "--locale", "xx_YY")
    assert code == 2 and "unknown locale 'xx_YY'" in err


def test_a_synthetic_run_imports_sqlalchemy_only_to_save(project: Path) -> None:
    """For a synthetic population the project is read with sqlite3, and the file opened to save the run on a
    thread of its own (test_a_run_is_saved_and_listed saves through it): with --no-save, no SQLAlchemy at all."""
    import subprocess
    import sys
    code = ("import sys\nfrom app.cli.main import main\n"
            "rc = main(['simulate', sys.argv[1], '--journey', 'Product announcement', '--contacts', '500', "
            "'--seed', '1', '--no-save'])\nprint(rc, 'sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0 False", done.stdout + done.stderr
