"""Time-warp replay of a saved run: what the canvas shows at any moment of the simulated time.

`Replay(trace, plan)` indexes one trace once; `at(t)` then gives a `Frame`: the contacts waiting at each step,
running totals per step (entered, each outcome, message events) and per journey, and the contacts that passed
along each edge, all counted up to and including the UTC second `t`. `status_line` and `tooltip_lines` turn a
frame into a tile's short status text and its hover figures; with a run of several replicas each hover figure
carries its 95 % interval over replicas at the end of the simulated day containing `t` (`StepIntervals`).

How `at(t)` is fast: every counted event (a visit entering a step, a visit leaving it with an outcome, a message
event, a goal) belongs to one group (step and what happened), and all of them are one sorted int64 array of
`group * SPAN + time`. One query per group counts every group at `t`: `np.searchsorted` over the first key of
each block of 32 (small enough to stay in the processor's cache, where a search of the whole array waits on
memory at every step), then the 32 keys of each group's block compared at once. Waiting contacts, totals, edge
flows and journey figures are fixed sums of group counts (one weighted bincount), and a `Frame` makes its
mappings from them when they are read.

Edges carry a visit's outcome to a port: a message step, wait or action has one port ('next'); an if/then's
yes and no go to its 'yes' and 'no' ports; split path i goes to port i ('A', 'B'...). Terminal outcomes
(exited, goal, stopped, held out, still waiting at the horizon) traverse no edge; an exit tile has no port and
sends its contacts to the end without an edge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from app.model.registry import END
from app.semantics import outcomes as oc
from simulator.metrics import DAY, FUNNEL_OUTCOMES, STEP_OUTCOMES
from app.semantics.plan import Kind, Plan, StepPlan
from app.words import STATUS_SEP, compact_count
from simulator.replicas import StepIntervals
from simulator.trace import MESSAGE_EVENTS, Trace

if TYPE_CHECKING:
    from simulator.runs import RunRecord

# a step's running totals: the funnel's names ('waiting' there is "still here at the horizon"), 'passed' and
# the message events
OUTCOMES: dict[str, tuple[int, ...]] = {**STEP_OUTCOMES, "waiting": FUNNEL_OUTCOMES["waiting"]}
ORDER = ("entered", "sent", "suppressed", "capped", *MESSAGE_EVENTS, "yes", "no",
         *(f"path_{c}" for c in "ABCDEFGHIJ"), "holdout", "done", "shared", "passed", "exited", "goal", "stopped",
         "waiting", "completed")
LABELS = {"holdout": "held out", "goal": "reached the goal (exited)", "passed": "went on",
          "waiting": "still here at the horizon", **{f"path_{c}": f"path {c}" for c in "ABCDEFGHIJ"}}
JOURNEY = ("entered", "in_journey", "exited", "goals", "completed", "held_out", "stopped")
_CORE: dict[Kind, tuple[str, ...]] = {
    Kind.MESSAGE: ("sent", "delivered", "opened", "clicked"), Kind.IF_EVENT: ("yes", "no"),
    Kind.IF_CONDITION: ("yes", "no"), Kind.IF_SEGMENT: ("yes", "no"), Kind.WAIT_FOR: ("passed",),
    Kind.WAIT_UNTIL: ("passed",), Kind.ACTION: ("done",), Kind.EXIT: ("passed",), Kind.SPLIT: ()}
_NON_TERMINAL = (oc.PASSED, oc.SENT, oc.SUPPRESSED, oc.CAPPED, oc.DONE, oc.SHARED)
BLOCK = 32  # sorted keys per block of the index (see Replay._values)


class Frame:
    """The journey at UTC second `t`: counts of contacts (visits, per iteration) up to and including `t`.

    `waiting`: step id ('end' too, always 0) -> contacts at the step at t; `totals`: step id -> metric -> running
    total (see `Replay.metrics`); `flows`: (source step id, port) -> contacts who left the source through the
    port; `journey`: entered, in_journey, exited, goals, completed, held_out, stopped. Each is made from the
    frame's figures when first read (a step's totals when that step is read): a scrubbed frame is drawn at once,
    and the canvas reads only what it shows."""

    __slots__ = ("t", "_vals", "_replay", "_waiting", "_totals", "_flows", "_journey")

    def __init__(self, t: int, vals: list[int], replay: Replay) -> None:
        self.t = t
        self._vals, self._replay = vals, replay
        self._waiting: dict[str, int] | None = None
        self._totals: _Totals | None = None
        self._flows: dict[tuple[str, str], int] | None = None
        self._journey: dict[str, int] | None = None

    @property
    def waiting(self) -> dict[str, int]:
        if self._waiting is None:
            vals = self._vals
            self._waiting = dict(zip(self._replay._names, [vals[r] for r in self._replay._waiting_rows]))
        return self._waiting

    @property
    def totals(self) -> Mapping[str, dict[str, int]]:
        if self._totals is None:
            self._totals = _Totals(self._vals, self._replay._total_layout)
        return self._totals

    @property
    def flows(self) -> dict[tuple[str, str], int]:
        if self._flows is None:
            a, b = self._replay._flow_rows
            self._flows = dict(zip(self._replay._flow_keys, self._vals[a:b]))
        return self._flows

    @property
    def journey(self) -> dict[str, int]:
        if self._journey is None:
            vals = self._vals
            self._journey = dict(zip(JOURNEY, [vals[r] for r in self._replay._journey_rows]))
        return self._journey

    def waiting_at(self, step_id: str) -> int:
        """Contacts at one step at t (0 for a step the journey does not have)."""
        row = self._replay._waiting_row.get(step_id)
        return 0 if row is None else self._vals[row]


class _Totals(Mapping[str, dict[str, int]]):
    """A frame's running totals per step, each step's made when first read."""

    def __init__(self, vals: list[int], layout: dict[str, tuple[tuple[str, ...], int]]) -> None:
        self._vals, self._layout = vals, layout
        self._made: dict[str, dict[str, int]] = {}

    def __getitem__(self, step_id: str) -> dict[str, int]:
        made = self._made.get(step_id)
        if made is None:
            names, lo = self._layout[step_id]
            made = self._made[step_id] = dict(zip(names, self._vals[lo:lo + len(names)]))
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout)

    def __len__(self) -> int:
        return len(self._layout)


class Replay:
    """A trace indexed for scrubbing through simulated time (see the module docstring)."""

    def __init__(self, trace: Trace, plan: Plan, step_intervals: StepIntervals | None = None) -> None:
        names = tuple(plan.step_names())
        if names != tuple(trace.steps):
            raise ValueError(f"the trace's steps {list(trace.steps)[:5]}... are not those of journey "
                             f"'{plan.journey_name}' {list(names)[:5]}...: replay a trace with its own plan")
        if step_intervals is not None and tuple(step_intervals.steps) != names:
            raise ValueError("the step intervals are not those of this trace's steps")
        self.trace, self.plan, self.intervals = trace, plan, step_intervals
        self.t0, self.horizon = trace.t0, trace.horizon
        self.steps: tuple[str, ...] = tuple(s.id for s in plan.steps)
        self.edges: list[tuple[str, str, str]] = [
            (s.id, port, names[target] if target < plan.end else END)
            for s in plan.steps for port, target in zip(s.ports, s.next)]
        self._names = names
        self._position = {sid: i for i, sid in enumerate(names)}
        self._span = trace.horizon - trace.t0 + 2  # relative times run from 0 to the horizon itself
        self._index()
        self._layout()
        self._moments_index()

    @classmethod
    def from_record(cls, record: RunRecord) -> Replay:
        """The replay of a saved run (its plan compiled again from the recorded journey and horizon)."""
        plan = record.plan()
        return cls(record.trace(), plan, record.step_intervals())

    # --- building the index -----------------------------------------------------------------------------
    def _index(self) -> None:
        """Groups of events and the one sorted key array of `group * SPAN + time`."""
        tr, span, n = self.trace, self._span, len(self._names)
        v, m = tr.visits, tr.messages
        vblocks = tr.blocks["visits"].tolist()
        mblocks = tr.blocks["messages"].tolist()
        present = np.zeros((n, oc.N_CODES), dtype=np.int64)
        for step, _, lo, hi in vblocks:
            present[step] += np.bincount(v["outcome"][lo:hi], minlength=oc.N_CODES)
        events = {name: np.zeros(n, dtype=np.int64) for name in MESSAGE_EVENTS}
        for name in MESSAGE_EVENTS:
            col = m[name]
            for step, _, lo, hi in mblocks:
                events[name][step] += np.count_nonzero(col[lo:hi] >= 0)
        # groups: entering each step, leaving each step with each outcome it has, each message event, goals
        self._g_enter = np.arange(n)
        code_group = np.full((n, oc.N_CODES), -1, dtype=np.int64)
        steps_, codes_ = np.nonzero(present)
        code_group[steps_, codes_] = n + np.arange(len(steps_))
        g = n + len(steps_)
        event_group: dict[str, np.ndarray] = {}
        for name in MESSAGE_EVENTS:
            eg = np.full(n, -1, dtype=np.int64)
            has = np.flatnonzero(events[name])
            eg[has] = g + np.arange(len(has))
            g += len(has)
            event_group[name] = eg
        self._g_goal = g
        self._groups = g + 1
        self._code_group, self._event_group = code_group, event_group
        goal = tr.units["goal"]
        goals = np.flatnonzero(goal >= 0)
        size = 2 * len(v["step"]) + sum(int(e.sum()) for e in events.values()) + len(goals)
        blocks = max(1, -(-size // BLOCK))
        keys = np.empty(blocks * BLOCK, dtype=np.int64)
        keys[size:] = np.iinfo(np.int64).max  # the last block's padding: after every key
        pos = 0

        def put(group: int | np.ndarray, times: np.ndarray) -> None:
            nonlocal pos
            out = keys[pos:pos + len(times)]
            np.multiply(group, span, out=out, casting="unsafe")
            out += times
            pos += len(times)

        for step, _, lo, hi in vblocks:
            put(int(self._g_enter[step]), v["t_enter"][lo:hi])
            put(np.take(code_group[step], v["outcome"][lo:hi].astype(np.intp)), v["t_leave"][lo:hi])
        for name in MESSAGE_EVENTS:
            col = m[name]
            for step, _, lo, hi in mblocks:
                if event_group[name][step] >= 0:
                    part = col[lo:hi]
                    put(int(event_group[name][step]), np.compress(part >= 0, part))
        put(self._g_goal, np.take(goal, goals))
        assert pos == size
        keys[:size].sort()
        self._keys = keys[:size]
        self._blocks = keys.reshape(blocks, BLOCK)
        self._block_first = np.ascontiguousarray(self._blocks[:, 0])
        self._query_base = np.arange(self._groups, dtype=np.int64) * span
        self._start = np.searchsorted(keys, self._query_base, side="left")

    def _layout(self) -> None:
        """Every figure a frame gives, as a signed sum of group counts (rows of one weighted bincount)."""
        plan, n = self.plan, len(self._names)
        cg, eg = self._code_group, self._event_group
        dst: list[int] = []
        src: list[int] = []
        sign: list[float] = []
        row = 0

        def figure(parts: list[tuple[int, float]]) -> int:
            nonlocal row
            for group, s in parts:
                if group >= 0:
                    dst.append(row)
                    src.append(group)
                    sign.append(s)
            row += 1
            return row - 1

        def codes(step: int, cs: tuple[int, ...] | list[int]) -> list[tuple[int, float]]:
            return [(int(cg[step, c]), 1.0) for c in cs]

        self._waiting_rows = [figure([(step, 1.0)] + [(int(gr), -1.0) for gr in cg[step] if gr >= 0])
                              for step in range(n)]
        self.metrics: dict[str, tuple[str, ...]] = {}
        self._waiting_row = dict(zip(self._names, self._waiting_rows))
        self._total_layout: dict[str, tuple[tuple[str, ...], int]] = {}
        first = row
        for step in range(n):
            sp = plan.steps[step] if step < plan.end else None
            names = self._metric_names(step, sp)
            self.metrics[self._names[step]] = names
            self._total_layout[self._names[step]] = (names, row)
            for name in names:
                if name == "entered":
                    figure([(step, 1.0)])
                elif name in OUTCOMES:
                    figure(codes(step, OUTCOMES[name]))
                else:
                    figure([(int(eg[name][step]), 1.0)])
        self._totals_rows = (first, row)
        self._flow_keys: list[tuple[str, str]] = []
        first = row
        for sp in plan.steps:
            for i, port in enumerate(sp.ports):
                self._flow_keys.append((sp.id, port))
                figure(codes(sp.index, _port_codes(sp, i)))
        self._flow_rows = (first, row)
        end = plan.end
        every = range(plan.end)
        self._journey_rows = [
            figure([(plan.entry, 1.0)]),
            figure([(s, 1.0) for s in every] + [(int(gr), -1.0) for s in every for gr in cg[s] if gr >= 0]),
            figure([p for s in range(n) for p in codes(s, (oc.EXITED, oc.GOAL))]),
            figure([(self._g_goal, 1.0)]),
            figure(codes(end, (oc.COMPLETED,))),
            figure([p for s in range(n) for p in codes(s, (oc.HOLDOUT,))]),
            figure([p for s in range(n) for p in codes(s, (oc.STOPPED,))])]
        self._rows = row
        self._dst = np.array(dst, dtype=np.intp)
        self._src = np.array(src, dtype=np.intp)
        self._sign = np.array(sign, dtype=np.float64)

    def _metric_names(self, step: int, sp: StepPlan | None) -> tuple[str, ...]:
        """The totals a step shows: those of its kind, and any other outcome or event that happens there."""
        if sp is None:
            core: tuple[str, ...] = ("completed",)
        elif sp.kind == Kind.SPLIT:
            core = tuple(f"path_{p}" for p in sp.ports) + (("holdout",) if sp.thresholds[-1] < 1.0 else ())
        else:
            core = _CORE[sp.kind]
            if sp.kind == Kind.ACTION and sp.per_account:
                core += ("shared",)
        here = {name for name, cs in OUTCOMES.items() if any(self._code_group[step, c] >= 0 for c in cs)}
        here |= {name for name in MESSAGE_EVENTS if self._event_group[name][step] >= 0}
        return tuple(name for name in ORDER if name == "entered" or name in core or name in here)

    def _moments_index(self) -> None:
        """Sorted distinct moments (relative) when a visit enters or leaves a step (not 'still waiting')."""
        v = self.trace.visits
        leaving = v["t_leave"][v["outcome"] != oc.WAITING]
        if self._span <= 1 << 27:  # a mark per second: linear, no sort
            mark = np.zeros(self._span, dtype=bool)
            mark[v["t_enter"]] = True
            mark[leaving] = True
            self._moments = np.flatnonzero(mark)
        else:
            self._moments = np.unique(np.concatenate((v["t_enter"], leaving))).astype(np.int64)

    # --- queries ----------------------------------------------------------------------------------------
    def _values(self, t: int) -> list[int]:
        rel = min(max(int(t) - self.t0, -1), self._span - 1)
        query = self._query_base + rel
        # keys <= query: the block holding the last of them (found among the blocks' first keys, which stay in
        # the processor's cache), then its keys compared at once; as np.searchsorted(keys, query, 'right')
        block = np.searchsorted(self._block_first, query, side="right")
        block -= 1
        np.maximum(block, 0, out=block)
        counts = block * BLOCK + np.count_nonzero(self._blocks[block] <= query[:, None], axis=1) - self._start
        weights = np.take(counts, self._src) * self._sign
        return np.bincount(self._dst, weights=weights, minlength=self._rows).astype(np.int64).tolist()

    def at(self, t: int) -> Frame:
        """The journey at UTC second `t` (everything that happened at or before `t`)."""
        return Frame(int(t), self._values(t), self)

    def next_event(self, t: int) -> int | None:
        """The first moment after `t` when a contact enters or leaves a step (None: nothing more happens)."""
        i = int(np.searchsorted(self._moments, int(t) - self.t0, side="right"))
        return self.t0 + int(self._moments[i]) if i < len(self._moments) else None

    def prev_event(self, t: int) -> int | None:
        """The last moment before `t` when a contact enters or leaves a step (None: nothing before)."""
        i = int(np.searchsorted(self._moments, int(t) - self.t0, side="left")) - 1
        return self.t0 + int(self._moments[i]) if i >= 0 else None

    def day_of(self, t: int) -> int:
        """The simulated day (0-based, 24 h from the start, UTC) containing `t`, within the run's days."""
        return min(max((int(t) - self.t0) // DAY, 0), max(self.trace.days - 1, 0))

    def _step(self, step_id: str) -> int:
        try:
            return self._position[step_id]
        except KeyError:
            raise KeyError(f"no step '{step_id}' in journey '{self.plan.journey_name}'") from None

    # --- text for the canvas ----------------------------------------------------------------------------
    def status_line(self, frame: Frame, step_id: str) -> str:
        """A tile's short status text at the frame, e.g. '120 waiting · 1,000 sent · 214 opened · 26 clicked';
        every count of one line in the same form, chosen by its largest ('13.6k sent · 3.2k opened', never
        '13.6k sent · 3,184 opened'); the tooltip has the exact figures."""
        i = self._step(step_id)
        tot = frame.totals[step_id]
        w = frame.waiting_at(step_id)
        if i == self.plan.end:
            return _line([(tot.get("completed", 0), "{} completed")])
        sp = self.plan.steps[i]
        k = sp.kind
        if k == Kind.MESSAGE:
            parts = [(w, "{} waiting")] + [(tot.get(m, 0), "{} " + m) for m in ("sent", "opened", "clicked")]
        elif k in (Kind.IF_EVENT, Kind.IF_CONDITION, Kind.IF_SEGMENT):
            parts = [(w, "{} waiting"), (tot.get("yes", 0), "{} yes"), (tot.get("no", 0), "{} no")]
        elif k == Kind.SPLIT:
            parts = [(tot.get(f"path_{p}", 0), f"{p} {{}}") for p in sp.ports]
            if "holdout" in tot:
                parts.append((tot["holdout"], "held out {}"))
        elif k in (Kind.WAIT_FOR, Kind.WAIT_UNTIL):
            parts = [(w, "{} waiting"), (tot.get("passed", 0), "{} on")]
        elif k == Kind.ACTION:
            parts = [(tot.get("done", 0), "{} done")]
        else:
            parts = [(tot.get("passed", 0), "{} exited")]
        return _line(parts)

    def tooltip_lines(self, frame: Frame, step_id: str) -> list[str]:
        """Every figure of the step at the frame, each with its interval over replicas when there is one."""
        step = self._step(step_id)
        day = self.day_of(frame.t)
        iv = self.intervals
        lines = [] if step_id == END else [f"{frame.waiting[step_id]:,} waiting here now"]
        for name in self.metrics[step_id]:
            value = frame.totals[step_id][name]
            label = LABELS.get(name, name)
            if name == "passed" and step < self.plan.end and self.plan.steps[step].kind == Kind.EXIT:
                label = "left the journey here"
            if name == "waiting":  # only the horizon tells it: no daily figure
                lines.append(f"{label} {value:,}")
            elif iv is None:
                lines.append(f"{label} {value:,}")
            elif iv.replicas < 2:
                lines.append(f"{label} {value:,} — one replica: no interval")
            else:
                mean, low, high = iv.at(name, step, day) or (0.0, 0.0, 0.0)  # no replica had any
                # two figures, each said for what it is: this replay (the first replica, now) and the mean
                lines.append(f"{label} {value:,} in this replay (replica 1, now) — over {iv.replicas} replicas by "
                             f"the end of day {day + 1}: mean {mean:,.0f} (95% {max(low, 0):,.0f}–{high:,.0f})")
        if iv is None:
            lines.append("no intervals: none were saved with this run")
        return lines


def _port_codes(sp: StepPlan, port: int) -> tuple[int, ...]:
    """The outcome codes of a step that leave through its `port`-th port."""
    if sp.kind in (Kind.IF_EVENT, Kind.IF_CONDITION, Kind.IF_SEGMENT):
        return (oc.YES,) if port == 0 else (oc.NO,) if port == 1 else ()
    if sp.kind == Kind.SPLIT:
        return (oc.path(port),)
    return _NON_TERMINAL if port == 0 else ()


_count = compact_count  # a count in few characters, in the form of its line's largest


def _line(parts: list[tuple[int, str]]) -> str:
    """A status line: each (count, template) with the counts in one form."""
    scale = max((int(n) for n, _ in parts), default=0)
    return STATUS_SEP.join(template.format(_count(int(n), scale)) for n, template in parts)