"""Table and index pages of an SQLite file written straight from NumPy columns: a large load's scratch files.

Inserting rows through the sqlite3 module costs a Python call per value, and building an index afterwards makes
SQLite read and sort every row again. For a scratch file (a large load works on a copy of the project file,
ProjectFile.rebuilt, and a side file its second process writes: app.audience.base_store and side_load), this
module writes the b-tree pages of tables and of their indexes directly, in SQLite's documented file format
(https://www.sqlite.org/fileformat2.html): records are encoded column by column with NumPy (app.audience.records,
the first half of the writer), index entries sorted
with `np.lexsort` in SQLite's own order (NULL first, numbers by value, texts by the index's collation, BINARY or
NOCASE, then the rowid), and pages filled bottom up, leaf by leaf. SQLite then reads the file as its own; the
tests check what is written with `PRAGMA integrity_check` and against SQLite's own writing of the same rows.
app.audience.grafting moves whole trees from one such file into the same empty tables of another.

The file must hold the tables and their indexes empty, as SQLite made them (`CREATE TABLE`, `CREATE INDEX`),
in rollback-journal mode, UTF-8, without auto-vacuum. What this module does not write (overflow pages, DESC,
partial or expression indexes, WITHOUT ROWID tables, CHECK constraints, defaults other than NULL, triggers,
values SQLite would convert on insert, NULL in a NOT NULL column, a duplicate key of a UNIQUE index) it refuses
with NotPageable, the file left as it was; the caller then inserts those rows the usual way.

Imports neither SQLAlchemy nor the rest of the application (the side process loads it).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.audience.records import (Enc, Ints, NotPageable, PageColumn, Reals, Source, Texts, encode, encode_ints,
                                  fits, lex_order, make_cells, pack_keys, sort_keys)

CHUNK_ROWS = 131_072  # rows encoded at a time (a few tens of MB of cells)
LEAF_TABLE, INTERIOR_TABLE, LEAF_INDEX, INTERIOR_INDEX = 0x0D, 0x05, 0x0A, 0x02




# --- the file's own description ------------------------------------------------------------------------------

def _affinity(declared: str) -> str:
    """A column's type affinity from its declared type (https://www.sqlite.org/datatype3.html, 3.1)."""
    d = declared.upper()
    if "INT" in d:
        return "INTEGER"
    if "CHAR" in d or "CLOB" in d or "TEXT" in d:
        return "TEXT"
    if "BLOB" in d or not d:
        return "BLOB"
    if "REAL" in d or "FLOA" in d or "DOUB" in d:
        return "REAL"
    return "NUMERIC"


@dataclass
class _Index:
    name: str
    root: int
    columns: list[str]
    collations: list[str]
    unique: bool


@dataclass
class _Table:
    name: str
    root: int
    columns: list[str]
    affinity: dict[str, str]
    not_null: set[str]
    alias: str | None  # the INTEGER PRIMARY KEY column: the rowid itself, stored as NULL in the record
    indexes: list[_Index] = field(default_factory=list)


@dataclass
class File:
    page_size: int
    pages: int
    counter: int
    format4: bool  # schema format 4: the integers 0 and 1 are stored as serial types 8 and 9, without a body
    tables: dict[str, _Table]


def read_head(path: Path) -> tuple[File, bytes]:
    """The file's header, checked for what this module writes into (no tables described yet), and its bytes."""
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        raise NotPageable(f"{path.name} is not an SQLite file")
    if any(path.with_name(path.name + end).exists() for end in ("-journal", "-wal")):
        raise NotPageable(f"{path.name} has a journal beside it (a transaction not finished)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if head[18] != 1 or head[19] != 1:
        raise NotPageable("the file is in WAL mode")
    if head[20] != 0:
        raise NotPageable("the file reserves bytes at the end of each page")
    if int.from_bytes(head[52:56], "big") != 0:
        raise NotPageable("the file uses auto-vacuum")
    if int.from_bytes(head[56:60], "big") != 1:
        raise NotPageable("the file's text is not UTF-8")
    counter = int.from_bytes(head[24:28], "big")
    pages = int.from_bytes(head[28:32], "big")
    if pages == 0 or counter != int.from_bytes(head[92:96], "big"):
        pages = path.stat().st_size // page_size
    if path.stat().st_size != pages * page_size:
        raise NotPageable("the file's size does not match its header")
    return File(page_size, pages, counter, int.from_bytes(head[44:48], "big") >= 4, {}), head


def _describe(path: Path, names: Sequence[str]) -> File:
    info, _ = read_head(path)
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        info.tables = {name: _describe_table(con, name) for name in names}
    finally:
        con.close()
    return info


def _describe_table(con: sqlite3.Connection, name: str) -> _Table:
    row = con.execute("SELECT rootpage, sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    if row is None:
        raise NotPageable(f"no table {name}")
    root, sql = row
    upper = " ".join(str(sql).upper().split())
    if "WITHOUT ROWID" in upper or "CHECK" in upper or " AS (" in upper or "GENERATED" in upper:
        raise NotPageable(f"{name}: a WITHOUT ROWID table, a CHECK constraint or a generated column")
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (name,)).fetchone():
        raise NotPageable(f"{name} has triggers")
    info = con.execute(f'PRAGMA table_info("{name}")').fetchall()
    columns = [r[1] for r in info]
    for r in info:
        if r[4] is not None and str(r[4]).upper() != "NULL":
            raise NotPageable(f"{name}.{r[1]} has a default")
    pk = [r for r in info if r[5]]
    alias = pk[0][1] if len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER" else None
    table = _Table(name, int(root), columns, {r[1]: _affinity(str(r[2] or "")) for r in info},
                   {r[1] for r in info if r[3]}, alias)
    for _, index, unique, origin, partial in con.execute(f'PRAGMA index_list("{name}")').fetchall():
        if partial:
            raise NotPageable(f"{index} is a partial index")
        if origin == "pk" and alias is not None:
            continue  # the rowid itself
        iroot = con.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = ?",
                            (index,)).fetchone()[0]
        cols, colls = [], []
        for _, cid, cname, desc, coll, key in con.execute(f'PRAGMA index_xinfo("{index}")').fetchall():
            if not key:
                continue
            if cid < 0 or desc or str(coll).upper() not in ("BINARY", "NOCASE"):
                raise NotPageable(f"{index}: an expression, DESC or {coll} key")
            cols.append(cname)
            colls.append(str(coll).upper())
        table.indexes.append(_Index(index, int(iroot), cols, colls, bool(unique)))
    return table


# --- pages ---------------------------------------------------------------------------------------------------

class Pages:
    """Page numbers from the end of the file (skipping the lock-byte page), and the pages written there."""

    def __init__(self, fd: int, info: File) -> None:
        self.fd, self.size, self.last = fd, info.page_size, info.pages
        self.lock_page = 0x40000000 // info.page_size + 1
        self.roots: dict[int, bytes] = {}  # written last, once every tree is done
        self._taking = threading.Lock()

    def take(self, k: int) -> np.ndarray:
        with self._taking:  # (trees are written by several threads)
            numbers = np.arange(self.last + 1, self.last + 1 + k, dtype=np.int64)
            if k and numbers[0] <= self.lock_page <= numbers[-1]:
                numbers[numbers >= self.lock_page] += 1
            if k:
                self.last = int(numbers[-1])
            return numbers

    def write(self, numbers: np.ndarray, pages: np.ndarray) -> None:
        """Write pages (one row each) at their numbers (consecutive but for the lock-byte page)."""
        i = 0
        while i < len(numbers):
            j = i + 1
            while j < len(numbers) and numbers[j] == numbers[j - 1] + 1:
                j += 1
            os.pwrite(self.fd, pages[i:j].tobytes(), (int(numbers[i]) - 1) * self.size)
            i = j

    def put(self, number: int, page: bytes) -> None:
        os.pwrite(self.fd, page, (number - 1) * self.size)

    def root(self, number: int, page: bytes) -> None:
        """A tree's root page: kept until every tree is written (it replaces a page the file already has)."""
        self.roots[number] = page


def _leaf_pages(kind: int, size: int, buf: np.ndarray, offsets: np.ndarray, runs: Sequence[tuple[int, int]]
                ) -> np.ndarray:
    """Leaf pages, one per run [a, b) of cells: the cells at the end of the page, their pointers after the
    header, in order."""
    pages = np.zeros((len(runs), size), dtype=np.uint8)
    if not runs:
        return pages
    a = np.array([r[0] for r in runs], dtype=np.int64)
    b = np.array([r[1] for r in runs], dtype=np.int64)
    content = offsets[b] - offsets[a]
    top = size - content
    for p, (lo, hi) in enumerate(runs):
        pages[p, size - int(content[p]):] = buf[offsets[lo]:offsets[hi]]
    counts = b - a
    flat = pages.reshape(-1)
    base = np.arange(len(runs), dtype=np.int64) * size
    flat[base] = kind
    flat[base + 3], flat[base + 4] = counts >> 8, counts & 0xFF
    start = np.where(top == 65536, 0, top)
    flat[base + 5], flat[base + 6] = start >> 8, start & 0xFF
    page_of = np.repeat(np.arange(len(runs), dtype=np.int64), counts)
    cell = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts) + \
        np.repeat(a, counts)  # the cells of each run in turn (index leaves skip the cell promoted between runs)
    pointer = top[page_of] + offsets[cell] - offsets[a[page_of]]
    slot = base[page_of] + 8 + 2 * (cell - a[page_of])
    flat[slot], flat[slot + 1] = pointer >> 8, pointer & 0xFF
    return pages


def _interior_page(kind: int, size: int, cells: Sequence[bytes], right: int) -> bytes:
    content = b"".join(reversed(cells))
    top = size - len(content)
    pointers, at = [], size
    for c in cells:
        at -= len(c)
        pointers.append(at.to_bytes(2, "big"))
    head = bytes([kind, 0, 0]) + len(cells).to_bytes(2, "big") + (top % 65536).to_bytes(2, "big") + b"\x00" + \
        right.to_bytes(4, "big")
    body = head + b"".join(pointers)
    if len(body) > top:
        raise NotPageable("an interior page overflows")
    return body + bytes(top - len(body)) + content


def _greedy(sizes: np.ndarray, room: int, promote: bool) -> list[tuple[int, int]]:
    """Runs [a, b) of items that fill pages of `room` bytes in turn (sizes include each item's pointer); with
    `promote`, the item after each run but the last goes up to the parent and the next run starts after it. The
    last run is never empty."""
    n = len(sizes)
    cum = np.concatenate(([0], np.cumsum(sizes))).tolist()  # bisect on a list: a page costs a microsecond
    runs: list[tuple[int, int]] = []
    a = 0
    while a < n:
        b = bisect_right(cum, cum[a] + room) - 1
        if b <= a:
            raise NotPageable("an entry larger than a page")
        runs.append((a, min(b, n)))
        a = b + 1 if promote else b
    if promote and runs and runs[-1][1] < n:
        # the last run ended just before the last item, which would go up with no run after it: end the run one
        # item earlier, so that one goes up and the last item makes a run of its own
        lo, hi = runs[-1]
        if hi - 1 <= lo:
            raise NotPageable("an index page with a single entry")
        runs[-1] = (lo, hi - 1)
        runs.append((n - 1, n))
    return runs


def _write_table_tree(pages: Pages, table: _Table, info: File, source: Source, encs: Sequence[Enc],
                      order: np.ndarray, ids: np.ndarray, consecutive: bool) -> None:
    """A table b-tree: rows `order` (ascending rowids `ids[order]`; `consecutive`: order is 0, 1, 2, ...), leaves
    filled in turn, then interior pages."""
    _table_interior(pages, table, info, _table_leaves(pages, table, info, source, encs, order, ids, consecutive))


def _table_leaves(pages: Pages, table: _Table, info: File, source: Source, encs: Sequence[Enc],
                  order: np.ndarray, ids: np.ndarray, consecutive: bool, whole: bool = True) -> list[tuple[int, int]]:
    """The leaves of rows `order`, filled in turn: (page number, largest rowid in it) of each. When `whole` (these
    are all the table's rows) and they fit in one leaf, that leaf is the root and [] is returned. A part of a
    table (not `whole`) ends with a leaf of its own, however full: the parts' leaves, in order, are the table's."""
    size = info.page_size
    n = len(order)
    leaves: list[tuple[int, int]] = []  # (page number, largest rowid in it)
    pending: np.ndarray = np.zeros(0, dtype=np.int64)
    for lo in range(0, n, CHUNK_ROWS):
        at = np.concatenate((pending, np.arange(lo, min(lo + CHUNK_ROWS, n), dtype=np.int64)))
        rows = order[at]
        last = lo + CHUNK_ROWS >= n
        # rows in table order are consecutive (the pending ones precede the chunk): a slice, read without copies
        taken: np.ndarray | slice = slice(int(rows[0]), int(rows[-1]) + 1) if consecutive else rows
        buf, offsets = make_cells(source, encs, taken, ids[taken], size - 35, table.name)
        runs = _greedy(np.diff(offsets) + 2, size - 8, promote=False)
        if not last:
            pending, runs = at[runs[-1][0]:], runs[:-1]
        if not runs:
            continue
        built = _leaf_pages(LEAF_TABLE, size, buf, offsets, runs)
        if whole and not leaves and len(runs) == 1 and last:  # the only leaf: the root itself
            pages.root(table.root, built[0].tobytes())
            return []
        numbers = pages.take(len(runs))
        pages.write(numbers, built)
        leaves += [(int(p), int(ids[rows[hi - 1]])) for p, (_, hi) in zip(numbers, runs)]
    return leaves


def _table_interior(pages: Pages, table: _Table, info: File, leaves: list[tuple[int, int]]) -> None:
    """The interior levels over a table's leaves (none when the root is the only leaf: [])."""
    size = info.page_size
    level = leaves
    while level:
        # an interior level: each page takes children while their cells fit, the last child as its right pointer
        cells = [p.to_bytes(4, "big") + _varint(k) for p, k in level]
        groups = _children_groups(len(level), np.array([len(c) + 2 for c in cells], dtype=np.int64), size - 12)
        if len(groups) == 1:
            a, b = groups[0]
            pages.root(table.root, _interior_page(INTERIOR_TABLE, size, cells[a:b - 1], level[b - 1][0]))
            return
        numbers = pages.take(len(groups))
        for number, (a, b) in zip(numbers, groups):
            pages.put(int(number), _interior_page(INTERIOR_TABLE, size, cells[a:b - 1], level[b - 1][0]))
        level = [(int(number), level[b - 1][1]) for number, (a, b) in zip(numbers, groups)]


def _children_groups(n: int, sizes: np.ndarray, room: int) -> list[tuple[int, int]]:
    """Children [a, b) of each interior table page: cells for all but the last, which is the right pointer; each
    page at least two children."""
    groups: list[tuple[int, int]] = []
    a = 0
    cum = np.concatenate(([0], np.cumsum(sizes)))
    while a < n:
        # cells a..b-2 must fit: cum[b-1] - cum[a] <= room
        b = int(np.searchsorted(cum, cum[a] + room, side="right"))  # b - 1 cells fit from a
        b = min(b, n)
        if b - a < 2 and n - a >= 2:
            b = a + 2
        groups.append((a, b))
        a = b
    if len(groups) > 1 and groups[-1][1] - groups[-1][0] < 2:
        (pa, pb), (_, lb) = groups[-2], groups[-1]
        groups[-2:] = [(pa, pb - 1), (pb - 1, lb)]
    return groups


def _varint(v: int) -> bytes:
    if v < 0 or v >= 1 << 56:
        raise NotPageable("a value beyond the varints written here")
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def _write_index_tree(pages: Pages, index: _Index, info: File, source: Source, encs: Sequence[Enc],
                      order: np.ndarray) -> None:
    """An index b-tree: entries in `order` (rows), leaves filled in turn, the entry after each leaf going up."""
    size = info.page_size
    max_local = (size - 12) * 64 // 255 - 23
    n = len(order)
    promoted: list[bytes] = []  # cells (payload size, record) of the entries that went up
    children: list[int] = []
    pending = np.zeros(0, dtype=np.int64)
    single: np.ndarray | None = None
    lo = 0
    while lo < n or len(pending):
        hi = min(lo + CHUNK_ROWS, n)
        part = np.concatenate((pending, np.arange(lo, hi, dtype=np.int64)))
        last = hi >= n
        lo = hi
        buf, offsets = make_cells(source, encs, order[part], None, max_local, index.name)
        runs = _greedy(np.diff(offsets) + 2, size - 8, promote=True)
        if not last:
            # keep the last page's entries (and what follows) for the next chunk: the last run may grow there
            pending, runs = part[runs[-1][0]:], runs[:-1]
        else:
            pending = np.zeros(0, dtype=np.int64)
        if not runs:
            continue
        built = _leaf_pages(LEAF_INDEX, size, buf, offsets, runs)
        if last and not children and len(runs) == 1:
            single = built[0]
            break
        numbers = pages.take(len(runs))
        pages.write(numbers, built)
        children += [int(p) for p in numbers]
        # the entry after each run goes up (the last run's, only when more entries follow)
        for a, b in runs[:-1] if last else runs:
            promoted.append(buf[offsets[b]:offsets[b + 1]].tobytes())
    if single is not None:
        pages.root(index.root, single.tobytes())
        return
    if n == 0:
        return
    # interior levels: items (promoted entries) between children; the same greedy fill, the item after each
    # page going up again
    while True:
        assert len(children) == len(promoted) + 1
        cells = [children[i].to_bytes(4, "big") + promoted[i] for i in range(len(promoted))]
        sizes = np.array([len(c) + 2 for c in cells], dtype=np.int64)
        runs = _greedy(sizes, size - 12, promote=True)
        if len(runs) == 1:
            a, b = runs[0]
            pages.root(index.root, _interior_page(INTERIOR_INDEX, size, cells[a:b], children[b]))
            return
        numbers = pages.take(len(runs))
        for number, (a, b) in zip(numbers, runs):
            pages.put(int(number), _interior_page(INTERIOR_INDEX, size, cells[a:b], children[b]))
        promoted = [promoted[b] for _, b in runs[:-1]]
        children = [int(x) for x in numbers]


# --- the whole --------------------------------------------------------------------------------------------------

TABLE_PARTS = 2  # a large table's leaves are written in this many parts at once
WORKERS = 3  # threads that sort the indexes and write the trees (NumPy lets go of the interpreter lock meanwhile)


@dataclass
class _Plan:
    table: _Table
    encs: dict[str, Enc]
    order: np.ndarray | None  # the rows in rowid order, when they are not given so
    ids: np.ndarray
    n: int
    rowid: Enc


def write_tables(path: str | os.PathLike[str], tables: Mapping[str, Mapping[str, PageColumn]],
                 rowids: Mapping[str, np.ndarray] | None = None) -> dict[str, list[tuple[str | None, str]]]:
    """Write rows into the empty tables of the SQLite file at `path`, with their indexes.

    `tables` maps each table to its columns (a column not given is NULL); a table's INTEGER PRIMARY KEY column,
    when it has one, gives its rowids (any order: rows are stored by rowid), else `rowids[table]` does, else
    they are 1, 2, ... in the order given. No connection may have the file open while it is written.
    Raises NotPageable, with the file unchanged, for what it does not write (see the module's text). Returns
    each table's `sqlite_stat1` rows, (index, stat), as ANALYZE without an analysis limit would write them (from
    the sorted entries: no second pass over the rows); nothing is written into the file's own sqlite_stat1.
    The file's own pages change only once every check has passed: new pages go after its end (the trees are
    written while the indexes' checks still run, and a refusal or failure cuts the file back to its size), and
    the root pages and the header are written last.
    """
    path = Path(path)
    info = _describe(path, list(tables))
    plans = [_plan(info, name, columns, (rowids or {}).get(name)) for name, columns in tables.items()]
    for plan in plans:
        if not empty_root(path, info, plan.table.root, LEAF_TABLE) or not all(
                empty_root(path, info, ix.root, LEAF_INDEX) for ix in plan.table.indexes):
            raise NotPageable(f"{plan.table.name} is not empty")
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    jobs: list[Future[None]] = []
    sorting: dict[Future[tuple[np.ndarray, str]], tuple[_Plan, Source, _Index, list[Enc]]] = {}
    parts: list[list[Future[list[tuple[int, int]]]]] = []
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pages")
    try:
        pages = Pages(fd, info)
        # each index's sort (with its UNIQUE check and its statistics) first, the widest indexes first, and its
        # tree as soon as it is sorted; then the tables' leaves, a large table's in parts side by side. A refusal
        # on the way cuts the file back
        work = []
        for plan in plans:
            table = plan.table
            encs_t = [plan.encs[c] for c in table.columns]
            index_encs = [[plan.encs[c] for c in ix.columns] + [plan.rowid] for ix in table.indexes]
            work.append((plan, Source([*encs_t, *(e for encs in index_encs for e in encs)]), index_encs))
        wanted = sorted(((plan, source, index, encs_i) for plan, source, index_encs in work
                         for index, encs_i in zip(plan.table.indexes, index_encs)),
                        key=lambda w: -w[0].n * sum(int(e.length.max()) + 1 if len(e.length) else 1 for e in w[3]))
        sorting = {pool.submit(_index_order, w[0], w[2]): w for w in wanted}
        found: dict[tuple[str, str], str] = {}
        for job in as_completed(sorting):
            plan, source, index, encs_i = sorting[job]
            entry_order, found[plan.table.name, index.name] = job.result()
            if plan.n:
                jobs.append(pool.submit(_write_index_tree, pages, index, info, source, encs_i, entry_order))
        stats: dict[str, list[tuple[str | None, str]]] = {}
        for plan, source, _ in work:
            table = plan.table
            stats[table.name] = [(ix.name, found[table.name, ix.name]) for ix in table.indexes] if plan.n and \
                table.indexes else [(None, str(plan.n))] if plan.n else []
            rows = np.arange(plan.n, dtype=np.int64) if plan.order is None else plan.order
            cuts = np.linspace(0, plan.n, TABLE_PARTS + 1 if plan.n >= 2 * CHUNK_ROWS else 2).astype(np.int64)
            encs_t = [plan.encs[c] for c in table.columns]
            parts.append([pool.submit(_table_leaves, pages, table, info, source, encs_t, rows[a:b], plan.ids,
                                      plan.order is None, len(cuts) == 2) for a, b in zip(cuts[:-1], cuts[1:])
                          if b > a])
        for tree in jobs:
            tree.result()
        for (plan, _, _), leaves in zip(work, parts):
            _table_interior(pages, plan.table, info, [leaf for part in leaves for leaf in part.result()])
        finish(fd, info, pages)
    except BaseException:
        waiting: list[Future[Any]] = [*jobs, *sorting, *(part for leaves in parts for part in leaves)]
        for job in waiting:
            job.cancel()
        pool.shutdown(wait=True)
        os.ftruncate(fd, size)  # only pages after the end were written: the file is as it was
        raise
    finally:
        pool.shutdown(wait=True)
        os.close(fd)
    return stats


def finish(fd: int, info: File, pages: Pages) -> None:
    """The root pages, then the header: the new size, and a new change counter (the size counts only when the
    two agree; a connection that opens the file next sees it changed and reads it afresh)."""
    for number, page in sorted(pages.roots.items()):
        os.pwrite(fd, page, (number - 1) * info.page_size)
    os.ftruncate(fd, pages.last * info.page_size)  # the lock-byte page, if skipped last, is zeros
    counter = ((info.counter + 1) & 0xFFFFFFFF).to_bytes(4, "big")
    os.pwrite(fd, counter, 24)
    os.pwrite(fd, pages.last.to_bytes(4, "big"), 28)
    os.pwrite(fd, counter, 92)  # (no sync: the caller's file is a scratch file or syncs itself)


def _plan(info: File, name: str, columns: Mapping[str, PageColumn], given: np.ndarray | None) -> _Plan:
    """A table's rows checked and encoded (NotPageable for what is not written)."""
    table = info.tables[name]
    unknown = set(columns) - set(table.columns)
    if unknown:
        raise NotPageable(f"{name} has no column {sorted(unknown)[0]}")
    lengths = {len(c.codes) if isinstance(c, Texts) else len(c.values) for c in columns.values()}
    if len(lengths) > 1:
        raise NotPageable(f"{name}: columns of different lengths")
    n = lengths.pop() if lengths else 0
    if table.alias is not None and table.alias in columns:
        alias = columns[table.alias]
        if not isinstance(alias, Ints) or (alias.null is not None and np.any(alias.null)):
            raise NotPageable(f"{name}.{table.alias}: the rowids must be whole numbers")
        ids = np.asarray(alias.values, dtype=np.int64)
    elif given is not None:
        ids = np.asarray(given, dtype=np.int64)
    else:
        ids = np.arange(1, n + 1, dtype=np.int64)
    if len(ids) != n:
        raise NotPageable(f"{name}: {len(ids)} rowids for {n} rows")
    order = np.argsort(ids, kind="stable") if n and np.any(ids[1:] < ids[:-1]) else None
    sorted_ids = ids if order is None else ids[order]
    if n and (sorted_ids[0] < 1 or np.any(sorted_ids[1:] == sorted_ids[:-1])):
        raise NotPageable(f"{name}: rowids that are not distinct positive numbers")
    encs = {}
    for c in table.columns:
        col = None if c == table.alias else columns.get(c)
        encs[c] = encode(col, n, f"{name}.{c}", table.affinity[c], info.format4)
        if c in table.not_null and c != table.alias and bool(encs[c].null.any()):
            raise NotPageable(f"{name}.{c}: NULL in a NOT NULL column")
    plan = _Plan(table, encs, order, ids, n, encode_ints(ids, np.zeros(n, dtype=bool), info.format4))
    # every record fits on its page (overflow pages are not written): checked before anything is
    fits([encs[c] for c in table.columns], info.page_size - 35, name)
    for index in table.indexes:
        fits([encs[c] for c in index.columns] + [plan.rowid], (info.page_size - 12) * 64 // 255 - 23, index.name)
    return plan


def _index_order(plan: _Plan, index: _Index) -> tuple[np.ndarray, str]:
    """An index's entries in SQLite's order (rows), after its UNIQUE check, and its `sqlite_stat1` text."""
    n, encs = plan.n, plan.encs
    # np.lexsort sorts by the last key first and is stable: rows already in rowid order need no rowid key, and a
    # column without NULL no NULL-first key
    keys: list[np.ndarray] = [] if plan.order is None else [plan.ids]
    column_keys: list[np.ndarray] = []
    for c, coll in reversed(list(zip(index.columns, index.collations))):
        flag, value = sort_keys(encs[c], coll)
        column_keys += [value, flag] if bool(encs[c].null.any()) else [value]
    keys += pack_keys(column_keys)
    entry_order = np.lexsort(keys) if n else np.arange(n, dtype=np.int64)
    # where each key prefix changes between neighbouring entries (NULL equal to NULL, as ANALYZE counts)
    changes = []
    if n > 1:
        changed = np.zeros(n - 1, dtype=bool)
        for c, coll in zip(index.columns, index.collations):
            for key in sort_keys(encs[c], coll):
                ks = key[entry_order]
                changed |= ks[1:] != ks[:-1]
            changes.append(changed.copy())
    if index.unique and n > 1:
        keyed = np.ones(n - 1, dtype=bool)  # NULLs never clash in a UNIQUE index
        for c in index.columns:
            keyed &= ~encs[c].null[entry_order][1:] & ~encs[c].null[entry_order][:-1]
        if np.any(~changes[-1] & keyed):
            raise NotPageable(f"{index.name}: a duplicate key in a UNIQUE index")
    distinct = [int(ch.sum()) + 1 for ch in changes] if n > 1 else [1] * len(index.columns)
    return entry_order, stat_text(n, distinct)


def stat_text(n_rows: int, distinct: Sequence[int]) -> str:
    """The `sqlite_stat1.stat` text ANALYZE writes for an index of `n_rows` rows with `distinct[k]` distinct
    values of its first k + 1 key columns: the row count, then the average rows per distinct value of each key
    prefix, rounded up as SQLite does (and 2 read as 1 when nearly every row is distinct)."""
    numbers = [n_rows]
    for d in distinct:
        value = (n_rows + d - 1) // d
        numbers.append(1 if value == 2 and n_rows * 10 <= d * 11 else value)
    return " ".join(str(v) for v in numbers)


def empty_root(path: Path, info: File, root: int, kind: int) -> bool:
    with open(path, "rb") as f:
        f.seek((root - 1) * info.page_size + (100 if root == 1 else 0))
        head = f.read(8)
    return len(head) == 8 and head[0] == kind and head[3] == 0 and head[4] == 0


__all__ = ["INTERIOR_INDEX", "INTERIOR_TABLE", "LEAF_INDEX", "LEAF_TABLE", "File", "Ints", "NotPageable",
           "PageColumn", "Pages", "Reals", "Texts", "empty_root", "finish", "lex_order", "read_head", "stat_text",
           "write_tables"]
