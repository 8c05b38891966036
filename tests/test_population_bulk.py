"""The bulk load behind `journey-studio population`: the same rows as a plain row-by-row write, foreign keys
enforced again afterwards, all or nothing (also when the process is killed), and the helpers it uses."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, text

from app.audience import base_load, bulk, population
from app.audience.base import ACCOUNT_COLUMNS, CONTACT_COLUMNS, _contact_columns, day_texts, second_texts
from app.audience.population import _profile_for
from app.audience.synthetic import synthesize
from app.errors import AudienceError, ProjectFileError
from app.model.attributes import INTERACTION_KINDS
from app.store import ProjectFile
from app.store import schema as t

AS_OF = date(2026, 6, 1)
AUDIENCE = ("accounts", "contacts", "contact_lists", "interactions", "segment_members")


def _table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(path)
    try:
        out = {name: con.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in AUDIENCE}
        out["indexes"] = sorted(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
        out["stat1"] = sorted(con.execute("SELECT * FROM sqlite_stat1 WHERE tbl IN "
                                          f"{AUDIENCE}").fetchall())
        out["orphans"] = con.execute("PRAGMA foreign_key_check").fetchall()
        out["check"] = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    return out


def _plain_write(pf: ProjectFile, seed: int, size: int) -> None:
    """The same base written the straightforward way: SQLAlchemy inserts, keys enforced, indexes in place."""
    base = synthesize(size, seed, _profile_for(None, ("en_US", "fr_FR"), population.DEFAULT_LISTS),
                      as_of=(AS_OF - date(1970, 1, 1)).days * 86_400, static=("Picked",))
    acc_columns, columns = _contact_columns(base)
    inter = base.interactions
    order = np.lexsort((inter.kind, inter.at, inter.contact))
    lists = base.lists
    names = np.array(lists.values, dtype=object)[lists.codes]
    list_order = np.lexsort((names.astype(str), lists.owners))
    with pf.connection(write=True) as conn:
        conn.execute(insert(t.accounts), [dict(zip(("id", *ACCOUNT_COLUMNS), r)) for r in zip(*acc_columns)])
        conn.execute(insert(t.contacts), [dict(zip(CONTACT_COLUMNS, r)) for r in zip(*columns)])
        conn.execute(insert(t.contact_lists), [
            {"contact_id": c, "list": n} for c, n in zip(base.ids[lists.owners[list_order]].tolist(),
                                                         names[list_order].tolist())])
        conn.execute(insert(t.interactions), [
            {"id": i + 1, "contact_id": c, "kind": INTERACTION_KINDS[k], "at": a,
             "value": None if np.isnan(v) else float(v)}
            for i, (c, k, a, v) in enumerate(zip(base.ids[inter.contact[order]].tolist(), inter.kind[order].tolist(),
                                                 second_texts(inter.at[order].astype(np.float64)),
                                                 inter.value[order].tolist()))])
        conn.execute(insert(t.segment_members), [{"segment": "Picked", "contact_id": int(i)}
                                                 for i in base.ids[base.static["Picked"]]])
        conn.exec_driver_sql("PRAGMA analysis_limit = 0")
        conn.exec_driver_sql("ANALYZE")


def _bulk_write(pf: ProjectFile) -> None:
    """The population load under test: 3,000 synthetic contacts of seed 11."""
    base = synthesize(3000, 11, _profile_for(None, ("en_US", "fr_FR"), population.DEFAULT_LISTS),
                      as_of=(AS_OF - date(1970, 1, 1)).days * 86_400, static=("Picked",))
    population.write_population(pf, base, seed=11, as_of=AS_OF)


def _assert_as_a_plain_write(tmp_path: Path) -> None:
    """bulk.jstudio holds exactly the rows a plain row-by-row write of the same population gives."""
    with ProjectFile.create(tmp_path / "plain.jstudio") as pf:
        _plain_write(pf, 11, 3000)
    fast, plain = _table_rows(tmp_path / "bulk.jstudio"), _table_rows(tmp_path / "plain.jstudio")
    assert len(fast["contacts"]) == 3000 and fast["interactions"] and fast["contact_lists"]
    assert fast == plain
    assert fast["orphans"] == [] and fast["check"] == [("ok",)]


def test_the_bulk_load_writes_what_a_plain_write_does(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "bulk.jstudio") as pf:
        _bulk_write(pf)
    _assert_as_a_plain_write(tmp_path)


@pytest.fixture()
def side_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Large-load mode at any size: the interactions and memberships are written by a second process; the
    scratch folders are made under the returned folder."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(base_load, "REBUILD_MIN_CONTACTS", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_the_load_with_a_side_process_writes_what_a_plain_write_does(tmp_path: Path, side_process: Path) -> None:
    started = []
    real = base_load._start_side

    def start(*args: Any) -> Any:
        started.append(1)
        return real(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base_load, "_start_side", start)
        with ProjectFile.create(tmp_path / "bulk.jstudio") as pf:
            _bulk_write(pf)
            with pf.connection() as conn:  # the side file was let go of, and removed
                assert {r[1] for r in conn.exec_driver_sql("PRAGMA database_list")} <= {"main", "temp"}
    assert started == [1]
    assert list(side_process.iterdir()) == []
    _assert_as_a_plain_write(tmp_path)


def _used_then_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: Any, name: str,
                       tables_of: Callable[[tuple[Any, ...]], list[str]]) -> list[list[str]]:
    """The bulk load with `module.name` watched, then with it refusing (NotPageable): each time the rows of a plain
    write. The tables it was given the first time (`tables_of` its arguments), call by call."""
    from app.audience import pages

    given: list[list[str]] = []
    real = getattr(module, name)

    def watch(*args: Any) -> Any:
        given.append(tables_of(args))
        return real(*args)

    def refuse(*args: Any) -> None:
        raise pages.NotPageable("refused")

    for stand_in in (watch, refuse):
        monkeypatch.setattr(module, name, stand_in)
        for path in (tmp_path / "bulk.jstudio", tmp_path / "plain.jstudio"):
            path.unlink(missing_ok=True)
        with ProjectFile.create(tmp_path / "bulk.jstudio") as pf:
            _bulk_write(pf)
        _assert_as_a_plain_write(tmp_path)
    return given


def test_the_contacts_pages_are_written_directly_in_a_large_load_and_inserted_when_refused(
        tmp_path: Path, side_process: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.audience import pages

    written = _used_then_refused(tmp_path, monkeypatch, pages, "write_tables", lambda args: sorted(args[1]))
    assert written == [["accounts", "contacts"]]  # (the side process writes the interactions' pages)


def test_the_side_files_pages_move_in_whole_and_are_copied_by_sqlite_when_they_cannot(
        tmp_path: Path, side_process: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.audience import grafting

    grafted = _used_then_refused(tmp_path, monkeypatch, grafting, "graft", lambda args: list(args[2]))
    assert grafted == [["contact_lists", "interactions"]]


def test_a_large_load_that_replaces_a_population_leaves_no_trace_of_the_old_one(
        tmp_path: Path, side_process: Path) -> None:
    path = tmp_path / "bulk.jstudio"
    with ProjectFile.create(path) as pf:
        population.generate(pf, 5000, 3, as_of=AS_OF)
        once = path.stat().st_size
        with pytest.raises(AudienceError, match="already has contacts"):
            population.generate(pf, 3000, 11, as_of=AS_OF)
        assert path.stat().st_size == once
        base = synthesize(3000, 11, _profile_for(None, ("en_US", "fr_FR"), population.DEFAULT_LISTS),
                          as_of=(AS_OF - date(1970, 1, 1)).days * 86_400, static=("Picked",))
        population.write_population(pf, base, seed=11, as_of=AS_OF, replace=True)
        with pf.connection() as conn:
            triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            assert conn.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0  # the old rows' pages are gone
    assert {name for name, _ in t.stamp_triggers()} <= triggers
    assert path.stat().st_size < once
    _assert_as_a_plain_write(tmp_path)


def test_the_side_file_is_inserted_by_sqlite_when_the_page_writer_refuses(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from app.audience import pages, side_load

    base = synthesize(800, 4, _profile_for(None, ("en_US",), population.DEFAULT_LISTS),
                      as_of=(AS_OF - date(1970, 1, 1)).days * 86_400)
    inter = base.interactions
    order = np.lexsort((inter.kind, inter.at, inter.contact))
    inter_cols = (base.ids[inter.contact[order]], inter.kind[order], inter.at[order], inter.value[order])
    lists = base.lists
    names = np.array(lists.values, dtype=object)[lists.codes]
    list_order = np.lexsort((names.astype(str), lists.owners))
    list_cols = (base.ids[lists.owners[list_order]], lists.codes[list_order], lists.values)
    with ProjectFile.create(tmp_path / "p.jstudio") as pf, pf.connection() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('contact_lists', 'interactions')")]
        indexes = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('contact_lists', 'interactions') "
            "AND sql IS NOT NULL")]
    dumps = []
    for mode in ("pages", "refused"):
        folder = tmp_path / mode
        folder.mkdir()
        side_load.save_rows(folder, {"tables": tables, "indexes": indexes, "page_size": 4096}, list_cols, inter_cols)
        if mode == "refused":
            monkeypatch.setattr(pages, "write_tables", lambda *a, **k: (_ for _ in ()).throw(pages.NotPageable("x")))
        side_load.write_side(folder)
        con = sqlite3.connect(folder / side_load.SIDE_FILE)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stats = json.loads((folder / side_load.STATS_FILE).read_text(encoding="utf-8"))
            dumps.append([con.execute(f"SELECT rowid, * FROM {name} ORDER BY rowid").fetchall()
                          for name in ("contact_lists", "interactions")] +
                         [{name: sorted(map(tuple, rows)) for name, rows in stats.items()}])
        finally:
            con.close()
    assert dumps[0] == dumps[1]
    assert len(dumps[0][1]) == len(order) > 0


def test_the_side_process_runs_this_application_whatever_the_working_folder_holds(
        tmp_path: Path, side_process: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "work" / "app"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the wrong app')\n")
    monkeypatch.chdir(decoy.parent)
    with ProjectFile.create(tmp_path / "f.jstudio") as pf:
        report = population.generate(pf, 300, 2, as_of=AS_OF)
        with pf.connection() as conn:
            assert conn.execute(text("SELECT count(*) FROM interactions")).scalar_one() == report.interactions > 0


def test_a_failed_side_process_changes_nothing(tmp_path: Path, side_process: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = base_load.save_rows

    def broken(folder: Path, ddl: dict[str, Any], *rest: Any) -> None:
        real(folder, ddl | {"indexes": ["CREATE INDEX nonsense ON no_such_table (x)"]}, *rest)

    monkeypatch.setattr(base_load, "save_rows", broken)
    with ProjectFile.create(tmp_path / "f.jstudio") as pf:
        with pytest.raises(AudienceError, match="no such table"):
            population.generate(pf, 300, 2, as_of=AS_OF)
        with pf.connection() as conn:
            for table in AUDIENCE:
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
            assert {r[1] for r in conn.exec_driver_sql("PRAGMA database_list")} <= {"main", "temp"}
        monkeypatch.setattr(base_load, "save_rows", real)
        population.generate(pf, 300, 2, as_of=AS_OF)  # and the next load goes through
    assert list(side_process.iterdir()) == []


def test_foreign_keys_are_enforced_again_after_a_bulk_load(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "f.jstudio") as pf:
        population.generate(pf, 50, 1, as_of=AS_OF)
        with pytest.raises(ProjectFileError, match="FOREIGN KEY"), pf.connection(write=True) as conn:
            conn.execute(text("INSERT INTO interactions (contact_id, kind, at) VALUES (999999, 'purchase', "
                              "'2026-01-01T00:00:00')"))
        with pytest.raises(RuntimeError, match="stop"), pf.bulk_connection():
            raise RuntimeError("stop")
        with pf.connection() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_a_bulk_load_cannot_start_inside_a_transaction(tmp_path: Path) -> None:
    with ProjectFile.create(tmp_path / "f.jstudio") as pf, pf.connection(write=True):
        with pytest.raises(ProjectFileError, match="inside another transaction"), pf.bulk_connection():
            pass


def test_an_error_on_the_worker_thread_rolls_the_load_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bulk.stat_statements  # the interactions' statistics are written on the worker thread
    monkeypatch.setattr(bulk, "stat_statements", lambda table, rows: real(table, rows) + (
        ["SELECT no_such_function()"] if table == "interactions" else []))
    with ProjectFile.create(tmp_path / "f.jstudio") as pf:
        with pytest.raises(ProjectFileError, match="no such function"):
            population.generate(pf, 300, 2, as_of=AS_OF)
        with pf.connection() as conn:
            for table in AUDIENCE:
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
            indexes = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        assert {ix.name for table in (t.contacts, t.interactions) for ix in table.indexes} <= indexes


def test_statistics_from_the_rows_are_what_analyze_writes() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    values = ("Paris", "PARIS", "paris", "Lyon", "", "Zoë", "ZOË")  # NOCASE folds ASCII letters only
    codes = rng.integers(-1, len(values), n)
    number = np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 50, n).astype(np.float64))
    unique = rng.permutation(n).astype(np.float64)  # nearly every key distinct: SQLite writes 1, not 2
    unique[:300] = unique[300:600]
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE x (a TEXT COLLATE NOCASE, b TEXT, c REAL, d INTEGER, PRIMARY KEY (c, a))")
    con.execute("CREATE INDEX ix_x_a_c_b ON x (a, c, b)")
    con.execute("CREATE INDEX ix_x_d ON x (d)")
    con.execute("CREATE INDEX ix_x_b_d ON x (b, d)")
    text_of = [None if k < 0 else values[k] for k in codes.tolist()]
    rows = list(zip(text_of, text_of, number.tolist(), unique.tolist()))
    rows = [(a, b, None if c != c else c, d) for a, b, c, d in rows]
    keep = {}
    for r in rows:  # the primary key (c, a) must hold: one row per pair, NOCASE
        keep.setdefault((r[2], None if r[0] is None else r[0].casefold()), r)
    kept = list(keep.values())
    con.executemany("INSERT INTO x VALUES (?, ?, ?, ?)", kept)
    con.execute("PRAGMA analysis_limit = 0")
    con.execute("ANALYZE")
    analyzed = sorted(con.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'x'").fetchall())
    index = {v: i for i, v in enumerate(values)}
    text_codes = np.array([-1 if r[0] is None else index[r[0]] for r in kept])
    columns: dict[str, bulk.KeyColumn] = {
        "a": (text_codes, values), "b": (text_codes, values),
        "c": np.array([np.nan if r[2] is None else r[2] for r in kept]), "d": np.array([r[3] for r in kept])}
    assert sorted(bulk.stat_rows(con, "x", len(kept), columns)) == analyzed
    assert bulk.stat_rows(con, "x", 0, columns) == []


@pytest.mark.parametrize("started", [False, True], ids=["before-it-starts", "while-it-runs"])
def test_an_error_in_the_block_interrupts_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     started: bool) -> None:
    """The block fails before the worker has begun its statement, or while it runs: either way no statement runs
    on to its end (this one would count to 10^10, minutes) and the block's error is raised."""
    import threading
    running = threading.Event()
    executed: list[str] = []
    real_run = bulk._Worker.run

    def run(self: Any) -> None:
        if not started:
            self.stopped.wait(10)  # the block fails first
        real_run(self)

    monkeypatch.setattr(bulk._Worker, "run", run)
    slow = ("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 10000000000) "
            "SELECT count(*) FROM s")

    def statements() -> list[str]:
        executed.append("slow")
        running.set()
        return [slow, "SELECT 1"]

    with ProjectFile.create(tmp_path / "f.jstudio") as pf, pytest.raises(ValueError, match="block"):
        with pf.connection(write=True) as conn:
            with bulk.in_background(conn, [statements]):
                if started:
                    assert running.wait(10)
                raise ValueError("block")
    assert executed == ["slow"] if started else executed == []


KILLED = textwrap.dedent("""
    import sys, time
    from datetime import date
    from app.audience import base_load, bulk, grafting, pages, population
    from app.store import ProjectFile, project_file
    bulk.BULK_CACHE_KIB = 64  # a small page cache spills pages into the file mid-load: the kill leaves a journal
    real = bulk.insert_rows
    def slow(conn, table, *args, **kw):
        n = real(conn, table, *args, **kw)
        if table.name == "contacts":
            print("writing", flush=True)
            time.sleep(60)
        return n
    bulk.insert_rows = slow
    mode = sys.argv[2]
    if mode != "one process":  # a large load: the file rebuilt from a copy, with a second process
        base_load.REBUILD_MIN_CONTACTS = 0
    if mode == "rebuilding":  # killed while the copy is written: the project file is not touched yet
        real_graft = grafting.graft
        def slow_graft(*args):
            real_graft(*args)
            print("writing", flush=True)
            time.sleep(60)
        grafting.graft = slow_graft
    if mode == "saving":  # killed while the copy goes into the project file, half of it written there
        project_file.BACKUP_STEP_PAGES = 16
        def step(status, remaining, total):
            if remaining < total // 2:
                print("writing", flush=True)
                time.sleep(60)
        project_file._backup_step = step
    with ProjectFile.open(sys.argv[1]) as pf:
        pf._conn.connection.driver_connection.execute("PRAGMA cache_size = 16")
        population.generate(pf, 4000, 5, as_of=date(2026, 6, 1))
""")


@pytest.mark.parametrize("mode", ["one process", "rebuilding", "saving"])
def test_a_killed_population_leaves_the_file_as_it_was(tmp_path: Path, mode: str) -> None:
    import os
    import time

    path = tmp_path / "k.jstudio"
    ProjectFile.create(path).close()
    size = path.stat().st_size
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(path), mode], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        journal = path.with_name(path.name + "-journal")
        if mode == "rebuilding":
            assert not journal.exists() and path.stat().st_size == size
        else:
            assert journal.exists()
        if mode == "saving":  # pages of the load are in the file already: only the journal can undo them
            assert path.stat().st_size > size
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    with ProjectFile.open(path) as again, again.connection() as conn:  # the unfinished load is rolled back
        for table in AUDIENCE:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        indexes = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        triggers = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    assert {ix.name for table in (t.contacts, t.interactions) for ix in table.indexes} <= indexes
    assert {name for name, _ in t.stamp_triggers()} <= triggers
    if mode != "one process":  # the next load removes what the killed one left behind in the scratch folder
        os.environ["TMPDIR"] = str(scratch)
        import tempfile
        tempfile.tempdir = None
        try:
            deadline = time.monotonic() + 30  # the side process may still be writing: it stops by itself
            with ProjectFile.open(path) as again:
                population.generate(again, 100, 1, as_of=AS_OF)
            while list(scratch.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.2)
                with ProjectFile.open(path) as again:
                    population.generate(again, 100, 1, as_of=AS_OF, replace=True)
            assert list(scratch.iterdir()) == []
        finally:
            del os.environ["TMPDIR"]
            tempfile.tempdir = None


def test_day_texts_format_each_day_as_numpy_does() -> None:
    rng = np.random.default_rng(3)
    days = rng.integers(-800_000, 2_900_000, 5000).astype(np.float64)
    days[::7] = np.nan
    expected = [None if np.isnan(d) else str(np.datetime_as_string(np.datetime64(int(d), "D"), unit="D"))
                for d in days]
    assert day_texts(days) == expected
    assert day_texts(np.zeros(0)) == [] and day_texts(np.array([np.nan])) == [None]
    assert day_texts(np.array([0.0, 20_605.0])) == ["1970-01-01", "2026-06-01"]


def test_a_large_load_without_room_for_its_scratch_files_says_so_and_changes_nothing(
        tmp_path: Path, side_process: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import hashlib

    from app.audience import pages
    from app.cli.main import main

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pages, "write_tables", full)
    path = tmp_path / "full.jstudio"
    ProjectFile.create(path).close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with ProjectFile.open(path) as pf:
        with pytest.raises(AudienceError, match="scratch files in .* could not be written: the disk is full; "
                                                "the project file was not changed"):
            population.generate(pf, 300, 2, as_of=AS_OF)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert list(side_process.iterdir()) == []
    assert main(["population", str(path), "--contacts", "300", "--seed", "2", "--as-of", "2026-06-01"]) == 2
