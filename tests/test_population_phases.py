"""A large population load: the side process's statistics are what ANALYZE of the loaded file writes, and the
load's phases are recorded for the benchmark only when it asks."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import date
from pathlib import Path

import pytest

from app.audience import base_load, bulk, population
from app.store import ProjectFile

AS_OF = date(2026, 6, 1)
SIDE_TABLES = ("contact_lists", "interactions", "accounts", "contacts")  # (all four: pages written directly)


@pytest.fixture()
def side_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Large-load mode at any size (the memberships and interactions from a second process)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


def _stat1(path: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute("SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl IN (?, ?, ?, ?)", SIDE_TABLES))
    finally:
        con.close()


def test_the_side_statistics_are_what_analyze_of_the_loaded_file_writes(tmp_path: Path, side_process: None) -> None:
    loaded = tmp_path / "loaded.jstudio"
    with ProjectFile.create(loaded) as pf:
        population.generate(pf, 2500, 5, ("en_US",), as_of=AS_OF)
    shutil.copy(loaded, tmp_path / "analysed.jstudio")
    con = sqlite3.connect(tmp_path / "analysed.jstudio")
    try:
        con.execute("PRAGMA analysis_limit = 0")
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()
    stats = _stat1(loaded)
    assert {tbl for tbl, _, _ in stats} == set(SIDE_TABLES)
    assert stats == _stat1(tmp_path / "analysed.jstudio")


@pytest.mark.parametrize("mode", ["side process", "in process"])
def test_the_phases_are_recorded_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 mode: str) -> None:
    if mode == "side process":
        monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    with ProjectFile.create(tmp_path / "quiet.jstudio") as pf:
        population.generate(pf, 500, 3, ("en_US",), as_of=AS_OF)
    assert bulk.PHASES is None
    monkeypatch.setattr(bulk, "PHASES", [])
    with ProjectFile.create(tmp_path / "timed.jstudio") as pf:
        population.generate(pf, 500, 3, ("en_US",), as_of=AS_OF)
    assert bulk.PHASES is not None
    names = [name for name, _, _ in bulk.PHASES]
    expected = ["draw the population (synthesize)", "make the contact columns (lazy text included), worker thread "
                "joined", "insert the accounts and contacts", "build the contacts' and accounts' indexes",
                "ANALYZE the other tables", "keep the columns read most"]
    if mode == "side process":  # a copy of the file rebuilt, its tables' pages written, then copied back
        expected[1:4] = ["save the memberships and interactions, start the side process",
                         "write the accounts' and contacts' pages", "wait for the side process",
                         "move the side file's pages in"]
        expected.append("copy the rebuilt file into the project file")
    else:
        expected[1:1] = ["insert the memberships and interactions"]
    assert names == expected
    assert all(wall >= 0 and cpu >= 0 for _, wall, cpu in bulk.PHASES)


@pytest.mark.parametrize("mode", ["side process", "in process"])
def test_a_watcher_is_told_each_part_of_the_load_as_it_begins_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         mode: str) -> None:
    if mode == "side process":
        monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    seen: list[str] = []
    with ProjectFile.create(tmp_path / "watched.jstudio") as pf, bulk.watched(seen.append):
        population.generate(pf, 400, 3, ("en_US",), as_of=AS_OF)
    middle = (["writing the accounts and contacts", "waiting for the interactions and list subscriptions",
               "adding the interactions and list subscriptions"] if mode == "side process" else
              ["writing the interactions and list subscriptions", "making the contacts' names, addresses and phones",
               "writing the accounts and contacts", "indexing the contacts"])
    assert seen == ["drawing the contacts", *middle, "gathering statistics for segment counts",
                    "keeping the contacts' columns for quick reading",
                    "saving the project file"]
    with ProjectFile.open(tmp_path / "watched.jstudio") as pf, bulk.watched(seen.append):
        seen.clear()
        population.generate(pf, 50, 4, ("en_US",), as_of=AS_OF, replace=True)
    assert seen[:2] == ["drawing the contacts", "removing the project's contacts"]
    # outside the block nobody is told
    seen.clear()
    with ProjectFile.create(tmp_path / "unwatched.jstudio") as pf:
        population.generate(pf, 50, 4, ("en_US",), as_of=AS_OF)
    assert seen == []


@pytest.mark.parametrize(("mode", "method"), [("in process", "bulk_connection"), ("side process", "rebuilt")])
def test_the_seconds_reported_include_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str,
                                                 method: str) -> None:
    from contextlib import contextmanager

    if mode == "side process":
        monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    clock = [0.0]
    monkeypatch.setattr(population.time, "perf_counter", lambda: clock[0])
    real = getattr(ProjectFile, method)

    @contextmanager
    def slow_commit(self: ProjectFile, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        with real(self, *args, **kwargs) as conn:
            yield conn
            clock[0] += 100.0  # the block's end commits: 100 "seconds" of writing out and syncing

    monkeypatch.setattr(ProjectFile, method, slow_commit)
    with ProjectFile.create(tmp_path / "p.jstudio") as pf:
        report = population.generate(pf, 50, 1, ("en_US",), as_of=AS_OF)
    assert report.contacts == 50 and report.seconds == 100.0
