"""Combined time sets keep one form: the same arrays as the spans of both sides normalised from scratch.

The fast paths of `|` and `&` (owners apart, parts merged by owner instead of sorted again) must give exactly what
`TimeSet.spans` gives for the same membership, so that every later query (joining and leaving times) reads the
same spans and a run stays the same bit for bit.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audience.timesets import _SPAN, TimeSet
from tests.test_timesets import W0, dense, timesets


def _same(a: TimeSet, b: TimeSet) -> None:
    assert a.n == b.n and a.w0 == b.w0
    assert (a.full == b.full).all()
    for name in ("owner", "lo", "hi"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == np.int64 and len(x) == len(y) and (x == y).all(), name


def _union(a: TimeSet, b: TimeSet) -> TimeSet:
    return TimeSet.spans(a.n, W0, np.concatenate([a.owner, b.owner]), np.concatenate([a.lo, b.lo]),
                         np.concatenate([a.hi, b.hi]), a.full | b.full)


def _restrict(a: TimeSet, owners: np.ndarray) -> TimeSet:
    """`a` for `owners` only (nobody else ever a member)."""
    keep = np.isin(a.owner, owners)
    mask = np.zeros(a.n, dtype=bool)
    mask[owners] = True
    return TimeSet.spans(a.n, W0, a.owner[keep], a.lo[keep], a.hi[keep], a.full & mask)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(timesets(n), timesets(n), st.integers(0, 2 ** n - 1))))
def test_union_and_intersection_keep_the_normal_form(case: tuple[TimeSet, TimeSet, int]) -> None:
    a, b, bits = case
    _same(a | b, _union(a, b))
    _same(b | a, _union(a, b))
    # owners apart (the simulated purchases' case): each owner's spans from one side only
    mine = np.array([i for i in range(a.n) if bits >> i & 1], dtype=np.int64)
    theirs = np.setdiff1d(np.arange(a.n), mine)
    a2, b2 = _restrict(a, mine), _restrict(b, theirs)
    _same(a2 | b2, _union(a2, b2))
    # the intersection: against its membership made into spans moment by moment
    both = a & b
    da, db = dense(a), dense(b)
    assert (dense(both) == (da & db)).all()
    assert (both.full == (a.full & b.full)).all()
    assert (both.owner[1:] >= both.owner[:-1]).all()
    assert not np.isin(both.owner, np.flatnonzero(both.full)).any()
    assert (both.hi > both.lo).all()
    same_owner = both.owner[1:] == both.owner[:-1]
    assert (both.lo[1:][same_owner] > both.hi[:-1][same_owner]).all()  # apart, not touching
    _same(both, TimeSet.spans(a.n, W0, both.owner, both.lo, both.hi, both.full))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    timesets(n), st.lists(st.integers(0, n - 1), min_size=1, max_size=3 * n), st.integers(90, 250))))
def test_locating_spans_by_counting_matches_the_binary_search(case: tuple[TimeSet, list[int], int]) -> None:
    a, picked, t = case
    rows = np.array(picked, dtype=np.int64)
    if not len(a.owner):
        return
    q = rows * _SPAN + np.clip(np.int64(t) - W0, 0, _SPAN - 1)
    want = np.searchsorted(a._keys(), q, side="right") - 1
    assert (a._last_at_or_before(rows, q) == want).all()
    for sub in (np.sort(rows), rows[::-1].copy(), np.unique(rows)):
        qs = sub * _SPAN + np.clip(np.int64(t) - W0, 0, _SPAN - 1)
        assert (a._last_at_or_before(sub, qs) == np.searchsorted(a._keys(), qs, side="right") - 1).all()
