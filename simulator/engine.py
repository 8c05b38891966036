"""The vectorised engine: whole cohorts per step with NumPy, in chunks of contacts to bound memory.

The population is cut into chunks (whole accounts stay together when targeting accounts); for each chunk and
each iteration, the contacts that enter are grouped into units and pushed through the steps in topological
order (cohorts.py). A contact's state that outlives an iteration (its unsubscribe time, its recent sends for
the frequency cap) is kept per chunk. Chunks are independent, so the results do not depend on the chunk size
except for the order of trace rows; the chunk size is part of a run's inputs all the same.

Entry rules are those of reference_run.py (the oracle), written here over arrays. Both read one `World`
(simulator.world): the calibrated behaviour, the contacts' background events and the segments over time.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Callable, Protocol

import numpy as np

from simulator.behaviour import BehaviourModel, Modifiers, contact_modifiers
from app.semantics.draws import NEVER
from simulator.memory import keep_freed_memory
from simulator.metrics import Tally, tally
from app.semantics.plan import Plan
from app.semantics.reference import CHANNELS
from simulator.population import Population
from app.semantics.timezones import OffsetTable
from simulator.trace import Trace, TraceBuilder
from simulator.world import World, build_world, first_in_range, offset_table

DEFAULT_CHUNK = 125_000  # contacts per chunk: arrays stay in cache and memory is reused (measured best)
ENGINE_VERSION = "3"  # 2: segments from their definitions over time, calibrated figures, the twin; 3: the
# seeds' meanings: if/then limits from delivery, hard bounces and opt-outs per channel
Progress = Callable[[float, str], None]
# threads that run chunks at once (JOURNEY_STUDIO_SIM_THREADS sets it; 1 runs them one after the other)
WORKERS = max(1, int(os.environ.get("JOURNEY_STUDIO_SIM_THREADS") or min(2, os.cpu_count() or 1)))


class CancelToken(Protocol):
    """Anything with is_set() (a threading.Event will do)."""

    def is_set(self) -> bool: ...


class Cancelled(Exception):
    """The run was cancelled through its cancel token."""


@dataclass(frozen=True)
class OtherSends:
    """Other journeys' sends on one channel, as sorted keys `row << 32 | (time - base)` (population row, UTC
    seconds): `first` of journeys that go before this one at equal times (higher priority), `later` of those
    that go after it."""

    first: np.ndarray
    later: np.ndarray
    base: int

    def count(self, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per contact: the sends with lo < t <= hi from `first` and lo < t < hi from `later`."""
        hi_rel = np.clip(hi - self.base, 0, (1 << 32) - 1)
        lo_rel = np.clip(lo - self.base, 0, (1 << 32) - 1)
        key_lo = (rows.astype(np.int64) << 32) | lo_rel
        key_hi = (rows.astype(np.int64) << 32) | hi_rel
        n = np.searchsorted(self.first, key_hi, side="right") - np.searchsorted(self.first, key_lo, side="right")
        n += np.searchsorted(self.later, key_hi, side="left") - np.searchsorted(self.later, key_lo, side="right")
        return n


@dataclass(frozen=True)
class CapInput:
    """The project's frequency caps as one journey of a portfolio meets them (simulator/portfolio.py): per channel
    index (app.semantics.reference.CHANNELS), (messages, per seconds) and the other journeys' sends there. A send
    goes only when the contact had fewer than `messages` sends on the channel in the trailing window (t - per, t]
    from every journey: the others' (`OtherSends`) and this journey's own earlier ones."""

    limits: dict[int, tuple[int, int]]
    others: dict[int, OtherSends]
    ring: dict[int, int] = field(default_factory=dict)  # channel -> how many own sends a contact's ring keeps


@dataclass
class Context:
    """What every chunk of a run shares."""

    plan: Plan
    pop: Population
    behaviour: BehaviourModel  # calibrated (world.behaviour)
    seed: int
    offsets: OffsetTable
    journey_zone: int  # row of the journey's time zone in `offsets`
    world: World
    twin_seconds: float = 0.0  # time spent on the paired twin (the effect events without the journey)
    caps: CapInput | None = None  # the project's frequency caps across journeys (a portfolio's; None: none)


@dataclass
class Chunk:
    """Contacts of one chunk (population `rows`) and their state that outlives an iteration."""

    rows: np.ndarray
    rows32: np.ndarray  # the same, as the trace stores them
    keys: np.ndarray
    zone: np.ndarray
    mods: Modifiers
    blocked: np.ndarray  # (channels, contacts): from when each channel cannot reach the contact
    ring: np.ndarray | None  # the last `cap` send times per contact (frequency cap)
    ring_pos: np.ndarray | None
    # the project's caps (Context.caps): per channel index, the contact's last own send times on it, and where
    # the next goes
    cap_ring: dict[int, np.ndarray] = field(default_factory=dict)
    cap_pos: dict[int, np.ndarray] = field(default_factory=dict)
    contiguous: bool = False  # rows[i] == rows[0] + i (and there are rows)
    bought: list[np.ndarray] = field(default_factory=list)  # population rows that bought through the journey
    bought_at: list[np.ndarray] = field(default_factory=list)  # ... and when

    def purchases(self) -> tuple[np.ndarray, np.ndarray]:
        """The journey's own purchases so far in this chunk: (population rows, times)."""
        if not self.bought:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(self.bought) > 1:
            self.bought, self.bought_at = [np.concatenate(self.bought)], [np.concatenate(self.bought_at)]
        return self.bought[0], self.bought_at[0]


@dataclass
class Units:
    """Units entering one iteration: their entry times and members (local contact indexes, grouped by unit)."""

    entry: np.ndarray
    member: np.ndarray
    start: np.ndarray  # member offsets per unit (n + 1)
    unit_of: np.ndarray  # unit of each member
    key: np.ndarray  # draw key per unit for splits: the account id, or the contact id
    by_account: np.ndarray  # whether `key` is an account id
    single: bool  # every unit has one member (a fast path)
    identity: bool = False  # single, and every contact of the chunk entered: member[i] == i

    @property
    def n(self) -> int:
        return len(self.entry)

    def first(self) -> np.ndarray:
        """The first member (lowest population row) of each unit."""
        return self.member[self.start[:-1]]


def run(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int, *, chunk_size: int = DEFAULT_CHUNK,
        progress: Progress | None = None, cancel: CancelToken | None = None, world: World | None = None,
        caps: CapInput | None = None) -> Trace:
    """Simulate the population through the journey; the trace holds every step each contact took.

    `world` is the run's world (made here from the inputs when not given; simulator.world); `caps` the project's
    frequency caps with the other journeys' sends (a portfolio's; None: no cap across journeys)."""
    with keep_freed_memory():
        if world is None:
            world = build_world(plan, pop, behaviour, seed)
        return _run(plan, pop, world, seed, chunk_size, progress, cancel, caps)


def _run(plan: Plan, pop: Population, world: World, seed: int, chunk_size: int,
         progress: Progress | None, cancel: CancelToken | None, caps: CapInput | None = None) -> Trace:
    same = world.pop is pop and (world.plan.start, world.plan.horizon, world.plan.timezone) == \
        (plan.start, plan.horizon, plan.timezone)
    offsets = world.offsets if world.offsets is not None and same else offset_table(plan, pop)
    ctx = Context(plan, pop, world.behaviour, seed, offsets, len(pop.timezones), world, caps=caps)
    out = TraceBuilder(plan, capacity=len(pop))
    order = _order(plan, pop)
    bounds = _chunk_bounds(plan, pop, order, max(1, chunk_size))
    steps = max(1, len(bounds) * len(plan.iterations))
    twin = busy = 0.0
    total: Tally | None = None

    meta = {"engine": "vectorised", "engine_version": ENGINE_VERSION, "seed": seed, "chunk_size": chunk_size,
            "effect_events": list(world.effect_events)}

    def one(lo: int, hi: int) -> tuple[TraceBuilder, Tally, float, float]:
        """Chunk [lo, hi) of the order into a trace of its own: (its rows, their counts, its twin's seconds, its
        seconds)."""
        started = time.perf_counter()
        mine = replace(ctx, twin_seconds=0.0)
        rows = TraceBuilder(plan, capacity=hi - lo)
        chunk = _chunk(mine, order[lo:hi] if order is not None else np.arange(lo, hi, dtype=np.int64))
        for k in range(len(plan.iterations)):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the simulation was cancelled")
            units = enter_units(mine, chunk, k)
            if units.n:
                _run_iteration(mine, chunk, units, k, rows, cancel)
        return rows, tally(rows.finish(meta)), mine.twin_seconds, time.perf_counter() - started

    # chunks are independent: WORKERS threads run them (NumPy lets go of the interpreter inside its loops), and
    # their rows are appended in chunk order, so the trace is the same bit for bit whatever the number of threads
    started = time.perf_counter()
    # A few chunks run ahead of the one appended, and a chunk's rows are let go once appended (a finished future
    # holds its result: kept in a list, every chunk's rows stayed alive to the end, the trace twice over)
    workers = min(WORKERS, len(bounds)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[tuple[TraceBuilder, Tally, float, float]]] = deque()
        ahead = iter(bounds)
        try:
            for i, (_, hi) in enumerate(bounds):
                for lo_next, hi_next in islice(ahead, max(0, 2 * workers - len(pending))):
                    pending.append(pool.submit(one, lo_next, hi_next))
                rows, counts, chunk_twin, chunk_seconds = pending.popleft().result()
                out.extend(rows)
                total = counts if total is None else total.add(counts)
                del rows
                twin, busy = twin + chunk_twin, busy + chunk_seconds
                if progress is not None:
                    progress((i + 1) * len(plan.iterations) / steps, f"contacts {hi:,} of {len(pop):,}")
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    wall = time.perf_counter() - started
    trace = out.finish(meta)
    trace.tally = total  # the figures' counts, added up chunk by chunk (simulator.metrics.figures reads them)
    trace.timings["twin"] = twin * wall / busy if busy > 0 else twin  # the twin's share of the chunks' wall time
    return trace


def _run_iteration(ctx: Context, chunk: Chunk, units: Units, k: int, out: TraceBuilder,
                   cancel: CancelToken | None) -> None:
    from simulator.cohorts import run_iteration  # the step logic lives there (it imports this module)
    run_iteration(ctx, chunk, units, k, out, cancel)


def _order(plan: Plan, pop: Population) -> np.ndarray | None:
    """Population rows in processing order by account (then row) when targeting accounts; None: as they are."""
    if not plan.accounts:
        return None
    return np.lexsort((np.arange(len(pop)), pop.account_id)).astype(np.int64)


def _chunk_bounds(plan: Plan, pop: Population, order: np.ndarray | None, size: int) -> list[tuple[int, int]]:
    n = len(pop)
    cuts = list(range(0, n, size)) + [n]
    if order is not None and n:  # move each cut forward to the start of an account's run of contacts
        acc = pop.account_id[order]
        fixed = [0]
        for c in cuts[1:-1]:
            while c < n and acc[c] >= 0 and acc[c] == acc[c - 1]:
                c += 1
            if c > fixed[-1]:
                fixed.append(c)
        cuts = fixed + ([n] if fixed[-1] != n else [])
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _chunk(ctx: Context, rows: np.ndarray) -> Chunk:
    plan, pop = ctx.plan, ctx.pop
    # targeting contacts, a chunk's rows follow one another (_order): its columns are slices, not gathers
    contiguous = not plan.accounts and len(rows) > 0
    span = slice(int(rows[0]), int(rows[0]) + len(rows)) if contiguous else None

    def gather(column: np.ndarray) -> np.ndarray:
        return column[span] if span is not None else np.take(column, rows)
    tz = gather(pop.tz).astype(np.int64)
    zone = np.where(tz < 0, ctx.journey_zone, tz)
    # a chunk's messages read odds only (event rates come from the world): each figure is worked out when
    # asked, for the contacts it is asked for (a quarter of a chunk often enters), or once for most of them
    mods = contact_modifiers(ctx.behaviour, pop, rows, (), plan.start, ctx.world.member, eager=False)
    ring = pos = None
    if plan.cap is not None:
        ring = np.full((len(rows), plan.cap[0]), -NEVER, dtype=np.int64)
        pos = np.zeros(len(rows), dtype=np.int64)
    chunk = Chunk(rows, rows.astype(np.int32), gather(pop.contact_id), zone, mods,
                  np.full((len(CHANNELS), len(rows)), NEVER, dtype=np.int64), ring, pos, contiguous=contiguous)
    if ctx.caps is not None:
        for ci, size in ctx.caps.ring.items():
            chunk.cap_ring[ci] = np.full((len(rows), size), -NEVER, dtype=np.int64)
            chunk.cap_pos[ci] = np.zeros(len(rows), dtype=np.int64)
    return chunk


def enter_units(ctx: Context, chunk: Chunk, k: int) -> Units:
    """Who enters iteration `k` and when, grouped into units."""
    plan, pop = ctx.plan, ctx.pop
    aud = plan.audience
    rows = chunk.rows
    begin = plan.iterations[k][0]
    cutoff = plan.cutoff(k)[0]
    ok = np.take(pop.consent, rows) >= aud.min_consent
    audience = ctx.world.audience
    if audience is None:
        t = np.full(len(rows), begin, dtype=np.int64)
    elif plan.frequency == "ongoing":  # when each contact first is in the audience (joins it)
        t = first_in_range(audience, int(rows[0]), int(rows[0]) + len(rows), begin) \
            if chunk.contiguous and len(rows) else audience.first_at_or_after(rows, begin)
    else:
        inside = audience.member_at(rows, begin)
        if k > 0 and ctx.world.feeds_back:  # a later repetition: the purchases the journey caused count too
            bought, bought_at = chunk.purchases()
            if len(bought):
                inside = ctx.world.audience_with(rows, begin, bought, bought_at)
        t = np.where(inside, begin, NEVER)
    ok &= t < cutoff
    idx = np.flatnonzero(ok)
    t = np.take(t, idx)
    if not plan.accounts:
        n = len(idx)
        everyone = n == len(rows)
        return Units(t, idx, np.arange(n + 1), idx, chunk.keys if everyone else np.take(chunk.keys, idx),
                     np.zeros(n, bool), True, everyone)
    acc = np.take(pop.account_id, np.take(rows, idx))
    new = np.ones(len(idx), dtype=bool)
    new[1:] = (acc[1:] != acc[:-1]) | (acc[1:] < 0)
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    first_t = np.minimum.reduceat(t, starts) if len(idx) else t
    keep = t == first_t[group]  # the account's contacts that enter at its first entry time
    idx, group, acc = idx[keep], group[keep], acc[keep]
    counts = np.bincount(group, minlength=len(starts))
    start = np.concatenate(([0], np.cumsum(counts)))
    heads = start[:-1]
    by_account = acc[heads] >= 0
    key = np.where(by_account, acc[heads], chunk.keys[idx[heads]])
    return Units(first_t, idx, start, group, key, by_account, bool((counts == 1).all()))
