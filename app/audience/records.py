"""Rows as SQLite records and cells, from NumPy columns: the page writer's first half (app.audience.pages has
the second: the file, its b-tree pages and the whole write).

A column is given as Ints, Reals or Texts and encoded once (`encode`: each row's serial type, body length and
varint length, in the narrowest types; the bodies in a matrix, a row per distinct text or per number); `make_cells`
then lays out any chunk of rows, in any order, as table-leaf or index cells in the record format of
https://www.sqlite.org/fileformat2.html. `sort_keys` and `lex_order` give SQLite's order of index entries (NULL
first, numbers by value, texts by their collation, BINARY or NOCASE). What the format written here cannot hold
raises NotPageable. Imports neither SQLAlchemy nor the rest of the application.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

PAD_BYTES = 1 << 28  # the largest matrix of a text column's distinct values, each padded to the longest


class NotPageable(Exception):
    """Rows the page writer does not write; the caller inserts them the usual way (the file is unchanged)."""


@dataclass(frozen=True)
class Ints:
    """Whole numbers (int64); `null` marks the rows without one."""

    values: np.ndarray
    null: np.ndarray | None = None


@dataclass(frozen=True)
class Reals:
    """Floating-point numbers (float64); NaN is NULL, as the sqlite3 module binds it."""

    values: np.ndarray


@dataclass(frozen=True)
class Texts:
    """Texts as codes into `values` (-1: NULL; values may repeat). `ranks`, when the caller knows it, is each
    value's place in the BINARY and NOCASE order alike (equal texts equal ranks): it saves sorting many values.
    `values` may also be a matrix of ASCII bytes, a value a row, every value as wide as the matrix (texts made
    with NumPy, such as ISO dates, never become Python strings)."""

    codes: np.ndarray
    values: Sequence[str] | np.ndarray
    ranks: np.ndarray | None = None


PageColumn = Ints | Reals | Texts


# --- values as record pieces ---------------------------------------------------------------------------------

@dataclass
class Enc:
    """A column as record pieces: each row's serial type, and its body: `length` bytes of `src` (`start_of`).

    Per row it keeps only what the cells need (serial type, body length, varint length, NULL), in the narrowest
    types; bodies stay in one array per column (`pad`: a matrix row per value or per row, for numbers their 8
    big-endian bytes of which the last `length`; texts: the distinct values, left-aligned)."""

    serial: np.ndarray  # int32
    src: np.ndarray  # uint8
    length: np.ndarray  # int32
    null: np.ndarray  # bool
    sort: np.ndarray  # the rows' order among themselves (NULL rows: any value)
    column: PageColumn | None
    pad: np.ndarray | None = None
    unit: np.ndarray | None = None  # each row's row of `pad` (None: the row itself)
    tail: bool = False  # the body is the last `length` bytes of its matrix row (integers), else the first
    fixed: bool = False  # every row's body is as wide as its matrix row
    ranks: np.ndarray | None = None  # numbers' ranks among themselves (made for the first index that needs them)
    text_starts: np.ndarray | None = None  # texts: where each value starts in `src` (the values with separators)
    slen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))  # serial types' varint lengths

    def __post_init__(self) -> None:
        self.slen = vlen(self.serial).astype(np.int8)

    def start_of(self, rows: np.ndarray | slice) -> np.ndarray:
        """Where the bodies of `rows` start in `src`."""
        if self.text_starts is not None:
            return self.text_starts[cast(np.ndarray, self.unit)[rows]]
        width = cast(np.ndarray, self.pad).shape[1]
        units = np.arange(len(self.serial), dtype=np.int64)[rows] if self.unit is None else self.unit[rows]
        out = units.astype(np.int64) * width
        if self.tail:
            out += width - self.length[rows]
        return out


_INT_WIDTH = np.array([0, 1, 2, 3, 4, 6, 8, 8, 0, 0], dtype=np.int64)


def encode_ints(values: np.ndarray, null: np.ndarray, format4: bool) -> Enc:
    v = np.ascontiguousarray(values, dtype=np.int64)
    serial = np.full(len(v), 6, dtype=np.int64)
    for s, bound in ((5, 1 << 47), (4, 1 << 31), (3, 1 << 23), (2, 1 << 15), (1, 1 << 7)):
        serial[(v >= -bound) & (v < bound)] = s
    if format4:
        serial[v == 0] = 8
        serial[v == 1] = 9
    serial[null] = 0
    src = v.astype(">i8").view(np.uint8)
    return Enc(serial.astype(np.int32), src, _INT_WIDTH[serial].astype(np.int32), null, v, None, src.reshape(-1, 8),
                None, tail=True)


def encode(col: PageColumn | None, n: int, where: str, affinity: str, format4: bool) -> Enc:
    if col is None:
        zero = np.zeros(n, dtype=np.int32)
        return Enc(zero, np.zeros(0, np.uint8), zero, np.ones(n, dtype=bool), zero, None, np.zeros((1, 0), np.uint8),
                    np.zeros(n, dtype=np.int64))
    if isinstance(col, Ints):
        if affinity == "TEXT":
            raise NotPageable(f"{where}: whole numbers in a text column")
        null = np.zeros(n, dtype=bool) if col.null is None else np.asarray(col.null, dtype=bool)
        if len(col.values) != n or len(null) != n:
            raise NotPageable(f"{where}: {len(col.values)} values for {n} rows")
        enc = encode_ints(col.values, null, format4)
        enc.column = col
        return enc
    if isinstance(col, Reals):
        if affinity not in ("REAL", "BLOB"):
            raise NotPageable(f"{where}: SQLite would convert these numbers ({affinity} affinity)")
        v = np.ascontiguousarray(col.values, dtype=np.float64)
        if len(v) != n:
            raise NotPageable(f"{where}: {len(v)} values for {n} rows")
        null = np.isnan(v)
        src = v.astype(">f8").view(np.uint8)
        return Enc(np.where(null, 0, 7).astype(np.int32), src, np.where(null, 0, 8).astype(np.int32), null, v, col,
                    src.reshape(-1, 8), None, fixed=not null.any())
    codes = np.asarray(col.codes, dtype=np.int64)
    if len(codes) != n:
        raise NotPageable(f"{where}: {len(codes)} values for {n} rows")
    if isinstance(col.values, np.ndarray):
        return _encode_matrix(col, codes, n, where, affinity)
    values = list(col.values)
    if affinity in ("INTEGER", "REAL", "NUMERIC") and any(
            v.strip()[:1] in ("", "+", "-", ".") or v.strip()[:1].isdigit() for v in values):
        raise NotPageable(f"{where}: texts SQLite might read as numbers ({affinity} affinity)")
    try:
        blob = "\x00".join(values).encode("utf-8")
    except UnicodeEncodeError as e:
        raise NotPageable(f"{where}: {e}") from None
    raw = np.frombuffer(blob, dtype=np.uint8)
    ends = np.flatnonzero(raw == 0)
    if len(ends) != max(len(values) - 1, 0):
        raise NotPageable(f"{where}: a text holds a NUL character")
    ends = np.append(ends, len(raw)).astype(np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64) if len(values) else ends[:0]
    lens = ends - starts if len(values) else ends[:0]
    null = codes < 0
    safe = np.where(null, 0, codes)
    if len(values):
        length = np.where(null, 0, lens[safe]).astype(np.int32)
    else:
        if not null.all():
            raise NotPageable(f"{where}: codes without values")
        length = np.zeros(n, dtype=np.int32)
        starts = np.zeros(1, dtype=np.int64)
    serial = np.where(null, 0, 2 * length + 13).astype(np.int32)
    enc = Enc(serial, raw, length, null, safe, col, unit=safe, text_starts=starts)
    widest = int(lens.max()) if len(values) else 0
    if len(values) * widest <= PAD_BYTES:
        pad = np.zeros((max(len(values), 1), widest), dtype=np.uint8)
        if len(values) and widest:  # a mask fills row after row: the texts' bytes without their separators
            pad[np.arange(widest, dtype=np.int32) < lens.astype(np.int32)[:, None]] = raw[raw != 0]
        enc.pad = pad
    return enc


def _encode_matrix(col: Texts, codes: np.ndarray, n: int, where: str, affinity: str) -> Enc:
    """Texts given as a matrix of ASCII bytes, one value a row, all as wide as the matrix."""
    matrix = np.ascontiguousarray(col.values, dtype=np.uint8)
    if matrix.ndim != 2 or affinity not in ("TEXT", "BLOB"):
        raise NotPageable(f"{where}: a matrix of texts is taken for a TEXT column only")
    if matrix.size and (int(matrix.max()) >= 0x80 or int(matrix.min()) == 0):
        raise NotPageable(f"{where}: a matrix of texts holds only ASCII characters, without NUL")
    k, width = matrix.shape
    null = codes < 0
    if k == 0 and not null.all():
        raise NotPageable(f"{where}: codes without values")
    safe = np.where(null, 0, codes)
    length = np.where(null, 0, width).astype(np.int32)
    serial = np.where(null, 0, 2 * width + 13).astype(np.int32)
    pad = matrix if k else np.zeros((1, width), dtype=np.uint8)
    return Enc(serial, pad.reshape(-1), length, null, safe, col, pad, safe, fixed=not null.any())


def _text_ranks(col: Texts, collation: str) -> np.ndarray:
    """Each value's place in `collation` order (equal texts, equal places)."""
    if col.ranks is not None:
        return np.asarray(col.ranks, dtype=np.int64)
    if isinstance(col.values, np.ndarray):
        keys = [bytes(row) for row in np.asarray(col.values, dtype=np.uint8)]
    else:
        keys = [v.encode("utf-8") for v in col.values]
    if collation == "NOCASE":  # SQLite folds ASCII letters only, as bytes.lower does
        keys = [k.lower() for k in keys]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    ranks = np.zeros(len(keys), dtype=np.int64)
    place, last = -1, None
    for i in order:
        if keys[i] != last:
            place, last = place + 1, keys[i]
        ranks[i] = place
    return ranks


def pack_keys(keys: list[np.ndarray]) -> list[np.ndarray]:
    """Sort keys (least significant first) with neighbouring small whole-number keys combined into one, where
    their ranges multiply to under 2**62: the same order, in fewer sorting passes."""
    out: list[np.ndarray] = []
    run: np.ndarray | None = None
    span = 1
    for key in reversed(keys):  # most significant first
        if key.dtype.kind not in "iub" or len(key) == 0:
            if run is not None:
                out.append(run)
            run, span = None, 1
            out.append(key)
            continue
        lo, hi = int(key.min()), int(key.max())
        width = hi - lo + 1
        if run is not None and span * width < 1 << 62:
            run = run * width + (key.astype(np.int64) - lo)
            span *= width
        else:
            if run is not None:
                out.append(run)
            run, span = key.astype(np.int64) - lo, width
    if run is not None:
        out.append(run)
    return out[::-1]


def lex_order(keys: Sequence[np.ndarray]) -> np.ndarray:
    """np.lexsort(keys) (the last key first), with neighbouring whole-number keys packed into one where their
    ranges allow: the same order, in fewer sorting passes."""
    packed = pack_keys(list(keys))
    return np.lexsort(packed) if len(packed) > 1 else np.argsort(packed[0], kind="stable") if packed else \
        np.zeros(0, dtype=np.int64)


_RANKING = threading.Lock()


def sort_keys(enc: Enc, collation: str) -> tuple[np.ndarray, np.ndarray]:
    """(not NULL, value order) of each row: NULL sorts first, then values in the index's order."""
    col = enc.column
    if isinstance(col, Texts):
        ranks = _text_ranks(col, collation)
        value = ranks[enc.sort] if len(ranks) else np.zeros(len(enc.sort), dtype=np.int64)
    elif isinstance(col, Reals):  # numbers as their ranks: whole numbers pack with the other keys of the index
        with _RANKING:  # two indexes of one column are sorted on two threads: its ranks are made once
            if enc.ranks is None:
                enc.ranks = np.unique(enc.sort, return_inverse=True)[1].reshape(-1).astype(np.int64)
        value = enc.ranks
    else:
        value = enc.sort
    return (~enc.null).astype(np.int8), np.where(enc.null, 0, value)  # NULLs tie: the next key decides


# --- records and cells ---------------------------------------------------------------------------------------

def vlen(v: np.ndarray) -> np.ndarray:
    """The length of each value's varint (values from 0 to 2**56 - 1)."""
    if len(v) == 0:
        return np.zeros(0, dtype=np.int64)
    if v.min() < 0 or v.max() >= 1 << 56:
        raise NotPageable("a value beyond the varints written here")
    out = np.ones(len(v), dtype=np.int64)
    if v.max() >= 128:
        for k in range(1, 8):
            out += v >= (1 << (7 * k))
    return out


def _put_varints(out: np.ndarray, pos: np.ndarray, v: np.ndarray, lens: np.ndarray) -> None:
    if len(v) == 0:
        return
    if lens.max() == 1:
        out[pos] = v
        return
    for j in range(int(lens.max())):
        sel = lens > j
        vs, ls = v[sel], lens[sel]
        b = (vs >> (7 * (ls - 1 - j))) & 0x7F
        out[pos[sel] + j] = b | np.where(ls - 1 > j, 0x80, 0)


class Source:
    """The bodies of a table's columns in one array, each column's bytes at an offset of its own, with room after
    them for a chunk's record headers: a chunk's cells are then a single gather from it."""

    def __init__(self, encs: Sequence[Enc]) -> None:
        self.encs = encs
        self._data: np.ndarray | None = None
        self.lock = threading.Lock()  # one chunk at a time in the room for headers (trees run on several threads)

    @property
    def data(self) -> np.ndarray:
        if self._data is None:  # made when a chunk first needs it (most take the matrix path instead)
            self._gather_columns()
        return cast(np.ndarray, self._data)

    def _gather_columns(self) -> None:
        encs = self.encs
        self.base: dict[int, int] = {}
        parts, at = [], 0
        for e in encs:
            if id(e) not in self.base:
                self.base[id(e)] = at
                parts.append(e.src)
                at += len(e.src)
        self.head_at = at
        self._data = np.empty(at, dtype=np.uint8)  # (the headers' room is added by the first chunk)
        at = 0
        for part in parts:
            self._data[at:at + len(part)] = part
            at += len(part)

    def headers(self, size: int) -> np.ndarray:
        """The room for `size` bytes of record headers (grown when a chunk needs more)."""
        self.data  # noqa: B018 (made on first use; it sets head_at)
        if self.head_at + size > len(self.data):
            grown = np.empty(self.head_at + 2 * size, dtype=np.uint8)
            grown[:self.head_at] = self.data[:self.head_at]
            self._data = grown
        return self.data[self.head_at:self.head_at + size]


def make_cells(source: Source, encs: Sequence[Enc], rows: np.ndarray | slice, rowids: np.ndarray | None,
           max_payload: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The cells of `rows` (row numbers, or a slice of consecutive rows) in that order: (bytes, offsets with the
    end appended). With `rowids`, table leaf cells (payload size, rowid, record); without, index cells (payload
    size, record)."""
    m = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
    serial = [e.serial[rows] for e in encs]
    slen = [e.slen[rows] for e in encs]
    blen = [e.length[rows] for e in encs]
    head = np.sum(slen, axis=0) if encs else np.zeros(m, dtype=np.int64)
    head_len = np.where(head + 1 <= 127, head + 1, head + 2)
    if m and int(head_len.max()) > 16383:
        raise NotPageable(f"{where}: a record header beyond two bytes")
    hl_len = np.where(head_len <= 127, 1, 2)
    body = np.sum(blen, axis=0) if encs else np.zeros(m, dtype=np.int64)
    payload = head_len + body
    if m and int(payload.max()) > max_payload:
        raise NotPageable(f"{where}: a row too large for one page (it needs overflow pages)")
    plen = vlen(payload)
    rlen = vlen(rowids) if rowids is not None else np.zeros(m, dtype=np.int64)
    lead = plen + rlen + head_len
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(lead + body, out=offsets[1:])
    if m and all(e.pad is not None for e in encs):
        widths = [cast(np.ndarray, e.pad).shape[1] for e in encs]
        first = int(lead.max())
        if m * (first + sum(widths)) <= 3 * int(offsets[-1]) + (1 << 24):
            leading = [(payload, plen), *([(rowids, rlen)] if rowids is not None else []), (head_len, hl_len)]
            return _padded_cells(encs, rows, m, serial, slen, blen, leading, widths), offsets
    with source.lock:
        return _gathered_cells(source, encs, rows, m, rowids, serial, slen, blen, offsets,
                               (payload, plen), (rlen, head_len, hl_len, lead, body))


def _gathered_cells(source: Source, encs: Sequence[Enc], rows: np.ndarray | slice, m: int,
                    rowids: np.ndarray | None, serial: Sequence[np.ndarray], slen: Sequence[np.ndarray],
                    blen: Sequence[np.ndarray], offsets: np.ndarray, sizes: tuple[np.ndarray, np.ndarray],
                    more: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The cells as one gather from the source, position by position (for texts too wide for a matrix)."""
    payload, plen = sizes
    rlen, head_len, hl_len, lead, body = more
    # each cell's leading bytes (payload size, rowid, record header) written into the source's spare room
    lead_at = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(lead, out=lead_at[1:])
    room = source.headers(int(lead_at[-1]))
    pos = lead_at[:-1].copy()
    _put_varints(room, pos, payload, plen)
    pos += plen
    if rowids is not None:
        _put_varints(room, pos, rowids, rlen)
        pos += rlen
    _put_varints(room, pos, head_len, hl_len)
    pos += hl_len
    for s, n in zip(serial, slen):
        _put_varints(room, pos, s, n)
        pos += n
    # then one gather: the pieces of each row in turn (leading bytes, then each column's body)
    starts = np.empty((m, len(encs) + 1), dtype=np.int64)
    lengths = np.empty((m, len(encs) + 1), dtype=np.int64)
    starts[:, 0], lengths[:, 0] = source.head_at + lead_at[:-1], lead
    for j, (e, b) in enumerate(zip(encs, blen), start=1):
        starts[:, j], lengths[:, j] = source.base[id(e)] + e.start_of(rows), b
    flat_len = lengths.reshape(-1)
    shift = starts.reshape(-1) - (np.cumsum(flat_len) - flat_len)
    total = int(offsets[-1])
    small = len(source.data) < 2 ** 31 and total < 2 ** 31  # 32-bit positions: half the memory traffic
    kind = np.int32 if small else np.int64
    where_from = np.repeat(shift.astype(kind), flat_len)
    where_from += np.arange(total, dtype=kind)
    return source.data[where_from], offsets


def _varint_slot(padded: np.ndarray, used: np.ndarray, at: int, v: np.ndarray, lens: np.ndarray, width: int) -> None:
    """Varints (big-endian, 7 bits a byte) left-aligned in columns at..at+width of the matrix."""
    if width == 1:
        padded[:, at] = v
        used[:, at] = True
        return
    for j in range(width):
        shift = np.maximum(7 * (lens - 1 - j), 0)
        padded[:, at + j] = ((v >> shift) & 0x7F) | np.where(lens - 1 > j, 0x80, 0)
        np.greater(lens, j, out=used[:, at + j])


def _padded_cells(encs: Sequence[Enc], rows: np.ndarray | slice, m: int, serial: Sequence[np.ndarray],
                  slen: Sequence[np.ndarray], blen: Sequence[np.ndarray],
                  leading: Sequence[tuple[np.ndarray, np.ndarray]], widths: Sequence[int]) -> np.ndarray:
    """The cells of `rows` laid out as a matrix, a row per cell and a slot per piece (each varint, each body) at
    its widest, then the bytes in use read out in order with one mask: row-sized copies instead of a position
    per byte."""
    varint_widths = [int(lens.max()) for _, lens in leading] + [int(n.max()) for n in slen]
    padded = np.empty((m, sum(varint_widths) + sum(widths)), dtype=np.uint8)
    used = np.empty(padded.shape, dtype=bool)
    at = 0
    for (v, lens), w in zip([*leading, *zip(serial, slen)], varint_widths):
        _varint_slot(padded, used, at, v, lens, w)
        at += w
    for e, b, w in zip(encs, blen, widths):
        if w == 0:
            continue
        pad = cast(np.ndarray, e.pad)
        if e.unit is None and isinstance(rows, slice):  # row i of the matrix is row i of the table
            padded[:, at:at + w] = pad[rows]
        else:  # whole rows of the matrix as single items: np.take copies each at once
            unit = cast(np.ndarray, rows) if e.unit is None else e.unit[rows]
            block = np.take(np.ascontiguousarray(pad).view(f"V{w}").reshape(-1), unit)
            padded[:, at:at + w] = block.view(np.uint8).reshape(m, w)
        if e.fixed:  # every value as wide as its slot
            used[:, at:at + w] = True
        else:
            kind = np.int16 if w < 32768 else np.int64
            step = np.arange(w, dtype=kind)
            if e.tail:  # integers: the last `b` of their 8 bytes
                np.greater_equal(step, (w - b).astype(kind)[:, None], out=used[:, at:at + w])
            else:  # from the first byte, `b` of them
                np.less(step, b.astype(kind)[:, None], out=used[:, at:at + w])
        at += w
    return padded[used]


def fits(encs: Sequence[Enc], max_payload: int, where: str) -> None:
    if not encs or len(encs[0].serial) == 0:
        return
    head = np.sum([e.slen for e in encs], axis=0)
    payload = np.where(head + 1 <= 127, head + 1, head + 2) + np.sum([e.length for e in encs], axis=0)
    if int(payload.max()) > max_payload:
        raise NotPageable(f"{where}: a row too large for one page (it needs overflow pages)")


__all__ = ["Enc", "Ints", "NotPageable", "PageColumn", "Reals", "Source", "Texts", "encode", "encode_ints",
           "fits", "lex_order", "make_cells", "pack_keys", "sort_keys", "vlen"]
