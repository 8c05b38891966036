"""The trace of a run: columnar tables every metric is computed from.

- `visits`: one row per contact per step it entered (per iteration): contact (population row), iteration, step
  (index in the plan's order; the last index is the virtual step 'end'), t_enter, t_leave and an outcome code
  (app.semantics.outcomes). Each contact that enters an iteration has exactly one terminal row.
- `messages`: one row per message sent: contact, iteration, step, and the times it was sent, delivered, opened,
  clicked, unsubscribed from, and converted (-1: did not happen before the horizon).
- `units`: one row per contact per iteration entered: when it entered, and when it reached the goal (-1: not
  within its attribution window: before the cutoff, and not after leaving on another exit condition); and
  which of the run's effect events (`meta["effect_events"]`, bit j for the j-th) happened from its entry until
  the cutoff with the journey (`effect_with`) and without it (`effect_without`: the paired twin).

Times are int32 seconds after `t0` (the journey start, UTC), exact and compact; `absolute()` converts back.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.semantics.plan import Plan
from simulator.packed import pack, unpack

VISIT_COLUMNS: dict[str, type] = {"contact": np.int32, "iteration": np.int16, "step": np.int16,
                                  "t_enter": np.int32, "t_leave": np.int32, "outcome": np.int8}
MESSAGE_COLUMNS: dict[str, type] = {"contact": np.int32, "iteration": np.int16, "step": np.int16, "sent": np.int32,
                                    "delivered": np.int32, "opened": np.int32, "clicked": np.int32,
                                    "unsubscribed": np.int32, "converted": np.int32}
UNIT_COLUMNS: dict[str, type] = {"contact": np.int32, "iteration": np.int16, "entered": np.int32,
                                 "left": np.int32, "outcome": np.int8, "goal": np.int32,
                                 "effect_with": np.int32, "effect_without": np.int32}
MESSAGE_EVENTS = ("delivered", "opened", "clicked", "unsubscribed", "converted")
TABLES = {"visits": VISIT_COLUMNS, "messages": MESSAGE_COLUMNS, "units": UNIT_COLUMNS}
COMPACT_ABOVE = 4096  # more blocks than this (the reference run writes row by row): regroup rows by step


@dataclass
class Trace:
    """The columnar record of one run (one replica).

    `blocks[table]` indexes the rows of `visits` and `messages` by step: rows (step, iteration, start, stop),
    each a run of rows of one step and iteration, so per-step metrics read each run once.
    """

    t0: int
    horizon: int
    steps: tuple[str, ...]
    step_types: tuple[str, ...]
    visits: dict[str, np.ndarray]
    messages: dict[str, np.ndarray]
    units: dict[str, np.ndarray]
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict, compare=False)  # how long parts took (not saved)
    # the counts every figure is read from (simulator.metrics.Tally), summed over the chunks by the engine as it
    # wrote their rows; not saved (None: `figures` counts the columns)
    tally: Any = field(default=None, compare=False, repr=False)

    @property
    def days(self) -> int:
        """Simulated days from t0 to the horizon (the last one possibly partial)."""
        return -(-(self.horizon - self.t0) // 86_400)

    def absolute(self, rel: np.ndarray) -> np.ndarray:
        """Relative int32 times as UTC seconds (int64); -1 stays -1."""
        r = rel.astype(np.int64)
        return np.where(r >= 0, r + self.t0, -1)

    def digest(self) -> str:
        """A SHA-256 over every column: equal digests mean equal traces, bit for bit."""
        h = hashlib.sha256(json.dumps([self.t0, self.horizon, self.steps]).encode())
        for table, cols in TABLES.items():
            for name in cols:
                a = np.ascontiguousarray(getattr(self, table)[name])
                h.update(f"{table}.{name}:{a.dtype.str}:{a.shape}".encode())
                h.update(a.data if a.flags.c_contiguous else a.tobytes())  # no copy
        return h.hexdigest()

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"{t}.{c}": a for t in TABLES for c, a in getattr(self, t).items()}
        arrays.update({f"blocks.{t}": b for t, b in self.blocks.items()})
        return arrays

    def _header(self) -> dict[str, Any]:
        return {"t0": self.t0, "horizon": self.horizon, "steps": list(self.steps),
                "step_types": list(self.step_types), "meta": self.meta}

    def to_bytes(self) -> bytes:
        """The trace as a saved run keeps it: packed columns (simulator.packed; Zstandard's fastest level)."""
        return pack(self._arrays(), self._header())  # blocks (rows x 4) go flat; `from_bytes` reshapes them

    def to_npz(self) -> bytes:
        """The trace as compressed npz bytes (the form runs were saved in before `to_bytes`; slow to write)."""
        buf = io.BytesIO()
        arrays = self._arrays()
        arrays["header"] = np.frombuffer(json.dumps(self._header()).encode(), dtype=np.uint8)
        # numpy's stubs match **arrays against the keyword-only allow_pickle: bool as well
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Trace:
        """A trace from `to_bytes`'s form, or from `to_npz`'s (runs saved before)."""
        arrays, header = unpack(data)
        if "header" in arrays and not header:  # an npz
            header = json.loads(bytes(arrays.pop("header")).decode())
        blocks = {t: arrays[f"blocks.{t}"].reshape(-1, 4) for t in ("visits", "messages")}
        tables = {t: {c: arrays[f"{t}.{c}"] if f"{t}.{c}" in arrays else np.zeros(len(arrays[f"{t}.contact"]), d)
                      for c, d in cols.items()} for t, cols in TABLES.items()}  # older traces lack columns
        return cls(header["t0"], header["horizon"], tuple(header["steps"]), tuple(header["step_types"]),
                   tables["visits"], tables["messages"], tables["units"], blocks, header.get("meta", {}))

    from_npz = from_bytes

    def rows(self, table: str = "visits") -> list[tuple[int, ...]]:
        """A table as sorted tuples (for comparisons in tests and small reports)."""
        cols = getattr(self, table)
        return sorted(zip(*(cols[c].tolist() for c in TABLES[table])))


class _Table:
    """Growable columns: blocks of rows are written straight into them (no temporaries, no final copy)."""

    def __init__(self, cols: dict[str, type], capacity: int) -> None:
        self.dtypes = cols
        self.cols: dict[str, np.ndarray] = {n: np.empty(max(capacity, 16), d) for n, d in cols.items()}
        self.size = 0
        self.blocks: list[tuple[int, int, int, int]] = []

    def rows(self, n: int, step: int = -1, iteration: int = 0) -> slice:
        """Room for `n` more rows (of one step and iteration), as a slice of the columns."""
        cap = len(next(iter(self.cols.values())))
        if self.size + n > cap:  # grow by half (amortised); pages not yet written cost no memory
            new = max(self.size + n, cap + cap // 2)
            for name, col in self.cols.items():
                grown = np.empty(new, col.dtype)
                grown[:self.size] = col[:self.size]
                self.cols[name] = grown
        sl = slice(self.size, self.size + n)
        if self.blocks and self.blocks[-1][:2] == (step, iteration) and self.blocks[-1][3] == self.size:
            self.blocks[-1] = (step, iteration, self.blocks[-1][2], self.size + n)
        else:
            self.blocks.append((step, iteration, self.size, self.size + n))
        self.size += n
        return sl

    def finish(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        cols = {n: c[:self.size] for n, c in self.cols.items()}
        blocks = np.array(self.blocks, dtype=np.int64).reshape(-1, 4)
        if len(blocks) > COMPACT_ABOVE and "step" in cols:
            order = np.lexsort((cols["iteration"], cols["step"]))
            cols = {n: c[order] for n, c in cols.items()}
            key = cols["step"].astype(np.int64) * 65536 + cols["iteration"]
            starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
            stops = np.concatenate((starts[1:], [len(key)]))
            blocks = np.stack([cols["step"][starts], cols["iteration"][starts], starts, stops], axis=1)
            blocks = blocks.astype(np.int64)
        return cols, blocks


class TraceBuilder:
    """Collects trace rows (absolute int64 times in, relative compact columns out)."""

    def __init__(self, plan: Plan, capacity: int = 0) -> None:
        self.plan = plan
        self.t0 = plan.start
        self.limit = plan.horizon - plan.start
        n_messages = sum(1 for s in plan.steps if s.channel)
        self._t = {"visits": _Table(VISIT_COLUMNS, capacity * (len(plan.steps) + 1)),
                   "messages": _Table(MESSAGE_COLUMNS, capacity * n_messages),
                   "units": _Table(UNIT_COLUMNS, capacity)}

    def visits(self, contact: np.ndarray, iteration: int, step: int, t_enter: np.ndarray, t_leave: np.ndarray,
               outcome: np.ndarray | int) -> None:
        """Rows for contacts at one step (times UTC seconds)."""
        n = len(contact)
        if n == 0:
            return
        tb = self._t["visits"]
        sl = tb.rows(n, step, iteration)
        c = tb.cols
        c["contact"][sl] = contact
        c["iteration"][sl] = iteration
        c["step"][sl] = step
        np.subtract(t_enter, self.t0, out=c["t_enter"][sl], casting="unsafe")
        np.subtract(t_leave, self.t0, out=c["t_leave"][sl], casting="unsafe")
        c["outcome"][sl] = outcome

    def messages(self, contact: np.ndarray, iteration: int, step: int, sent: np.ndarray,
                 events: dict[str, np.ndarray]) -> None:
        """Rows for messages sent at one step; events at or after the horizon are not recorded."""
        n = len(contact)
        if n == 0:
            return
        tb = self._t["messages"]
        sl = tb.rows(n, step, iteration)
        c = tb.cols
        c["contact"][sl] = contact
        c["iteration"][sl] = iteration
        c["step"][sl] = step
        np.subtract(sent, self.t0, out=c["sent"][sl], casting="unsafe")
        for name in MESSAGE_EVENTS:
            self._event(events[name], c[name][sl])

    def units(self, contact: np.ndarray, iteration: int, entered: np.ndarray, left: np.ndarray,
              outcome: np.ndarray, goal: np.ndarray, effect_with: np.ndarray | int = 0,
              effect_without: np.ndarray | int = 0) -> None:
        """Rows for contacts entering an iteration: when and how they left; `goal` NEVER when not reached; the
        effect events' bits with and without the journey."""
        n = len(contact)
        if n == 0:
            return
        tb = self._t["units"]
        sl = tb.rows(n, -1, iteration)
        c = tb.cols
        c["contact"][sl] = contact
        c["iteration"][sl] = iteration
        np.subtract(entered, self.t0, out=c["entered"][sl], casting="unsafe")
        np.subtract(left, self.t0, out=c["left"][sl], casting="unsafe")
        c["outcome"][sl] = outcome
        self._event(goal, c["goal"][sl])
        c["effect_with"][sl] = effect_with
        c["effect_without"][sl] = effect_without

    def extend(self, other: TraceBuilder) -> None:
        """Append another builder's rows (block by block, so that the blocks come out as if written here)."""
        for name, table in self._t.items():
            theirs = other._t[name]
            for step, iteration, start, stop in theirs.blocks:
                sl = table.rows(stop - start, step, iteration)
                for col, values in theirs.cols.items():
                    table.cols[col][sl] = values[start:stop]

    def _event(self, t: np.ndarray, out: np.ndarray) -> None:
        """Relative times into `out`, -1 where the event does not happen before the horizon."""
        happened = t < self.plan.horizon
        if 4 * int(np.count_nonzero(happened)) < len(t):  # a rare event (clicks, conversions): set the few
            out.fill(-1)
            idx = np.flatnonzero(happened)
            out[idx] = np.take(t, idx) - self.t0
        else:
            out[...] = np.where(happened, t - self.t0, -1)

    def finish(self, meta: dict[str, Any] | None = None) -> Trace:
        """The trace (its columns are views of the builder's buffers)."""
        tables, blocks = {}, {}
        for name, table in self._t.items():
            tables[name], blocks[name] = table.finish()
        p = self.plan
        return Trace(p.start, p.horizon, tuple(p.step_names()), tuple(s.type for s in p.steps) + ("end",),
                     tables["visits"], tables["messages"], tables["units"],
                     {"visits": blocks["visits"], "messages": blocks["messages"]}, dict(meta or {}))
