"""ProjectFile.rebuilt: a large load rebuilds a copy of the project file, which then replaces the file's content in
one transaction (SQLite's backup): all or nothing, other connections see the old content or the new, edits to
the project meanwhile are written after it, other writes are refused until it is done."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from app.errors import ProjectFileError
from app.model.segment import Segment
from app.store import ProjectFile


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fill(copy: Path, rows: int = 20_000) -> None:
    """Change the copy the way a loader does: through a connection of its own."""
    con = sqlite3.connect(copy)
    try:
        con.executemany("INSERT INTO accounts (id, name) VALUES (?, ?)",
                        [(i, f"Account {i} " + "x" * (i % 50)) for i in range(1, rows + 1)])
        con.commit()
    finally:
        con.close()


def _accounts(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM accounts").fetchone()[0])
    finally:
        con.close()


def test_the_rebuilt_copy_becomes_the_files_content(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        pf.project.put_segment(Segment("Kept", query={"country": {"equals": "France"}}))
        reader = sqlite3.connect(path)  # another connection, open throughout
        assert reader.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0
        with pf.rebuilt(tmp_path / "copy.db") as copy:
            assert copy.exists() and copy != path
            _fill(copy)
            assert _accounts(path) == 0  # nothing reaches the file before the block ends
        assert reader.execute("SELECT count(*) FROM accounts").fetchone()[0] == 20_000
        assert reader.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        reader.close()
        with pf.connection() as conn:  # the file's own connection reads the new content, and writes on
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar_one() == 20_000
        pf.project.put_segment(Segment("After", query={"country": {"equals": "Spain"}}))
    with ProjectFile.open(path) as again:
        assert set(again.project.segments) >= {"Kept", "After"}
        with again.connection() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar_one() == 20_000
    assert not path.with_name(path.name + "-journal").exists()


def test_a_failed_rebuild_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        before = _digest(path)
        with pytest.raises(ValueError, match="loader failed"):
            with pf.rebuilt(tmp_path / "copy.db") as copy:
                _fill(copy)
                raise ValueError("loader failed")
        assert _digest(path) == before
        assert not path.with_name(path.name + "-journal").exists()
        with pytest.raises(ValueError, match="loader failed"):
            with pf.rebuilt(tmp_path / "copy2.db"):
                pf.project.put_segment(Segment("Meanwhile", query={"country": {"equals": "Italy"}}))
                raise ValueError("loader failed")
        assert not pf.unsaved  # the edit made during the failed load is written all the same
        pf.project.put_segment(Segment("Later", query={"country": {"equals": "Spain"}}))  # the file writes on
    with ProjectFile.open(path) as again:
        assert {"Meanwhile", "Later"} <= set(again.project.segments)
        with again.connection() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar_one() == 0


def test_edits_during_a_rebuild_are_written_after_it_and_other_writes_wait(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        with pf.rebuilt(tmp_path / "copy.db") as copy:
            pf.project.put_segment(Segment("Meanwhile", query={"country": {"equals": "Italy"}}))
            assert pf.unsaved  # held back: the copy goes over the file
            with pytest.raises(ProjectFileError, match="a load is being written into it"):
                with pf.connection(write=True):
                    pass
            with pytest.raises(ProjectFileError, match="inside another transaction"):
                with pf.rebuilt(tmp_path / "again.db"):
                    pass
            _fill(copy, 100)
        assert not pf.unsaved
    with ProjectFile.open(path) as again:
        assert "Meanwhile" in set(again.project.segments)
        with again.connection() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar_one() == 100


def test_a_read_only_file_is_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    ProjectFile.create(path).close()
    with ProjectFile.open(path, readonly=True) as pf:
        with pytest.raises(ProjectFileError, match="read-only|cannot change"):
            with pf.rebuilt(tmp_path / "copy.db"):
                pass
    assert not (tmp_path / "copy.db").exists()
