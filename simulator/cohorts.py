"""One iteration of one chunk, step by step: the reference interpreter's rules applied to whole cohorts.

At every step a cohort is (units, arrival times). Each step gives each unit a natural leaving time `l` (send
slot, end of a wait, yes time or time limit, or the arrival itself), then, as in the reference: the unit exits
if its first exit event `x` comes before `l` and before the cutoff `C` (actions at a moment happen before exits
at that moment, so x == l lets it go on); otherwise it goes on if `l < C`; otherwise it is stopped at `C`.
A unit's exit and goal times start as its background events and segment triggers; messages it is sent bring
conversions and unsubscribes forward, which later steps see: steps run in topological order, and along any
unit's path that is also time order.

Speed notes: np.take / np.compress are several times faster than fancy and boolean indexing; when every unit
has one member (always, targeting contacts) members are gathered directly instead of expanded.
"""

from __future__ import annotations

import time

import numpy as np

from simulator.behaviour import message_events
from app.semantics.draws import NEVER, SPLIT, SPLIT_ACCOUNT, hash_keys, stream, uniform
from simulator.engine import CancelToken, Cancelled, Chunk, Context, Units
from app.semantics.outcomes import (CAPPED, COMPLETED, DONE, EXITED, GOAL, HOLDOUT, NO, PASSED, PATH_BASE, SENT, SHARED,
                                STOPPED, SUPPRESSED, WAITING, YES)
from app.semantics.plan import Kind, StepPlan
from simulator.population import CategoryColumn
from app.semantics.reference import CHANNELS, _number, condition_holds
from simulator.trace import TraceBuilder
from simulator.world import effect_bits, trigger_times

DAY = 86_400
take, compress = np.take, np.compress


class _Iteration:
    """The state of the units of one chunk in one iteration."""

    def __init__(self, ctx: Context, chunk: Chunk, units: Units, k: int, out: TraceBuilder) -> None:
        self.ctx, self.chunk, self.units, self.k, self.out = ctx, chunk, units, k, out
        self.plan = plan = ctx.plan
        self.cutoff, horizon = plan.cutoff(k)
        self.stop_code = WAITING if horizon else STOPPED
        self.single = units.single
        self.member_rows = chunk.rows32 if units.identity else take(chunk.rows32, units.member)  # trace contact
        n = units.n
        self.events: dict[str, np.ndarray] = {}  # contact event name -> first time per unit
        self.own: dict[str, np.ndarray] = {}  # ... per member, on its own (the twin reads them again)
        for trig in (*plan.exits, *([plan.goal] if plan.goal else [])):
            if trig.name not in self.events:
                rows, entry = self._member_rows()
                own = self.own[trig.name] = trigger_times(ctx.world, trig, rows, entry, k)
                # (per unit, the times are lowered in place as messages bring events forward: a copy of its own)
                self.events[trig.name] = self._per_unit_min(own.copy() if self.single else own)
        self.exit_names = list(dict.fromkeys(t.name for t in plan.exits))
        self.goal_exits = plan.goal is not None and plan.goal.name in self.exit_names
        # message events that move exits or the goal: unsubscribes and conversions, when the journey names them
        names = {*self.exit_names, *([plan.goal.name] if plan.goal else [])}
        self.tracked = {e: e for e in ("unsubscribed",) if e in names}
        if ctx.behaviour.conversion_event in names:
            self.tracked["converted"] = ctx.behaviour.conversion_event
        self.exit_at = np.full(n, NEVER, dtype=np.int64)
        for name in self.exit_names:
            np.minimum(self.exit_at, self.events[name], out=self.exit_at)
        # per unit: the first time of each watched message event, and of its delivery (the if/then's time limit
        # runs from delivery)
        self.watched: dict[tuple[int, str], np.ndarray] = {
            (s.watch_step, e): np.full(n, NEVER, dtype=np.int64)
            for s in plan.steps if s.kind == Kind.IF_EVENT for e in (s.watch_event, "delivered")}
        self.term_outcome = np.zeros(n, dtype=np.int8)
        self.term_time = np.zeros(n, dtype=np.int64)
        # per member: the first conversion and unsubscribe the journey's messages caused (for the effect)
        members = len(units.member)
        self.caused = {"converted": np.full(members, NEVER, dtype=np.int64),
                       "unsubscribed": np.full(members, NEVER, dtype=np.int64)}

    # --- unit <-> contact -------------------------------------------------------------------------------
    def _members(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Member positions (into units.member) of units `u`, and for each the position of its unit in `u`
        (None when every unit has one member: then the i-th member belongs to the i-th unit)."""
        us = self.units
        if self.single:
            return u, None
        lo = take(us.start, u)
        counts = take(us.start, u + 1) - lo
        rep = np.repeat(np.arange(len(u)), counts)
        offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return offsets + np.arange(len(rep)), rep

    def _local(self, pos: np.ndarray) -> np.ndarray:
        """Chunk contact indexes of member positions."""
        return pos if self.units.identity else take(self.units.member, pos)

    def _per_unit_min(self, values: np.ndarray) -> np.ndarray:
        """The minimum over each unit's members of a value given per member (in member order)."""
        return values if self.single else np.minimum.reduceat(values, self.units.start[:-1])

    def _lower(self, target: np.ndarray, units: np.ndarray, values: np.ndarray) -> None:
        """target[units[i]] = min(target[units[i]], values[i]) (units may repeat when targeting accounts)."""
        if self.single:
            target[units] = np.minimum(take(target, units), values)
        else:
            np.minimum.at(target, units, values)

    def _member_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Population rows and entry times of every member."""
        us, ch = self.units, self.chunk
        entry = us.entry if self.single else take(us.entry, us.unit_of)
        return (ch.rows if us.identity else take(ch.rows, us.member)), entry

    def _member(self, segment: str, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Membership of population `rows` at `t`, the purchases the journey caused in this chunk counted."""
        world = self.ctx.world
        if world.feeds_back:
            bought, bought_at = self.chunk.purchases()
            if len(bought):
                return world.member_with(segment, rows, t, bought, bought_at)
        return world.member(segment, rows, t)

    # --- rows -------------------------------------------------------------------------------------------
    def _visits(self, step: int, u: np.ndarray, t_enter: np.ndarray, t_leave: np.ndarray,
                outcome: np.ndarray | int, contact_outcome: np.ndarray | None = None) -> None:
        if len(u) == 0:
            return
        pos, rep = self._members(u)
        o: np.ndarray | int = outcome
        if rep is not None:
            t_enter, t_leave = take(t_enter, rep), take(t_leave, rep)
            if not isinstance(outcome, int):
                o = take(outcome, rep)
        if contact_outcome is not None:
            o = contact_outcome
        self.out.visits(take(self.member_rows, pos), self.k, step, t_enter, t_leave, o)

    def _terminal(self, u: np.ndarray, t: np.ndarray, code: np.ndarray | int) -> None:
        self.term_outcome[u] = code
        self.term_time[u] = t

    # --- the steps --------------------------------------------------------------------------------------
    def run(self, cancel: CancelToken | None) -> None:
        plan = self.plan
        incoming: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(plan.end + 1)]
        incoming[plan.entry].append((np.arange(self.units.n), self.units.entry))
        for step in plan.steps:
            parts = incoming[step.index]
            if not parts:
                continue
            if cancel is not None and cancel.is_set():
                raise Cancelled("the simulation was cancelled")
            incoming[step.index] = []
            u, a = _joined(parts)
            for target, tu, ta in self._step(step, u, a):
                if len(tu):
                    incoming[target].append((tu, ta))
        if incoming[plan.end]:
            u, a = _joined(incoming[plan.end])
            self._visits(plan.end, u, a, a, COMPLETED)
            self._terminal(u, a, COMPLETED)
        self._unit_rows()

    def _step(self, step: StepPlan, u: np.ndarray, a: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        k = step.kind
        yes: np.ndarray | None = None
        if k == Kind.MESSAGE:
            leave = self._send_slot(u, a)
        elif k == Kind.WAIT_FOR:
            leave = a + step.seconds
        elif k == Kind.WAIT_UNTIL:
            leave = np.maximum(a, step.until)
        elif k == Kind.IF_EVENT:
            seen = take(self.watched[(step.watch_step, step.watch_event)], u)
            fallback = a + step.seconds  # see reference.event_limit
            delivered = take(self.watched[(step.watch_step, "delivered")], u)
            limit = np.where(delivered <= fallback, delivered + step.seconds, fallback)
            yes = seen <= limit
            leave = np.maximum(a, np.where(yes, seen, limit))
        else:
            leave = a
        x = take(self.exit_at, u)
        exited = x < leave
        exited &= x < self.cutoff
        ok = leave < self.cutoff
        ok &= ~exited
        if np.count_nonzero(ok) < len(u):
            self._leave_early(step, u, a, x, leave, exited, ok)
            u, a, leave = compress(ok, u), compress(ok, a), compress(ok, leave)
            yes = None if yes is None else compress(ok, yes)
            if len(u) == 0:
                return []
        if k == Kind.MESSAGE:
            self._message(step, u, a, leave)
        elif k in (Kind.IF_CONDITION, Kind.IF_SEGMENT):
            yes = self._test(step, u, a)
        elif k == Kind.SPLIT:
            return self._split(step, u, a)
        elif k == Kind.ACTION:
            codes: np.ndarray | None = None
            if step.per_account and not self.single:  # one activity per account: its first contact's
                pos, rep = self._members(u)
                assert rep is not None
                first = np.searchsorted(rep, np.arange(len(u)))
                codes = np.where(np.arange(len(pos)) == take(first, rep), DONE, SHARED).astype(np.int8)
            self._visits(step.index, u, a, leave, DONE, codes)
        elif k != Kind.IF_EVENT:
            self._visits(step.index, u, a, leave, PASSED)
        if yes is not None:
            self._visits(step.index, u, a, leave, np.where(yes, YES, NO).astype(np.int8))
            no = ~yes
            return [(step.next[0], compress(yes, u), compress(yes, leave)),
                    (step.next[1], compress(no, u), compress(no, leave))]
        return [(self.plan.end if k == Kind.EXIT else step.next[0], u, leave)]

    def _leave_early(self, step: StepPlan, u: np.ndarray, a: np.ndarray, x: np.ndarray, leave: np.ndarray,
                     exited: np.ndarray, ok: np.ndarray) -> None:
        """Rows for units that exit at this step, or are stopped here by the cutoff."""
        if exited.any():
            ue, xe = compress(exited, u), compress(exited, x)
            code: np.ndarray | int = EXITED
            if self.goal_exits:
                goal = take(self.events[self.plan.goal.name], ue)  # type: ignore[union-attr]
                code = np.where(goal <= xe, GOAL, EXITED).astype(np.int8)
            self._visits(step.index, ue, compress(exited, a), xe, code)
            self._terminal(ue, xe, code)
        stopped = ~(exited | ok)
        if stopped.any():
            us = compress(stopped, u)
            c = np.full(len(us), self.cutoff, dtype=np.int64)
            self._visits(step.index, us, compress(stopped, a), c, self.stop_code)
            self._terminal(us, c, self.stop_code)

    def _send_slot(self, u: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Arrival times deferred past the quiet hours, in each unit's local time (its first contact's zone)."""
        plan = self.plan
        if plan.quiet is None:
            return a
        qs, qe = plan.quiet
        first = u if self.single else take(self.units.start, u)
        zone = take(self.chunk.zone, self._local(first))
        table = self.ctx.offsets
        off = table.offsets(zone, a)
        sod = a + off
        sod %= DAY
        inside = (sod >= qs) & (sod < qe) if qs < qe else (sod >= qs) | (sod < qe)
        where = np.flatnonzero(inside)
        if where.size == 0:
            return a
        s = a.copy()
        ai, oi, zi = take(a, where), take(off, where), take(zone, where)
        t1 = ai + (qe - take(sod, where)) % DAY
        s[where] = t1 - (table.offsets(zi, t1) - oi)  # the quiet end is local: follow a change of offset
        return s

    def _message(self, step: StepPlan, u: np.ndarray, a: np.ndarray, send: np.ndarray) -> None:
        ctx, ch, plan = self.ctx, self.chunk, self.plan
        pos, rep = self._members(u)
        local = self._local(pos)  # chunk contact of each member
        s = send if rep is None else take(send, rep)
        ci = CHANNELS.index(step.channel or "")
        blocked = take(ch.blocked[ci], local) <= s  # opted out of the channel, or a hard bounce there
        if plan.audience.suppress is not None:
            blocked |= self._member(plan.audience.suppress, take(ch.rows, local), s)
        codes = np.where(blocked, SUPPRESSED, SENT).astype(np.int8)
        if plan.cap is not None:
            assert ch.ring is not None and ch.ring_pos is not None
            limit, per = plan.cap
            slot = local * limit + take(ch.ring_pos, local)
            capped = ~blocked & (take(ch.ring.ravel(), slot) > s - per)
            codes[capped] = CAPPED
        if ctx.caps is not None and ci in ctx.caps.limits:
            self._project_cap(ci, local, s, codes)
        self._visits(step.index, u, a, send, PASSED, codes)
        sent = codes == SENT
        if np.count_nonzero(sent) < len(codes):
            local, s, pos = compress(sent, local), compress(sent, s), compress(sent, pos)
            unit = compress(sent, u if rep is None else take(u, rep))
        else:
            unit = u if rep is None else take(u, rep)
        if len(local) == 0:
            return
        if plan.cap is not None:
            assert ch.ring is not None and ch.ring_pos is not None
            ch.ring.ravel()[local * plan.cap[0] + take(ch.ring_pos, local)] = s
            ch.ring_pos[local] = (take(ch.ring_pos, local) + 1) % plan.cap[0]
        if ci in ch.cap_ring:  # remember the send for the project's cap (the contact's last few on the channel)
            ring, at = ch.cap_ring[ci], ch.cap_pos[ci]
            ring.ravel()[local * ring.shape[1] + take(at, local)] = s
            at[local] = (take(at, local) + 1) % ring.shape[1]
        b = ctx.behaviour.for_step(step.id, step.channel or "")
        ev = message_events(b, ctx.seed, self.k, step.key, take(ch.keys, local), s, ch.mods, local, len(step.links))
        self.out.messages(take(self.member_rows, pos), self.k, step.index, s,
                          {"delivered": ev.delivered, "opened": ev.opened, "clicked": ev.clicked,
                           "unsubscribed": ev.unsubscribed, "converted": ev.converted})
        if ctx.world.feeds_back:  # a purchase the journey caused: segments built on purchases see it
            hit = np.flatnonzero(ev.converted < NEVER)
            if hit.size:
                ch.bought.append(take(ch.rows, take(local, hit)))
                ch.bought_at.append(take(ev.converted, hit))
        for name in ("converted", "unsubscribed"):  # what the journey caused, per member
            vals = ev.get(name)
            hit = np.flatnonzero(vals < NEVER)
            if hit.size:
                ph = take(pos, hit)
                self.caused[name][ph] = np.minimum(take(self.caused[name], ph), take(vals, hit))
        for lost in (ev.unsubscribed, ev.hard_bounced):  # the channel cannot reach them again (few: only those)
            hit = np.flatnonzero(lost < NEVER)
            if hit.size:
                li = take(local, hit)
                ch.blocked[ci, li] = np.minimum(ch.blocked[ci, li], take(lost, hit))
        changed = []
        for field, name in self.tracked.items():
            vals = ev.get(field)
            hit = np.flatnonzero(vals < NEVER)
            if hit.size:
                uh = take(unit, hit)
                self._lower(self.events[name], uh, take(vals, hit))
                changed.append(uh)
        for (ws, we), arr in self.watched.items():
            if ws == step.index:
                vals = ev.watched(we, step.link_index(we))
                hit = np.flatnonzero(vals < NEVER)
                self._lower(arr, take(unit, hit), take(vals, hit))
        if changed:
            uc = np.concatenate(changed)
            x = take(self.exit_at, uc)
            for name in self.exit_names:
                np.minimum(x, take(self.events[name], uc), out=x)
            self.exit_at[uc] = x

    def _project_cap(self, ci: int, local: np.ndarray, s: np.ndarray, codes: np.ndarray) -> None:
        """Mark CAPPED the sends the project's cap on channel `ci` holds back: the contact had `messages` sends
        there in (s - per, s] already, counting the other journeys' (OtherSends: ties by priority) and this
        journey's own earlier ones (the chunk's ring)."""
        caps = self.ctx.caps
        assert caps is not None
        limit, per = caps.limits[ci]
        todo = np.flatnonzero(codes == SENT)
        if todo.size == 0:
            return
        lt, st = take(local, todo), take(s, todo)
        seen = np.zeros(len(todo), dtype=np.int64)
        others = caps.others.get(ci)
        if others is not None:
            seen += others.count(take(self.chunk.rows, lt), st - per, st)
        ring = self.chunk.cap_ring.get(ci)
        if ring is not None:
            seen += np.count_nonzero(take(ring, lt, axis=0) > (st - per)[:, None], axis=1)
        codes[compress(seen >= limit, todo)] = CAPPED

    def _test(self, step: StepPlan, u: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Condition or segment at arrival, per unit: yes if any member passes."""
        pos, rep = self._members(u)
        rows = take(self.chunk.rows, self._local(pos))
        at = a if rep is None else take(a, rep)
        if step.kind == Kind.IF_SEGMENT:
            hit = self._member(step.segment or "", rows, at)
        else:
            hit = _condition(self.ctx, step, rows, at)
        if rep is None:
            return hit
        yes = np.zeros(len(u), dtype=bool)
        np.logical_or.at(yes, rep, hit)
        return yes

    def _split(self, step: StepPlan, u: np.ndarray, a: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        us, seed = self.units, self.ctx.seed
        by_acc = take(us.by_account, u)
        keys = take(us.key, u)
        draw = np.empty(len(u))
        for flag, purpose in ((False, SPLIT), (True, SPLIT_ACCOUNT)):
            sel = by_acc == flag
            if sel.all():
                draw = uniform(hash_keys(keys, stream(seed, step.key, purpose)))
            elif sel.any():
                draw[sel] = uniform(hash_keys(compress(sel, keys), stream(seed, step.key, purpose)))
        path = np.searchsorted(np.array(step.thresholds), draw, side="right")
        held = path >= len(step.thresholds)
        if step.route >= 0 and step.ab is not None:  # a decided A/B test: later arrivals take the chosen path
            path[(a >= step.ab.decide_at) & ~held] = step.route
        codes = np.where(held, HOLDOUT, PATH_BASE + path).astype(np.int8)
        self._visits(step.index, u, a, a, codes)
        if held.any():
            self._terminal(compress(held, u), compress(held, a), HOLDOUT)
        out = []
        for i in range(len(step.thresholds)):
            sel = path == i
            out.append((step.next[i], compress(sel, u), compress(sel, a)))
        return out

    def _unit_rows(self) -> None:
        us = self.units
        goal = self.events[self.plan.goal.name] if self.plan.goal else np.full(us.n, NEVER, dtype=np.int64)
        g = np.where(goal < self.plan.goal_deadline(us.entry, self.cutoff), goal, NEVER)  # left or not
        rows, entry = self._member_rows()
        started = time.perf_counter()
        with_j, without_j = effect_bits(self.ctx.world, rows, entry, self.plan.goal_deadline(entry, self.cutoff),
                                        self.k, self.caused, self.own)
        self.ctx.twin_seconds += time.perf_counter() - started
        if self.single:
            self.out.units(self.member_rows, self.k, us.entry, self.term_time, self.term_outcome, g, with_j,
                           without_j)
        else:
            of = us.unit_of
            self.out.units(self.member_rows, self.k, take(us.entry, of), take(self.term_time, of),
                           take(self.term_outcome, of), take(g, of), with_j, without_j)


def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _condition(ctx: Context, step: StepPlan, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """An if/then condition for contacts `rows` at times `at` (vectorised; text through each distinct value)."""
    cond = step.condition
    assert cond is not None
    col = ctx.pop.attribute(cond.attribute)
    if col is None:
        raise KeyError(f"the population has no attribute '{cond.attribute}' (if/then '{step.id}')")
    if isinstance(col, CategoryColumn):
        table = np.array([condition_holds(cond, v, 0) for v in col.values] + [condition_holds(cond, None, 0)])
        codes = take(col.codes, rows)
        return take(table, np.where(codes >= 0, codes, len(col.values)))
    v = take(col, rows)
    present = ~np.isnan(v)
    op, ref = cond.op, cond.value
    if op == "contains_data":
        return present
    if op == "does_not_contain_data":
        return ~present
    if op in ("in_last_days", "not_in_last_days"):
        inside = (at - float(ref) * DAY <= v) & (v <= at)
        return present & (inside if op == "in_last_days" else ~inside)
    if op == "between":
        lo, hi = (_number(r) for r in ref)
        if lo is None or hi is None:
            return np.zeros(len(v), dtype=bool)
        return present & (v >= lo) & (v <= hi)
    r = _number(ref)
    if r is None:
        return np.zeros(len(v), dtype=bool)
    with np.errstate(invalid="ignore"):
        test = {"equals": np.equal, "not_equals": np.not_equal, "less_than": np.less, "at_most": np.less_equal,
                "greater_than": np.greater, "at_least": np.greater_equal}[op](v, r)
    return present & test


def run_iteration(ctx: Context, chunk: Chunk, units: Units, k: int, out: TraceBuilder,
                  cancel: CancelToken | None) -> None:
    """Push the units of one chunk through one iteration, writing their rows to `out`."""
    _Iteration(ctx, chunk, units, k, out).run(cancel)
