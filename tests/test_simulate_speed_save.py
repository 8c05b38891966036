"""`simulate` saves its run with sqlite3 alone (app.store.plain_write): the rows are exactly those ProjectFile
writes and ProjectFile reads the run back; the refusals, the lock and the all-or-nothing transaction are
ProjectFile's; the command as a process imports no SQLAlchemy, ends at once with its output whole, and leaves
the file closed cleanly."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.errors import ProjectFileError
from app.store import ProjectFile, integrity, lock as locking
from app.store import runs as store_runs
from app.store.plain_write import SUMMARY_KEYS, NeedsProjectFile, RunWriter
from simulator.request import RunRequest, execute, snapshot
from simulator.runs import RunRecord, load_run
from tests.cli_helpers import template_project

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    return template_project(tmp_path / "p.jstudio", "re-engagement.yaml", capsys)


def _record(path: Path) -> RunRecord:
    with ProjectFile.open(path, readonly=True) as pf:
        journey = pf.project.journey("Re-engagement")
        source = snapshot(pf.project, journey.id)
    return execute(RunRequest(journey.id, contacts=800, seed=5), source).record


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        names = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        cols = ", ".join(f'typeof("{n}"), "{n}"' for n in names)
        return [tuple(r) for r in con.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')]
    finally:
        con.close()


def test_the_summary_keys_are_the_stores() -> None:
    assert SUMMARY_KEYS == store_runs.SUMMARY_KEYS


def test_the_rows_are_those_project_file_writes_and_it_reads_them_back(project: Path, tmp_path: Path) -> None:
    record = _record(project)
    by_orm = tmp_path / "orm.jstudio"
    shutil.copy(project, by_orm)
    with ProjectFile.open(by_orm) as pf:
        assert pf.save_run(record, name="  first  ") == 1
        assert pf.save_run(record) == 2
    with RunWriter.open(project) as w:
        assert not w.readonly
        assert w.save_run(record, name="  first  ") == 1
        assert w.save_run(record) == 2
    assert _rows(project, "simulation_runs") == _rows(by_orm, "simulation_runs")  # types and values, every column
    plain_m, orm_m = _rows(project, "milestones"), _rows(by_orm, "milestones")
    at = 7  # (typeof, value) pairs: id, journey_id, kind, at (now: its form only), detail
    assert [m[:at] + m[at + 1:] for m in plain_m] == [m[:at] + m[at + 1:] for m in orm_m]
    assert [(m[at - 1], len(m[at]), m[at][-6:]) for m in plain_m] == [(m[at - 1], len(m[at]), m[at][-6:])
                                                                       for m in orm_m]
    with ProjectFile.open(project) as pf:
        assert [(i.id, i.name, i.seed, i.replicas) for i in pf.runs()] == \
            [(1, "first", 5, 1), (2, "seed 5, 1 replica", 5, 1)]
        again = load_run(pf, 1)
        assert ("simulated", "run 2: version 1, seed 5, 1 replica") in \
            [(kind, detail) for kind, _, detail in pf.milestones("Re-engagement")]
    assert again.trace_digest == record.trace_digest and again.results == record.results
    assert again.to_bytes() == record.to_bytes()


def test_the_lock_is_taken_and_the_file_left_closed_cleanly(project: Path) -> None:
    integrity.forget(project)  # in doubt: its pages are checked on opening, as ProjectFile checks them
    with RunWriter.open(project) as w:
        assert locking.held_by(project) == os.getpid()
        with ProjectFile.open(project) as other:  # a second writer opens it read-only, as beside ProjectFile
            assert other.readonly and "open for writing in another" in (other.readonly_reason or "")
        assert w.readonly_reason is None
    assert locking.held_by(project) is None and not locking.lock_path(project).exists()
    assert integrity.doubt(project, unclean=False) is None


def test_it_refuses_and_reports_what_project_file_does(project: Path, tmp_path: Path) -> None:
    with ProjectFile.open(project) as holder:
        with RunWriter.open(project) as w:
            with ProjectFile.open(project) as pf:
                assert w.readonly and w.readonly_reason == pf.readonly_reason
            with pytest.raises(ProjectFileError, match="cannot save a simulation run: it is open for writing"):
                w.save_run(_Unread())  # refused before the record is read
        assert not holder.readonly
    project.chmod(0o444)
    try:
        with RunWriter.open(project) as w, ProjectFile.open(project) as pf:
            assert w.readonly_reason == pf.readonly_reason == "the file is read-only"
    finally:
        project.chmod(0o644)
    text = tmp_path / "notes.jstudio"
    text.write_text("not a database at all, but long enough to hold a header of a hundred bytes " * 3)
    with pytest.raises(ProjectFileError) as plain:
        RunWriter.open(text)
    with pytest.raises(ProjectFileError) as orm:
        ProjectFile.open(text)
    assert str(plain.value) == str(orm.value) and "is not a Journey Studio project" in str(plain.value)


class _Unread:
    """A record no attribute of which may be read."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a read-only writer refuses before it reads the record ({name})")


def test_an_older_schema_is_left_to_project_file_which_upgrades_it(tmp_path: Path) -> None:
    from tests.test_migrations import _schema1_file
    old = _schema1_file(tmp_path / "old.jstudio")
    with pytest.raises(NeedsProjectFile):
        RunWriter.open(old)
    assert locking.held_by(old) is None and not locking.lock_path(old).exists()  # the lock was let go


def test_a_failed_save_leaves_nothing_behind(project: Path) -> None:
    record = _record(project)
    con = sqlite3.connect(project)
    con.execute("CREATE TRIGGER no_milestones BEFORE INSERT ON milestones BEGIN SELECT RAISE(ABORT, 'disk says no');"
                " END")
    con.commit()
    con.close()
    with RunWriter.open(project) as w:
        with pytest.raises(ProjectFileError, match="cannot save the simulation run: disk says no"):
            w.save_run(record)
    assert _rows(project, "simulation_runs") == []  # the run's row went with the milestone's: one transaction
    with ProjectFile.open(project) as pf:
        assert pf.runs() == [] and not pf.readonly


def test_the_command_saves_without_sqlalchemy_and_ends_with_its_output_whole(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "app.cli.main", "simulate", str(project),
                           "--journey", "Re-engagement", "--contacts", "2000", "--seed", "3", "--json", "-"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    assert "app.store.plain_write" in imported and not [m for m in imported if m.startswith("sqlalchemy")]
    doc = json.loads(done.stdout)  # the whole JSON, flushed before the process ended
    assert doc["run"] == 1 and doc["contacts"] == 2000
    assert "Saved as run 1 in" in done.stderr and done.stderr.rstrip().splitlines()[-1].startswith("Took ")
    assert not locking.lock_path(project).exists()
    with ProjectFile.open(project) as pf:
        info = pf.runs()[0]
        assert info.seed == 3 and load_run(pf, 1).results["funnel"] == doc["funnel"]
