"""The page writer (app.audience.pages): what it writes SQLite reads as its own writing of the same rows (same
rows, same index order, integrity check clean), at every tree depth; what it does not write it refuses with the
file unchanged."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.audience import grafting, pages, records
from app.audience.pages import Ints, NotPageable, Reals, Texts, write_tables

DDL = [
    "CREATE TABLE t (id INTEGER NOT NULL, name TEXT COLLATE NOCASE, v FLOAT, k INTEGER, d VARCHAR(10), "
    "note TEXT, CONSTRAINT pk PRIMARY KEY (id))",
    "CREATE INDEX ix_name ON t (name)",
    "CREATE INDEX ix_multi ON t (d, v, k, name)",
    "CREATE INDEX ix_k ON t (k)",
    "CREATE TABLE l (cid INTEGER NOT NULL, list TEXT COLLATE NOCASE NOT NULL, PRIMARY KEY (cid, list))",
    "CREATE INDEX ix_l ON l (list, cid)",
]
NAMES = ["alice", "Alice", "ALICE", "BOB", "bob", "Zoë", "ZOË", "éclair", "Éclair", "", "ABC", "abd", "日本", "a b",
         "x" * 70, "y" * 300] + [f"n{i}" for i in range(40)]
QUERIES = [
    "SELECT * FROM t ORDER BY id",
    "SELECT name, id FROM t INDEXED BY ix_name ORDER BY name",
    "SELECT d, v, k, name, id FROM t INDEXED BY ix_multi ORDER BY d, v, k, name",
    "SELECT k, id FROM t INDEXED BY ix_k ORDER BY k",
    "SELECT rowid, * FROM l ORDER BY rowid",
    "SELECT list, cid FROM l INDEXED BY ix_l ORDER BY list, cid",
    "SELECT cid, list FROM l INDEXED BY sqlite_autoindex_l_1 ORDER BY cid, list",
    "SELECT typeof(v), typeof(k), count(*) FROM t GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT id FROM t WHERE name = 'alice' ORDER BY id",
    "SELECT id FROM t WHERE k BETWEEN -5 AND 5 ORDER BY id",
]


def _make(path: Path, ddl: list[str] = DDL, page_size: int = 4096) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute(f"PRAGMA page_size = {page_size}")
        for sql in ddl:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


def _data(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-1, len(NAMES), n)
    v = rng.normal(0, 1e6, n)
    v[rng.random(n) < 0.1] = np.nan
    v[rng.random(n) < 0.05] = 0.0
    v[rng.random(n) < 0.05] = -0.0
    v[rng.random(n) < 0.05] = 3.0
    v[rng.random(n) < 0.01] = np.inf
    k = rng.integers(-2**62, 2**62, n)
    small = rng.random(n) < 0.5
    k[small] = rng.integers(-300, 300, int(small.sum()))
    k[rng.random(n) < 0.05] = 0
    k[rng.random(n) < 0.05] = 1
    k_null = rng.random(n) < 0.1
    ids = rng.permutation(np.arange(1, 3 * n + 1))[:n]  # out of order, with gaps
    days = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    day_codes = rng.integers(-1, len(days), n)
    pairs = sorted({(int(a), NAMES[b].lower()) for a, b in zip(rng.integers(1, n + 1, 2 * n),
                                                                  rng.integers(0, len(NAMES), 2 * n)) if NAMES[b]})
    return {"ids": ids, "codes": codes, "v": v, "k": k, "k_null": k_null, "days": days, "day_codes": day_codes,
            "pairs": pairs}


def _columns(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pairs = d["pairs"]
    return {"t": {"id": Ints(d["ids"]), "name": Texts(d["codes"], NAMES), "v": Reals(d["v"]),
                  "k": Ints(d["k"], d["k_null"]), "d": Texts(d["day_codes"], d["days"])},
            "l": {"cid": Ints(np.array([a for a, _ in pairs], dtype=np.int64)),
                  "list": Texts(np.arange(len(pairs)), [b for _, b in pairs])}}


def _plain(path: Path, d: dict[str, Any]) -> None:
    """The same rows written by SQLite, through the sqlite3 module."""
    con = sqlite3.connect(path)
    try:
        rows = [(int(i), None if c < 0 else NAMES[c], None if np.isnan(x) else float(x), None if kn else int(kk),
                 None if dc < 0 else d["days"][dc])
                for i, c, x, kk, kn, dc in zip(d["ids"], d["codes"], d["v"], d["k"], d["k_null"], d["day_codes"])]
        con.executemany("INSERT INTO t (id, name, v, k, d) VALUES (?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT INTO l VALUES (?, ?)", d["pairs"])
        con.commit()
    finally:
        con.close()


def _read(path: Path) -> dict[str, Any]:
    con = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {q: con.execute(q).fetchall() for q in QUERIES}
        out["check"] = con.execute("PRAGMA integrity_check").fetchall()
        return out
    finally:
        con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("n", "chunk"), [(0, 1000), (1, 1000), (40, 1000), (3000, 700), (60_000, 9_000)])
def test_the_pages_read_back_as_sqlites_own_writing_of_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    n: int, chunk: int) -> None:
    monkeypatch.setattr(pages, "CHUNK_ROWS", chunk)  # chunks that end mid-page, and trees of several levels
    d = _data(n, seed=n)
    _make(tmp_path / "paged.db")
    _make(tmp_path / "plain.db")
    stats = write_tables(tmp_path / "paged.db", _columns(d))
    _plain(tmp_path / "plain.db", d)
    paged, plain = _read(tmp_path / "paged.db"), _read(tmp_path / "plain.db")
    assert paged["check"] == [("ok",)]
    assert paged == plain
    assert len(paged["SELECT * FROM t ORDER BY id"]) == n
    # the statistics it returns are what ANALYZE of the same rows writes
    con = sqlite3.connect(tmp_path / "plain.db")
    try:
        con.execute("PRAGMA analysis_limit = 0")
        con.execute("ANALYZE")
        analysed = sorted(con.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall(), key=str)
    finally:
        con.close()
    assert sorted(((tbl, idx, stat) for tbl, rows in stats.items() for idx, stat in rows), key=str) == analysed


def test_texts_through_the_padded_and_the_gathered_paths_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _data(5000, seed=9)
    _make(tmp_path / "plain.db")
    _plain(tmp_path / "plain.db", d)
    expected = _read(tmp_path / "plain.db")
    for pad_bytes in (records.PAD_BYTES, 0):  # 0: no text column gets a matrix; every chunk gathers byte by byte
        monkeypatch.setattr(records, "PAD_BYTES", pad_bytes)
        path = tmp_path / f"paged{pad_bytes}.db"
        _make(path)
        write_tables(path, _columns(d))
        assert _read(path) == expected


def test_rowids_from_a_column_or_given_or_counted(tmp_path: Path) -> None:
    ddl = ["CREATE TABLE a (x TEXT, y INTEGER)", "CREATE INDEX ix_a ON a (y, x)"]
    _make(tmp_path / "a.db", ddl)
    columns = {"x": Texts(np.array([0, 1, -1]), ["p", "q"]), "y": Ints(np.array([5, 5, 4]))}
    write_tables(tmp_path / "a.db", {"a": columns}, rowids={"a": np.array([30, 10, 20])})
    con = sqlite3.connect(tmp_path / "a.db")
    try:
        assert con.execute("SELECT rowid, x, y FROM a").fetchall() == [(10, "q", 5), (20, None, 4), (30, "p", 5)]
        assert con.execute("SELECT y, x FROM a INDEXED BY ix_a ORDER BY y, x").fetchall() == [
            (4, None), (5, "p"), (5, "q")]
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


REFUSED = [
    ("a row needing overflow pages", ["CREATE TABLE a (x TEXT)"], {"a": {"x": Texts(np.array([0]), ["z" * 5000])}}),
    ("NULL in a NOT NULL column", ["CREATE TABLE a (x TEXT NOT NULL)"], {"a": {"x": Texts(np.array([-1]), [])}}),
    ("a duplicate UNIQUE key", ["CREATE TABLE a (x TEXT COLLATE NOCASE UNIQUE)"],
     {"a": {"x": Texts(np.array([0, 1]), ["Ab", "aB"])}}),
    ("a DESC index", ["CREATE TABLE a (x INTEGER)", "CREATE INDEX ix ON a (x DESC)"],
     {"a": {"x": Ints(np.array([1]))}}),
    ("a partial index", ["CREATE TABLE a (x INTEGER)", "CREATE INDEX ix ON a (x) WHERE x > 0"],
     {"a": {"x": Ints(np.array([1]))}}),
    ("an expression index", ["CREATE TABLE a (x INTEGER)", "CREATE INDEX ix ON a (x + 1)"],
     {"a": {"x": Ints(np.array([1]))}}),
    ("texts a NUMERIC column would read as numbers", ["CREATE TABLE a (x NUMERIC)"],
     {"a": {"x": Texts(np.array([0]), ["12"])}}),
    ("fractions an INTEGER column would keep", ["CREATE TABLE a (x INTEGER)"], {"a": {"x": Reals(np.array([1.5]))}}),
    ("whole numbers a TEXT column would make texts", ["CREATE TABLE a (x TEXT)"], {"a": {"x": Ints(np.array([1]))}}),
    ("a column with a default", ["CREATE TABLE a (x INTEGER, y TEXT DEFAULT 'z')"], {"a": {"x": Ints(np.array([1]))}}),
    ("a CHECK constraint", ["CREATE TABLE a (x INTEGER CHECK (x > 0))"], {"a": {"x": Ints(np.array([1]))}}),
    ("a WITHOUT ROWID table", ["CREATE TABLE a (x INTEGER PRIMARY KEY, y TEXT) WITHOUT ROWID"],
     {"a": {"x": Ints(np.array([1]))}}),
    ("a text holding NUL", ["CREATE TABLE a (x TEXT)"], {"a": {"x": Texts(np.array([0, 1]), ["a\x00b", "c"])}}),
    ("duplicate rowids", ["CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT)"], {"a": {"id": Ints(np.array([2, 2]))}}),
    ("a column the table lacks", ["CREATE TABLE a (x TEXT)"], {"a": {"nope": Ints(np.array([1]))}}),
    ("a table with triggers", ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)",
                               "CREATE TRIGGER tr AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); END"],
     {"a": {"x": Ints(np.array([1]))}}),
]


@pytest.mark.parametrize(("why", "ddl", "tables"), REFUSED, ids=[r[0] for r in REFUSED])
def test_what_it_does_not_write_it_refuses_with_the_file_unchanged(tmp_path: Path, why: str, ddl: list[str],
                                                                   tables: dict[str, Any]) -> None:
    path = tmp_path / "r.db"
    _make(path, ddl)
    before = _digest(path)
    with pytest.raises(NotPageable):
        write_tables(path, tables)
    assert _digest(path) == before


def test_a_table_with_rows_or_a_wal_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    _make(path, ["CREATE TABLE a (x INTEGER)"])
    con = sqlite3.connect(path)
    con.execute("INSERT INTO a VALUES (1)")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(NotPageable, match="not empty"):
        write_tables(path, {"a": {"x": Ints(np.array([2]))}})
    assert _digest(path) == before
    wal = tmp_path / "wal.db"
    _make(wal, ["CREATE TABLE a (x INTEGER)"])
    con = sqlite3.connect(wal)
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    with pytest.raises(NotPageable, match="WAL"):
        write_tables(wal, {"a": {"x": Ints(np.array([2]))}})
    hot = tmp_path / "hot.db"  # a journal beside it: a transaction that did not finish
    _make(hot, ["CREATE TABLE a (x INTEGER)"])
    (tmp_path / "hot.db-journal").write_bytes(b"")
    before = _digest(hot)
    with pytest.raises(NotPageable, match="journal"):
        write_tables(hot, {"a": {"x": Ints(np.array([2]))}})
    assert _digest(hot) == before


def test_page_numbers_skip_the_lock_byte_page() -> None:
    """SQLite never uses the page holding byte 2**30 (its file locks live there)."""
    info = pages.File(page_size=4096, pages=262_140, counter=1, format4=True, tables={})
    taken = pages.Pages(-1, info).take(10)
    lock = 2**30 // 4096 + 1
    assert lock not in taken.tolist()
    assert taken.tolist() == [p for p in range(262_141, 262_152) if p != lock]


def test_a_small_page_size_makes_deep_trees_that_still_read_back(tmp_path: Path) -> None:
    d = _data(4000, seed=4)
    long = np.isin(d["codes"], [NAMES.index("x" * 70), NAMES.index("y" * 300)])  # entries that would overflow
    d["codes"] = np.where(long, 0, d["codes"])
    d["pairs"] = [(a, b) for a, b in d["pairs"] if len(b) < 50]
    _make(tmp_path / "paged.db", page_size=512)
    _make(tmp_path / "plain.db", page_size=512)
    write_tables(tmp_path / "paged.db", _columns(d))
    _plain(tmp_path / "plain.db", d)
    paged = _read(tmp_path / "paged.db")
    assert paged["check"] == [("ok",)]
    assert paged == _read(tmp_path / "plain.db")


@pytest.mark.parametrize(("unit", "lo", "hi"), [("s", -62135596800, 253402300799), ("D", -719162, 2932896),
                                                ("s", 0, 2 * 10**9), ("D", -800000, 2900000)])
def test_moments_as_texts_are_what_numpy_writes(unit: str, lo: int, hi: int) -> None:
    """Years 1 to 9999 as a matrix of digits, others (negative years here) as strings: the same texts."""
    from app.audience.side_load import moment_texts

    rng = np.random.default_rng(lo % 1000)
    values = rng.integers(lo, hi, 5000).astype(np.float64)
    values[::9] = np.nan
    values[1], values[2] = lo, hi
    texts = moment_texts(values, unit)  # type: ignore[arg-type]
    decoded = ([bytes(row).decode() for row in texts.values] if isinstance(texts.values, np.ndarray)
               else list(texts.values))
    assert isinstance(texts.values, np.ndarray) == (lo >= (-719162 if unit == "D" else -62135596800))
    assert [None if c < 0 else decoded[c] for c in texts.codes] == [
        None if np.isnan(x) else str(np.datetime_as_string(np.datetime64(int(x), unit), unit=unit)) for x in values]


def test_a_failure_while_the_trees_are_written_leaves_the_file_as_it_was(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.db"
    _make(path)
    before = _digest(path)
    real = pages._write_index_tree

    def failing(*args: Any) -> None:
        real(*args)  # pages after the end are written, then it fails
        raise OSError("the disk is full")

    monkeypatch.setattr(pages, "_write_index_tree", failing)
    with pytest.raises(OSError, match="disk is full"):
        write_tables(path, _columns(_data(3000, seed=2)))
    assert _digest(path) == before  # the roots and the header were not written; the new pages were cut off


def test_packed_keys_sort_as_lexsort_does() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    cases = [
        [rng.integers(0, 4, n, dtype=np.int8), rng.integers(-10**9, 10**9, n), rng.integers(0, 3, n)],
        [rng.integers(-2**62, 2**62, n), rng.integers(0, 2, n).astype(bool), rng.integers(0, 5, n)],  # too wide
        [rng.normal(size=n), rng.integers(0, 3, n), rng.integers(0, 3, n)],  # a float key is kept apart
        [rng.integers(0, 2, n)],
    ]
    for keys in cases:
        assert np.array_equal(pages.lex_order(keys), np.lexsort(keys))
    assert len(pages.lex_order([np.zeros(0, dtype=np.int64)])) == 0


# --- graft: trees moved from a side file into another file ------------------------------------------------------

OTHER = ["CREATE TABLE other (a INTEGER PRIMARY KEY, b TEXT)", "CREATE INDEX ix_other ON other (b)"]


def _target(path: Path, page_size: int = 4096) -> list[tuple[Any, ...]]:
    """A file with the tables to fill, empty, among others that hold rows (and free pages: some were deleted)."""
    _make(path, OTHER + DDL, page_size=page_size)
    con = sqlite3.connect(path)
    try:
        con.executemany("INSERT INTO other VALUES (?, ?)", [(i, f"row {i} " * (i % 40)) for i in range(1, 3000)])
        con.execute("DELETE FROM other WHERE a % 3 = 0")
        con.commit()
        return con.execute("SELECT * FROM other ORDER BY a").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(("n", "page_size", "written"), [(0, 4096, True), (1, 4096, True), (3000, 4096, True),
                                                         (20_000, 512, True), (3000, 4096, False)])
def test_grafted_trees_read_back_as_sqlites_own_writing(tmp_path: Path, n: int, page_size: int, written: bool) -> None:
    """Trees the page writer wrote, or SQLite itself, moved whole into a file that holds other tables: the same
    rows, every index intact, the other tables untouched."""
    d = _data(n, seed=n + 3)
    if page_size < 1024:  # no entry may need an overflow page
        d["codes"] = np.where(np.isin(d["codes"], [NAMES.index("x" * 70), NAMES.index("y" * 300)]), 0, d["codes"])
        d["pairs"] = [(a, b) for a, b in d["pairs"] if len(b) < 50]
    side, target, plain = tmp_path / "side.db", tmp_path / "target.db", tmp_path / "plain.db"
    _make(side, page_size=page_size)
    if written:
        write_tables(side, _columns(d))
    else:
        _plain(side, d)
    others = _target(target, page_size)
    _make(plain, page_size=page_size)
    _plain(plain, d)
    grafting.graft(side, target, ["t", "l"])
    assert _read(target) == _read(plain)
    con = sqlite3.connect(target)
    try:
        assert con.execute("SELECT * FROM other ORDER BY a").fetchall() == others
        assert con.execute("SELECT count(*) FROM other INDEXED BY ix_other WHERE b >= ''").fetchone()[0] == len(others)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        con.execute("INSERT INTO t (id, name) VALUES (?, 'after')", (10**9,))  # and it takes more rows as usual
        con.commit()
        assert con.execute("SELECT id FROM t WHERE name = 'AFTER'").fetchall() == [(10**9,)]
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


def _refused_side(tmp_path: Path, why: str) -> tuple[Path, Path]:
    side, target = tmp_path / "side.db", tmp_path / "target.db"
    d = _data(500, seed=8)
    _make(side, DDL + (["CREATE TABLE extra (x)"] if why == "another table" else []))
    _plain(side, d)
    _target(target)
    con = sqlite3.connect(side if why != "rows in the target" else target)
    try:
        if why == "overflow":
            con.execute("INSERT INTO t (id, note) VALUES (10000000, ?)", ("z" * 20_000,))
        elif why == "free pages":
            con.execute("DELETE FROM t WHERE id % 2 = 0")
        elif why == "another table":
            con.execute("INSERT INTO extra VALUES (1)")
        elif why == "rows in the target":
            con.execute("INSERT INTO l VALUES (1, 'a')")
        elif why == "defined otherwise":
            con.execute("DROP INDEX ix_k")
            con.execute("CREATE INDEX ix_k ON t (k, id)")
        con.commit()
    finally:
        con.close()
    return side, target


@pytest.mark.parametrize("why", ["overflow", "free pages", "another table", "rows in the target",
                                 "defined otherwise"])
def test_a_graft_it_cannot_make_is_refused_with_the_target_unchanged(tmp_path: Path, why: str) -> None:
    side, target = _refused_side(tmp_path, why)
    before = _digest(target)
    with pytest.raises(NotPageable):
        grafting.graft(side, target, ["t", "l"])
    assert _digest(target) == before


def test_a_failed_graft_cuts_the_target_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    side, target = tmp_path / "side.db", tmp_path / "target.db"
    _make(side)
    write_tables(side, _columns(_data(3000, seed=2)))
    _target(target)
    before = _digest(target)

    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(grafting, "finish", broken)
    with pytest.raises(OSError, match="disk full"):
        grafting.graft(side, target, ["t", "l"])
    assert _digest(target) == before


def test_a_graft_copies_through_the_mapping_where_the_kernel_cannot(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without in-kernel copies (or a copy cut short) still gets every page."""
    calls = []

    def partial(src: int, dst: int, count: int, offset_src: int, offset_dst: int) -> int:
        calls.append(count)
        if len(calls) > 1:
            raise OSError(18, "Invalid cross-device link")
        return os.pwrite(dst, os.pread(src, min(count, 4096 * 3), offset_src), offset_dst)

    monkeypatch.setattr(os, "copy_file_range", partial, raising=False)
    d = _data(3000, seed=5)
    side, target, plain = tmp_path / "side.db", tmp_path / "target.db", tmp_path / "plain.db"
    _make(side)
    write_tables(side, _columns(d))
    _target(target)
    _make(plain)
    _plain(plain, d)
    grafting.graft(side, target, ["t", "l"])
    assert len(calls) >= 2
    assert _read(target) == _read(plain)
