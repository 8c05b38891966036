"""Damage is found before it is written to, without reading every page on every open.

An ordinary open checks the header and the schema; every page is read (PRAGMA integrity_check) only when the
file was not closed cleanly or is not the file this computer last closed; a damaged file opens read-only and
`repair` copies what can be read into a new file. Read-only detection asks the OS.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app.errors import ProjectFileError
from app.model.journey import Journey
from app.model.project_commands import AddJourney
from app.store import ProjectFile, integrity
from app.store import lock as locking
from app.store import schema as t

CONTACTS = 3000


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        AddJourney(Journey(pf.project.new_journey_id(), "Welcome")).do(pf.project)
        with pf.connection(write=True) as conn:
            conn.execute(insert(t.contacts), [{"id": i, "first_name": f"Name {i}", "email": f"c{i}@example.org",
                                               "city": "Lisbon" if i % 2 else "Porto"} for i in range(1, CONTACTS + 1)])
    return path


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The full checks run (the real check still runs)."""
    seen: list[Path] = []
    real = integrity.full_check

    def counting(path: Path) -> list[str]:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(integrity, "full_check", counting)
    return seen


def damage(path: Path) -> None:
    """Garbage over a page in the middle of the contacts (the header and schema pages stay sound), as a disk
    error or another program would leave it: the file's size stays, its modification time changes."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek((size // 4096 // 2) * 4096 + 100)
        f.write(os.urandom(1500))


def test_a_file_closed_cleanly_here_opens_without_reading_every_page(project: Path, checks: list[Path]) -> None:
    with ProjectFile.open(project) as pf:  # created and closed here: recorded
        assert not pf.readonly and pf.pending_check is None
    assert checks == []
    os.utime(project, ns=(project.stat().st_atime_ns, project.stat().st_mtime_ns + 1_000_000_000))
    with ProjectFile.open(project) as pf:  # changed since (another program, a copy): every page is read once
        assert not pf.readonly
    assert checks == [project]
    with ProjectFile.open(project):
        pass
    assert checks == [project]  # and recorded again when closed


def test_a_damaged_file_opens_read_only_and_nothing_is_written_to_it(project: Path, checks: list[Path]) -> None:
    damage(project)
    before = project.read_bytes()
    with ProjectFile.open(project) as pf:
        assert checks == [project]
        assert pf.readonly and pf.readonly_reason.startswith("it is damaged")
        assert "journey-studio repair" in pf.readonly_reason and "\n" not in pf.readonly_reason
        AddJourney(Journey(pf.project.new_journey_id(), "Second")).do(pf.project)  # the file does not change
    assert project.read_bytes() == before
    with ProjectFile.open(project) as pf:  # still in doubt: checked again, still read-only
        assert pf.readonly
    assert len(checks) == 2


def test_a_file_left_by_a_stopped_writer_is_checked_in_full(project: Path, checks: list[Path]) -> None:
    with ProjectFile.open(project):
        pass
    locking.lock_path(project).write_text("999999\n")  # the sidecar a crashed writer leaves behind
    with ProjectFile.open(project) as pf:
        assert not pf.readonly and pf._lock is not None and pf._lock.stale
    assert checks == [project]
    damage(project)
    locking.lock_path(project).write_text("999999\n")
    with ProjectFile.open(project, readonly=True) as pf:  # a reader notices the unclean close too
        assert pf.readonly_reason_is_damage


def test_the_designer_checks_later_and_a_damaged_file_then_stops_being_written(project: Path,
                                                                             checks: list[Path]) -> None:
    damage(project)
    pf = ProjectFile.open(project, check="defer")
    try:
        assert not pf.readonly and pf.pending_check == integrity.UNKNOWN and checks == []
        problems = pf.verify()
        assert problems and pf.readonly and pf.readonly_reason_is_damage and pf.pending_check is None
        with pytest.raises(ProjectFileError, match="damaged"):
            with pf.connection(write=True):
                pass
        assert pf.project.journeys  # still open to read
    finally:
        pf.close()


def test_a_file_cut_short_is_refused_at_once(project: Path) -> None:
    size = project.stat().st_size
    with open(project, "r+b") as f:
        f.truncate(size - 1)  # the last page lost its last byte: found from the header, no page is read
    with pytest.raises(ProjectFileError, match="is damaged.*cut short"):
        ProjectFile.open(project)
    size -= 1
    with open(project, "r+b") as f:
        f.truncate(size - 4096 * 2)
    with pytest.raises(ProjectFileError, match="is damaged"):
        ProjectFile.open(project)


def test_repair_copies_what_can_be_read_into_a_new_file(project: Path, tmp_path: Path) -> None:
    damage(project)
    target = tmp_path / "repaired.jstudio"
    report = integrity.repair(project, target)
    assert integrity.full_check(target) == []
    with ProjectFile.open(target) as pf:
        assert not pf.readonly and [j.name for j in pf.project.journeys] == ["Welcome"]
        with pf.connection() as conn:
            kept = conn.execute(select(func.count()).select_from(t.contacts)).scalar_one()
    assert kept == report.copied["contacts"] and CONTACTS - 200 < kept <= CONTACTS
    assert kept + report.lost.get("contacts", 0) >= CONTACTS - 200
    assert all("\n" not in line for line in report.lines())
    with pytest.raises(ProjectFileError, match="already exists"):
        integrity.repair(project, target)


def test_read_only_is_what_the_os_says(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == project and mode == os.W_OK
                        else real(p, mode, *a, **k))  # as for a 0644 file of another user
    with ProjectFile.open(project) as pf:
        assert pf.readonly and pf.readonly_reason == "the file is read-only"


@pytest.mark.gui
@pytest.mark.usefixtures("leftover_windows_closed")
def test_the_designer_checks_a_file_in_doubt_in_the_background(project: Path, qtbot,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from designer.main_window import MainWindow
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: told.append(text))
    damage(project)
    w = MainWindow.open(project)
    assert w is not None
    try:
        assert not w.document.readonly  # opened at once; the pages are read in a thread
        qtbot.waitUntil(lambda: w.document.file.pending_check is None, timeout=30_000)
        assert w.document.readonly and told and "damaged" in told[0] and "read-only" in w.windowTitle()
    finally:
        w.document.undo_stack.setClean()
        w.close()


def test_check_and_repair_from_the_command_line(project: Path, tmp_path: Path, capsys) -> None:
    from app.cli.main import main
    assert main(["check", str(project)]) == 0
    assert "sound" in capsys.readouterr().out
    damage(project)
    assert main(["check", str(project)]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "journey-studio repair" in err
    out = tmp_path / "fixed.jstudio"
    assert main(["repair", str(project), "--out", str(out)]) == 0
    assert "contacts:" in capsys.readouterr().out
    assert main(["check", str(out)]) == 0
    assert main(["repair", str(project), "--out", str(out)]) == 2  # never over an existing file
    assert "already exists" in capsys.readouterr().err


def test_repair_reads_the_rows_after_a_damaged_table_page(project: Path, tmp_path: Path) -> None:
    # garbage over the cells of a page of contacts in the middle of their table: a walk through the page can
    # meet a cell whose garbage rowid lies past the range it reads and stop without an error
    con = sqlite3.connect(project)
    pages = [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'contacts' AND pagetype = 'leaf' "
                                       "ORDER BY pageno")]
    con.close()
    page = pages[len(pages) // 2]
    for seed in range(12):
        damaged = tmp_path / f"d{seed}.jstudio"
        shutil.copyfile(project, damaged)
        with open(damaged, "r+b") as f:
            f.seek((page - 1) * 4096 + 100)
            f.write(random.Random(seed).randbytes(1500))
        report = integrity.repair(damaged, tmp_path / f"r{seed}.jstudio")
        assert report.copied["contacts"] > CONTACTS - 200, seed  # one page holds about 75 of them
