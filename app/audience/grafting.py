"""Whole b-trees moved from one SQLite file into the same, empty tables of another (`graft`).

A large load's side process writes the memberships' and interactions' trees into a side file of its own
(app.audience.side_load, with app.audience.pages); the loader moves them into its copy of the project file: their
pages are copied after the copy's end (file to file by the kernel where it can), the interior pages' child
pointers renumbered and the roots put in the copy's root pages. No record is decoded, nothing is sorted again;
what cannot move so is refused with NotPageable, the target as it was.

Imports neither SQLAlchemy nor the rest of the application.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.audience.pages import (INTERIOR_INDEX, INTERIOR_TABLE, LEAF_INDEX, LEAF_TABLE, NotPageable, Pages, empty_root,
                                finish, read_head)

def _trees(con: sqlite3.Connection, names: Sequence[str]) -> dict[str, tuple[str, int, str]]:
    """The b-trees of tables `names` and of their indexes: name -> (table or index, root page, statement)."""
    marks = ", ".join("?" * len(names))
    rows = con.execute(f"SELECT type, name, rootpage, sql FROM sqlite_master WHERE type IN ('table', 'index') "
                       f"AND tbl_name IN ({marks})", tuple(names)).fetchall()
    if {r[1] for r in rows if r[0] == "table"} != set(names):
        raise NotPageable("a table to move is missing")
    return {name: (kind, int(root), " ".join(str(sql or "").split())) for kind, name, root, sql in rows}


def _child_slots(page: bytes | memoryview, head: int) -> list[int]:
    """Where an interior page (its header at `head`) holds its children's page numbers: each cell's first four
    bytes, then the right-most pointer."""
    count = int.from_bytes(page[head + 3:head + 5], "big")
    return [int.from_bytes(page[head + 12 + 2 * k:head + 14 + 2 * k], "big") for k in range(count)] + [head + 8]


def _tree_pages(data: memoryview, size: int, root: int, last: int, leaf: int, interior: int, seen: set[int],
                overflow: bool = False) -> list[int]:
    """Every page of the b-tree at `root` (added to `seen`), and the interior ones among them (returned); only
    pages of the tree's own kinds, each reached once. With `overflow` (a table's leaves: the schema table's long
    statements), the overflow pages of its records too."""
    inner: list[int] = []
    stack = [root]
    while stack:
        number = stack.pop()
        if not 1 <= number <= last or number in seen:
            raise NotPageable(f"page {number} is not where a tree's page can be")
        seen.add(number)
        at = (number - 1) * size
        head = 100 if number == 1 else 0
        kind = data[at + head]
        if kind == leaf:
            if overflow:
                _overflow_pages(data, size, at, head, last, seen)
            continue
        if kind != interior:
            raise NotPageable(f"page {number} is not a page of its tree")
        inner.append(number)
        stack += [int.from_bytes(data[at + slot:at + slot + 4], "big")
                  for slot in _child_slots(data[at:at + size], head)]
    return inner


def _varint_at(data: memoryview, at: int) -> tuple[int, int]:
    """The varint at `at`: (value, its length)."""
    value = 0
    for k in range(9):
        byte = data[at + k]
        if k == 8:
            return (value << 8) | byte, 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, k + 1
    raise AssertionError


def _overflow_pages(data: memoryview, size: int, at: int, head: int, last: int, seen: set[int]) -> None:
    """The overflow pages of the records on a table leaf page (at `at`, its header at `head`), added to `seen`."""
    count = int.from_bytes(data[at + head + 3:at + head + 5], "big")
    most, least = size - 35, (size - 12) * 32 // 255 - 23
    for k in range(count):
        cell = at + int.from_bytes(data[at + head + 8 + 2 * k:at + head + 10 + 2 * k], "big")
        payload, a = _varint_at(data, cell)
        _, b = _varint_at(data, cell + a)
        if payload <= most:
            continue
        # the part kept on the page, as SQLite splits a record (https://www.sqlite.org/fileformat2.html)
        local = least + (payload - least) % (size - 4)
        local = local if local <= most else least
        link = cell + a + b + local
        over = int.from_bytes(data[link:link + 4], "big")
        while over:
            if not 2 <= over <= last or over in seen:
                raise NotPageable(f"page {over} is not where an overflow page can be")
            seen.add(over)
            over = int.from_bytes(data[(over - 1) * size:(over - 1) * size + 4], "big")


def _moved_interior(page: bytes, new: np.ndarray) -> bytes:
    """An interior page with its children's page numbers moved (`new[old]`)."""
    out = bytearray(page)
    for slot in _child_slots(page, 0):
        out[slot:slot + 4] = int(new[int.from_bytes(page[slot:slot + 4], "big")]).to_bytes(4, "big")
    return bytes(out)


def graft(source: str | os.PathLike[str], target: str | os.PathLike[str], tables: Sequence[str]) -> None:
    """Move the rows of `tables`, indexes included, from the SQLite file `source` into the same, empty tables of
    `target`: their b-tree pages are copied after the target's end, renumbered, and the trees' roots put in the
    target's root pages (no record is decoded, nothing is sorted again).

    Both files as `write_tables` takes them (same page size and schema format), the tables and their indexes
    made by the same statements in both; `source` holds these tables only, without free or overflow pages (as
    `write_tables` writes a fresh file: every page but the schema's is reached from the trees' roots, which is
    checked). Raises NotPageable, with `target` unchanged, otherwise. No connection may have either file open;
    the caller writes the tables' statistics. Triggers are the caller's: none is fired.
    """
    source, target = Path(source), Path(target)
    src, _ = read_head(source)
    dst, _ = read_head(target)
    if (src.page_size, src.format4) != (dst.page_size, dst.format4):
        raise NotPageable("the two files differ in page size or schema format")
    if not tables:
        return
    cons = [sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True) for p in (source, target)]
    try:
        from_trees, to_trees = (_trees(con, tables) for con in cons)
        free = cons[0].execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        for con in cons:
            con.close()
    if {k: (v[0], v[2]) for k, v in from_trees.items()} != {k: (v[0], v[2]) for k, v in to_trees.items()}:
        raise NotPageable("the tables or their indexes are not defined alike in the two files")
    if free:
        raise NotPageable(f"{source.name} has free pages")
    size = src.page_size
    for name, (kind, root, _) in to_trees.items():
        if not empty_root(target, dst, root, LEAF_TABLE if kind == "table" else LEAF_INDEX):
            raise NotPageable(f"{name} is not empty in {target.name}")
    lock_page = 0x40000000 // size + 1
    with open(source, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # read once, straight from the page cache
    data = memoryview(mapped)
    from_fd = os.open(source, os.O_RDONLY)
    try:
        seen: set[int] = set()  # the schema table's pages first: no tree moved may reach them
        _tree_pages(data, size, 1, src.pages, LEAF_TABLE, INTERIOR_TABLE, seen, overflow=True)
        schema = set(seen)
        inner: list[int] = []
        for name, (kind, root, _) in from_trees.items():
            leaf, interior = (LEAF_TABLE, INTERIOR_TABLE) if kind == "table" else (LEAF_INDEX, INTERIOR_INDEX)
            inner += _tree_pages(data, size, root, src.pages, leaf, interior, seen)
        moved = seen - schema
        if len(seen) != src.pages - (1 if src.pages >= lock_page else 0):
            raise NotPageable(f"{source.name} holds pages outside the trees moved (overflow or other tables)")
        roots = {from_trees[name][1]: to_trees[name][1] for name in from_trees}
        others = np.array(sorted(moved - set(roots)), dtype=np.int64)
        end = dst.pages * size
        fd = os.open(target, os.O_RDWR)
        try:
            pages = Pages(fd, dst)
            numbers = pages.take(len(others))
            new = np.zeros(src.pages + 1, dtype=np.int64)
            new[others] = numbers
            for old, number in roots.items():
                new[old] = number
            # the pages in runs consecutive in both files, as they are; then the interior ones, renumbered
            i = 0
            while i < len(others):
                j = i + 1
                while j < len(others) and others[j] == others[j - 1] + 1 and numbers[j] == numbers[j - 1] + 1 \
                        and j - i < 8192:
                    j += 1
                _copy(from_fd, fd, data, (int(others[i]) - 1) * size, (int(numbers[i]) - 1) * size, (j - i) * size)
                i = j
            for old in inner:
                a = (old - 1) * size
                page = _moved_interior(bytes(data[a:a + size]), new)
                if old in roots:
                    pages.root(roots[old], page)
                else:
                    pages.put(int(new[old]), page)
            for old, number in roots.items():
                if number not in pages.roots:  # a root that is a leaf: as it is
                    a = (old - 1) * size
                    pages.root(number, bytes(data[a:a + size]))
            finish(fd, dst, pages)
        except BaseException:
            os.ftruncate(fd, end)  # only pages after the end were written: the file is as it was
            raise
        finally:
            os.close(fd)
    finally:
        os.close(from_fd)
        data.release()
        mapped.close()


def _copy(from_fd: int, to_fd: int, data: memoryview, at: int, to: int, length: int) -> None:
    """`length` bytes of one file (also mapped as `data`) at `at` into another at `to`: by the kernel, file to
    file, where it can (about half the time of reading and writing them here), else through the mapping."""
    copy_range = getattr(os, "copy_file_range", None)
    done = 0
    if copy_range is not None:
        try:
            while done < length:
                moved = copy_range(from_fd, to_fd, length - done, at + done, to + done)
                if moved <= 0:
                    break
                done += moved
        except OSError:  # a file system that cannot (or copies across file systems): the plain way
            pass
    if done < length:
        os.pwrite(to_fd, data[at + done:at + length], to + done)


__all__ = ["graft"]
