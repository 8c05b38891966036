"""Sets of moments per owner (a contact, an account, an interaction): when each one is in a segment.

A `TimeSet` answers "is owner i a member at time t?" for every owner and every moment from the window start
`w0` on (seconds since the epoch, UTC). It is held in two parts, so that the common case costs a mask:

- `full`: owners that are members at every moment of the window (most conditions do not depend on time);
- spans: for the other owners, half-open intervals [lo, hi) sorted by (owner, lo), disjoint and not touching.
  `hi == NEVER` means "until the end". Times before `w0` are clipped to it: the set says nothing of the past.

Operations (`|`, `&`, `~`, `-`, grouping entities by owner, expanding accounts to their contacts) keep that
form; each is a few sorts and cumulative scans over flat NumPy arrays, never a Python loop per owner.
Queries take arrays of owners and times: `member_at`, `first_at_or_after` (when a contact joins),
`first_leave_after` (when it leaves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEVER = 1 << 62
"""A time that never comes (seconds), the same constant as the simulator's."""
_SPAN = 1 << 38  # times are keyed relative to w0 below this (8,700 years); later ones count as NEVER
_EMPTY = np.zeros(0, dtype=np.int64)


def _rel(t: np.ndarray | int, w0: int) -> np.ndarray:
    """Times as offsets from w0 in [0, _SPAN - 1] (before w0: 0; NEVER and beyond: _SPAN - 1)."""
    r = np.asarray(t, dtype=np.int64) - w0
    return np.clip(r, 0, _SPAN - 1)


@dataclass(frozen=True)
class TimeSet:
    """Membership over time of `n` owners (see the module docstring)."""

    n: int
    w0: int
    full: np.ndarray  # bool, n
    owner: np.ndarray = field(default_factory=lambda: _EMPTY)  # int64, spans sorted by (owner, lo)
    lo: np.ndarray = field(default_factory=lambda: _EMPTY)
    hi: np.ndarray = field(default_factory=lambda: _EMPTY)

    # --- constructors ------------------------------------------------------------------------------------
    @classmethod
    def empty(cls, n: int, w0: int) -> TimeSet:
        return cls(n, w0, np.zeros(n, dtype=bool))

    @classmethod
    def static(cls, mask: np.ndarray, w0: int) -> TimeSet:
        """Members at every moment: the owners where `mask` is true."""
        return cls(len(mask), w0, np.asarray(mask, dtype=bool))

    @classmethod
    def spans(cls, n: int, w0: int, owner: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              full: np.ndarray | None = None) -> TimeSet:
        """Members during [lo, hi) for each (owner, lo, hi), in any order, overlapping or not (and always for
        owners in `full`)."""
        f = np.zeros(n, dtype=bool) if full is None else np.asarray(full, dtype=bool)
        o, a, b = _normalise(np.asarray(owner, np.int64), np.asarray(lo, np.int64), np.asarray(hi, np.int64), w0)
        # spans covering the whole window are "full"
        whole = a <= w0
        whole &= b >= NEVER
        if whole.any():
            f = f.copy()
            f[np.compress(whole, o)] = True
        # with no owner full beforehand, an owner is full through its whole span alone (which holds all its others)
        keep = ~whole if full is None else ~np.take(f, o)
        if keep.all():
            return cls(n, w0, f, o, a, b)
        return cls(n, w0, f, np.compress(keep, o), np.compress(keep, a), np.compress(keep, b))

    @property
    def static_only(self) -> bool:
        """No owner's membership changes over time."""
        return len(self.owner) == 0

    # --- combination -------------------------------------------------------------------------------------
    def __or__(self, other: TimeSet) -> TimeSet:
        self._same(other)
        full = self.full | other.full
        if self.static_only and other.static_only:
            return TimeSet(self.n, self.w0, full)
        # when no owner has spans on both sides (a test on base values for some contacts, on their simulated
        # purchases for the others), each side's spans stand as they are, but for owners the other holds always
        merged = _merge_apart([_select(self.owner, self.lo, self.hi, ~np.take(other.full, self.owner)),
                               _select(other.owner, other.lo, other.hi, ~np.take(self.full, other.owner))], True)
        if merged is not None:
            return TimeSet(self.n, self.w0, full, *merged)
        return TimeSet.spans(self.n, self.w0, np.concatenate([self.owner, other.owner]),
                             np.concatenate([self.lo, other.lo]), np.concatenate([self.hi, other.hi]), full)

    def __and__(self, other: TimeSet) -> TimeSet:
        self._same(other)
        full = self.full & other.full
        if self.static_only and other.static_only:
            return TimeSet(self.n, self.w0, full)
        if len(self.owner) and len(other.owner) and 4 * (len(self.owner) + len(other.owner)) >= self.n \
                and _one_each(self.owner) and _one_each(other.owner):
            return self._and_dense(other, full)
        # three parts with owners apart, each normalised already (an owner with spans is never full, and the
        # intersection of normalised spans is normalised): merged by owner instead of sorted again
        a_part, b_part = (_select(a.owner, a.lo, a.hi, np.take(b.full, a.owner))  # a's spans where b holds always
                          for a, b in ((self, other), (other, self)))
        both = _intersect(self.owner, self.lo, self.hi, other.owner, other.lo, other.hi)
        merged = _merge_apart([a_part, b_part, both])
        assert merged is not None
        return TimeSet(self.n, self.w0, full, *merged)

    def _dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Each owner's one span as [lo, hi) over all owners: [w0, NEVER) if full, empty (NEVER, w0) if none."""
        span = NEVER - self.w0
        lo = np.multiply(self.full, -span, dtype=np.int64)
        lo += NEVER
        hi = np.multiply(self.full, span, dtype=np.int64)
        hi += self.w0
        np.put(lo, self.owner, self.lo)
        np.put(hi, self.owner, self.hi)
        return lo, hi

    def _and_dense(self, other: TimeSet, full: np.ndarray) -> TimeSet:
        """`self & other` when each owner has one span at most on either side and many have one: owner by owner
        over all owners (no search, no sort)."""
        lo, hi = self._dense()
        lo2, hi2 = other._dense()
        np.maximum(lo, lo2, out=lo)
        np.minimum(hi, hi2, out=hi)
        has = hi > lo
        has &= ~full  # owners in both always: full (their span would cover the whole window)
        owner = np.flatnonzero(has)
        return TimeSet(self.n, self.w0, full, owner, np.take(lo, owner), np.take(hi, owner))

    def __invert__(self) -> TimeSet:
        if self.static_only:
            return TimeSet(self.n, self.w0, ~self.full)
        has = np.zeros(self.n, dtype=bool)
        has[self.owner] = True
        full = ~self.full & ~has
        o, lo, hi = _gaps(self.owner, self.lo, self.hi, self.w0)
        return TimeSet(self.n, self.w0, full, o, lo, hi)

    def __sub__(self, other: TimeSet) -> TimeSet:
        return self & ~other

    def _same(self, other: TimeSet) -> None:
        if other.n != self.n or other.w0 != self.w0:
            raise ValueError("time sets of different owners or windows cannot be combined")

    def group(self, owner_of: np.ndarray, n_owners: int) -> TimeSet:
        """The union over entities of each owner: entity i belongs to owner `owner_of[i]` (-1: to none)."""
        owner_of = np.asarray(owner_of, dtype=np.int64)
        full = np.zeros(n_owners, dtype=bool)
        fo = owner_of[self.full]
        full[fo[fo >= 0]] = True
        if self.static_only:
            return TimeSet(n_owners, self.w0, full)
        o = owner_of[self.owner]
        keep = o >= 0
        return TimeSet.spans(n_owners, self.w0, o[keep], self.lo[keep], self.hi[keep], full)

    def expand(self, parent: np.ndarray) -> TimeSet:
        """Owners that take their parent's membership: owner i is a member when `parent[i]` is (-1: never).

        Contacts take their account's membership this way.
        """
        parent = np.asarray(parent, dtype=np.int64)
        has = parent >= 0
        full = np.zeros(len(parent), dtype=bool)
        full[has] = self.full[parent[has]]
        if self.static_only:
            return TimeSet(len(parent), self.w0, full)
        starts = np.searchsorted(self.owner, np.arange(self.n + 1))
        counts = np.where(has, np.diff(starts)[np.maximum(parent, 0)], 0)
        child = np.repeat(np.arange(len(parent), dtype=np.int64), counts)
        first = np.repeat(starts[:-1][np.maximum(parent, 0)], counts)
        offset = np.arange(len(child)) - np.repeat(np.cumsum(counts) - counts, counts)
        idx = first + offset
        return TimeSet(len(parent), self.w0, full, child, self.lo[idx], self.hi[idx])

    def take(self, rows: np.ndarray) -> TimeSet:
        """The set of owners `rows` (in that order, renumbered 0..len(rows) - 1)."""
        return self.expand(np.asarray(rows, dtype=np.int64))

    # --- queries -----------------------------------------------------------------------------------------
    def _keys(self) -> np.ndarray:
        keys = self.__dict__.get("_key_cache")
        if keys is None:
            keys = self.owner * _SPAN + _rel(self.lo, self.w0)
            object.__setattr__(self, "_key_cache", keys)
        return keys

    def _locate(self, rows: np.ndarray, t: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each (row, t): the index of the row's last span starting at or before t (-1: none), whether t is
        inside it, and the index of the row's next span after t (-1: none)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.owner) == 0:
            none = np.full(len(rows), -1, dtype=np.int64)
            return none, np.zeros(len(rows), dtype=bool), none
        q = rows * _SPAN + _rel(t, self.w0)
        j = self._last_at_or_before(rows, q)
        jc = np.maximum(j, 0)
        mine = (j >= 0) & (np.take(self.owner, jc) == rows)
        inside = mine & (np.take(self.hi, jc) > np.maximum(t, self.w0))
        k = j + 1
        kc = np.minimum(k, len(self.owner) - 1)
        nxt = (k < len(self.owner)) & (np.take(self.owner, kc) == rows)
        # np.where(mine, j, -1) and np.where(nxt, k, -1) without a branch per element (several times faster)
        j += 1
        j *= mine
        j -= 1
        k += 1
        k *= nxt
        k -= 1
        return j, inside, k

    def _last_at_or_before(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """For each row, the index of the last span whose key (owner, lo) is at or before q (-1: none)."""
        keys = self._keys()
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        first, last = int(rows.min()), int(rows.max())
        # only the keys of the rows' owner range (a chunk's contacts: a few spans of the whole set)
        lo, hi = int(np.searchsorted(self.owner, first)), int(np.searchsorted(self.owner, last, side="right"))
        width = last - first + 1
        if hi > lo and width <= 4 * len(rows) + 64 and _one_each(self.owner[lo:hi]):
            # one span per owner there: count the spans before each row's owner (a prefix sum over the range)
            # instead of a binary search per row; the row's own span counts if it starts at or before q
            has = np.bincount(self.owner[lo:hi] - first, minlength=width)
            before = np.cumsum(has)
            before -= has
            r = rows - first
            j = np.take(before, r)
            j += lo
            own = np.take(keys, np.minimum(j, len(keys) - 1)) <= q
            own &= np.take(has, r).astype(bool)
            j += own
            j -= 1
            return j
        j = np.searchsorted(keys[lo:hi], q, side="right")
        j += lo - 1
        return j

    def member_at(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Whether owners `rows` are members at time(s) `t` (before w0: as at w0)."""
        rows = np.asarray(rows, dtype=np.int64)
        hit = np.take(self.full, rows)
        if len(self.owner):
            hit = hit | self._locate(rows, t)[1]
        return hit

    def first_at_or_after(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """The first moment >= t at which each owner is a member (NEVER if none)."""
        rows = np.asarray(rows, dtype=np.int64)
        tt = np.maximum(np.asarray(t, dtype=np.int64), self.w0)  # one time for all rows stays one number
        now = np.take(self.full, rows)
        if len(self.owner):
            _, inside, nxt = self._locate(rows, tt)
            now |= inside
            # np.where(nxt >= 0, lo[nxt], NEVER), then np.where(now, tt, later), without a branch per element
            later = np.take(self.lo, np.maximum(nxt, 0))
            later -= NEVER
            later *= nxt >= 0
            later += NEVER
        else:
            later = np.full(len(rows), NEVER, dtype=np.int64)
        out = tt - later
        out *= now
        out += later
        return out.astype(np.int64, copy=False)

    def first_leave_after(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """The first moment > t at which a membership of each owner ends (NEVER if none ends)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(len(rows), NEVER, dtype=np.int64)
        if len(self.owner):
            tt = np.broadcast_to(np.maximum(np.asarray(t, dtype=np.int64), self.w0), rows.shape)
            j, inside, nxt = self._locate(rows, tt)
            pick = np.where(inside, j, nxt)
            end = np.where(pick >= 0, np.take(self.hi, np.maximum(pick, 0)), NEVER)
            out = np.where(np.take(self.full, rows), NEVER, end).astype(np.int64)
        return out

    def at(self, t: int) -> np.ndarray:
        """Every owner's membership at moment `t` (a mask)."""
        return self.member_at(np.arange(self.n, dtype=np.int64), t)

    def count_at(self, t: int) -> int:
        return int(np.count_nonzero(self.at(t)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for npz files); `from_arrays` reads them back."""
        return {"full": self.full, "owner": self.owner, "lo": self.lo, "hi": self.hi,
                "meta": np.array([self.n, self.w0], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> TimeSet:
        n, w0 = (int(x) for x in a["meta"])
        return cls(n, w0, a["full"].astype(bool), a["owner"].astype(np.int64), a["lo"].astype(np.int64),
                   a["hi"].astype(np.int64))


def _one_each(owner: np.ndarray) -> bool:
    """Whether sorted span owners hold one span each."""
    return len(owner) < 2 or bool((owner[1:] > owner[:-1]).all())


def _owner_range(owner: np.ndarray, rows: np.ndarray) -> tuple[int, int]:
    """The slice of sorted `owner` that holds every owner from the least of `rows` to the greatest."""
    if len(rows) == 0:
        return 0, 0
    return int(np.searchsorted(owner, rows.min())), int(np.searchsorted(owner, rows.max(), side="right"))


# --- span arithmetic on flat arrays --------------------------------------------------------------------------

def _normalise(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray, w0: int) -> tuple[np.ndarray, ...]:
    """Spans clipped to [w0, NEVER), empty ones dropped, sorted and merged where they overlap or touch."""
    lo = np.maximum(lo, w0)
    hi = np.minimum(hi, NEVER)
    keep = hi > lo
    if not keep.all():
        owner, lo, hi = np.compress(keep, owner), np.compress(keep, lo), np.compress(keep, hi)
    if len(owner) == 0:
        return _EMPTY, _EMPTY, _EMPTY
    if len(owner) == 1:
        return owner, lo, hi
    later = owner[1:] > owner[:-1]
    if bool(later.all()):
        return owner, lo, hi  # one span per owner, in owner order (the common case): nothing to sort or merge
    if bool((later | ((owner[1:] == owner[:-1]) & (lo[1:] > hi[:-1]))).all()):
        return owner, lo, hi  # in (owner, lo) order, apart and not touching (grouped versions): as they are
    key_lo = owner * _SPAN + _rel(lo, w0)
    if not bool((key_lo[1:] >= key_lo[:-1]).all()):
        order = np.argsort(key_lo, kind="stable")
        owner, lo, hi = owner[order], lo[order], hi[order]
    # running maximum of each owner's span ends: a span starts a new run when its owner changes or it begins
    # after every earlier span of its owner has ended
    key_hi = owner * _SPAN + _rel(hi, w0)
    reach = np.maximum.accumulate(key_hi)
    new = np.ones(len(owner), dtype=bool)
    new[1:] = (owner[1:] != owner[:-1]) | (owner[1:] * _SPAN + _rel(lo[1:], w0) > reach[:-1])
    starts = np.flatnonzero(new)
    ends = np.maximum.reduceat(hi, starts)
    return owner[starts], lo[starts], ends


def _intersect(oa: np.ndarray, la: np.ndarray, ha: np.ndarray, ob: np.ndarray, lb: np.ndarray,
               hb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections of two normalised span lists (each disjoint within an owner): a sweep over their ends."""
    if len(oa) == 0 or len(ob) == 0:
        return _EMPTY, _EMPTY, _EMPTY
    if bool((oa[1:] > oa[:-1]).all()) and bool((ob[1:] > ob[:-1]).all()):
        # one span per owner on both sides (the common case): the overlap of the two, owner by owner
        i = np.searchsorted(ob, oa)
        ic = np.minimum(i, len(ob) - 1)
        both = ob[ic] == oa
        ja = np.flatnonzero(both)
        jb = ic[ja]
        lo, hi = np.maximum(la[ja], lb[jb]), np.minimum(ha[ja], hb[jb])
        keep = hi > lo
        return oa[ja][keep], lo[keep], hi[keep]
    owner = np.concatenate([oa, ob, oa, ob])
    t = np.concatenate([la, lb, ha, hb])
    delta = np.concatenate([np.ones(len(oa) + len(ob), np.int8), -np.ones(len(oa) + len(ob), np.int8)])
    order = np.lexsort((delta, t, owner))  # at one moment an end comes before a start: [a, b) and [b, c) meet
    owner, t, delta = owner[order], t[order], delta[order]
    depth = np.cumsum(delta)
    both = np.flatnonzero(depth[:-1] == 2)  # inside both from this event to the next (of the same owner)
    o, lo, hi = owner[both], t[both], t[both + 1]
    keep = hi > lo
    return (o, lo, hi) if keep.all() else (o[keep], lo[keep], hi[keep])


def _select(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spans where `sel` holds."""
    if sel.all():
        return owner, lo, hi
    return np.compress(sel, owner), np.compress(sel, lo), np.compress(sel, hi)


Spans = tuple[np.ndarray, np.ndarray, np.ndarray]


def _merge_apart(parts: list[Spans], check: bool = False) -> Spans | None:
    """Span lists each sorted by (owner, lo), with no owner in two of them, as one list sorted by (owner, lo): a
    stable sort by owner, which merges the sorted runs. With `check`, None if some owner is in two of them."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return _EMPTY, _EMPTY, _EMPTY
    if len(parts) == 1:
        return parts[0]
    owner = np.concatenate([p[0] for p in parts])
    lo, hi = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    if bool((owner[1:] >= owner[:-1]).all()):  # one after the other already
        if check and any(a[0][-1] == b[0][0] for a, b in zip(parts[:-1], parts[1:])):
            return None
        return owner, lo, hi
    order = np.argsort(owner, kind="stable")
    owner = np.take(owner, order)
    if check:
        part = np.searchsorted(np.cumsum([len(p[0]) for p in parts]), order, side="right")
        if bool(((owner[1:] == owner[:-1]) & (part[1:] != part[:-1])).any()):
            return None
    return owner, np.take(lo, order), np.take(hi, order)


def _gaps(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray, w0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The complement of normalised spans within [w0, NEVER), for the owners that have spans."""
    if len(owner) == 0:
        return _EMPTY, _EMPTY, _EMPTY
    first = np.ones(len(owner), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    last = np.ones(len(owner), dtype=bool)
    last[:-1] = owner[1:] != owner[:-1]
    before_o, before_l, before_h = owner[first], np.full(int(first.sum()), w0, np.int64), lo[first]
    mid = ~last
    mid_o, mid_l, mid_h = owner[mid], hi[mid], lo[1:][mid[:-1]]
    after_o, after_l, after_h = owner[last], hi[last], np.full(int(last.sum()), NEVER, np.int64)
    o = np.concatenate([before_o, mid_o, after_o])
    a = np.concatenate([before_l, mid_l, after_l])
    b = np.concatenate([before_h, mid_h, after_h])
    keep = b > a
    o, a, b = o[keep], a[keep], b[keep]
    order = np.lexsort((a, o))
    return o[order], a[order], b[order]


__all__ = ["NEVER", "TimeSet"]
