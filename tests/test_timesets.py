"""Interval sets of membership over time, against a plain model: a boolean per owner and second."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audience.timesets import NEVER, TimeSet

W0 = 100
MOMENTS = np.arange(90, 260)  # before the window, inside it, and past every finite end


@st.composite
def timesets(draw: Any, n: int) -> TimeSet:
    """Random sets: some owners always members, spans that overlap, touch or run for ever, or one per owner."""
    full = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if draw(st.booleans()):
        full[:] = False
    k = draw(st.integers(0, 3 * n))
    owner = np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), dtype=np.int64)
    if draw(st.booleans()):
        owner = np.unique(owner)  # one span per owner, in order: the fast paths
    lo = np.array(draw(st.lists(st.integers(50, 200), min_size=len(owner), max_size=len(owner))), dtype=np.int64)
    length = np.array(draw(st.lists(st.integers(0, 60), min_size=len(owner), max_size=len(owner))), dtype=np.int64)
    hi = np.where(length == 60, NEVER, lo + length)
    return TimeSet.spans(n, W0, owner, lo, hi, full)


def dense(ts: TimeSet) -> np.ndarray:
    return np.stack([ts.member_at(np.arange(ts.n), t) for t in MOMENTS], axis=1)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7).flatmap(lambda n: st.tuples(timesets(n), timesets(n))))
def test_set_operations_match_a_boolean_per_moment(pair: tuple[TimeSet, TimeSet]) -> None:
    a, b = pair
    da, db = dense(a), dense(b)
    assert (dense(a | b) == (da | db)).all()
    assert (dense(a & b) == (da & db)).all()
    assert (dense(~a) == ~da).all()
    assert (dense(a - b) == (da & ~db)).all()
    parent = np.arange(a.n)[::-1].copy()
    parent[0] = -1
    assert (dense(a.expand(parent)) == np.where(parent[:, None] >= 0, da[np.maximum(parent, 0)], False)).all()
    group = np.arange(a.n) % 2
    g = dense(a.group(group, 2))
    assert (g[0] == da[group == 0].any(axis=0)).all() and (g[1] == da[group == 1].any(axis=0)).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 7).flatmap(lambda n: timesets(n)), st.integers(90, 250))
def test_joining_and_leaving_times(a: TimeSet, t: int) -> None:
    rows = np.arange(a.n)
    joins, leaves = a.first_at_or_after(rows, t), a.first_leave_after(rows, t)
    horizon = list(range(max(t, W0), 400))
    for r in range(a.n):
        member = [bool(a.member_at(np.array([r]), u)[0]) for u in horizon]
        first = next((u for u, m in zip(horizon, member) if m), None)
        if first is not None:
            assert joins[r] == first
        else:
            assert joins[r] >= 400
        ends = [horizon[i] for i in range(1, len(horizon)) if member[i - 1] and not member[i]]
        assert leaves[r] == (ends[0] if ends else NEVER) or (not ends and leaves[r] >= 400)
