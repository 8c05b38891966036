"""Invariants of every run, on random journeys: conservation, determinism, who may get messages, time bounds,
quiet hours, the frequency cap, and accounts moving together."""

from __future__ import annotations

from collections import defaultdict
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.model.journey import Journey
from app.semantics import outcomes as oc
from simulator.behaviour import BehaviourModel
from simulator.engine import run
from app.semantics.plan import Kind, Plan, compile_plan
from simulator.population import Population
from app.semantics.timezones import utc_offset
from simulator.trace import Trace
from simulator.world import World, build_world
from tests.test_sim_strategies import behaviours, journeys, population

DAY = 86_400
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _next_step(plan: Plan, step: int, outcome: int) -> int:
    """Where a non-terminal outcome at a step leads."""
    s = plan.steps[step]
    if s.kind == Kind.EXIT:
        return plan.end
    if outcome == oc.YES:
        return s.next[0]
    if outcome == oc.NO:
        return s.next[1]
    if oc.PATH_BASE <= outcome < oc.PATH_BASE + 10:
        return s.next[outcome - oc.PATH_BASE]
    return s.next[0]


def check_conservation(plan: Plan, tr: Trace) -> None:
    """Every contact entering an iteration follows one unbroken path and ends in exactly one place."""
    v, u = tr.visits, tr.units
    keys = list(zip(u["contact"].tolist(), u["iteration"].tolist()))
    assert len(set(keys)) == len(keys), "a contact entered an iteration twice"
    order = np.lexsort((v["step"], v["iteration"], v["contact"]))  # steps only lead forward: path order
    rows = list(zip(*(v[c][order].tolist() for c in ("contact", "iteration", "step", "t_enter", "t_leave",
                                                     "outcome"))))
    paths: dict[tuple[int, int], list[tuple[int, ...]]] = defaultdict(list)
    for r in rows:
        paths[(r[0], r[1])].append(r)
    assert set(paths) == set(keys), "visits and units disagree on who entered"
    unit = {k: (e, left, o) for k, e, left, o in zip(keys, u["entered"].tolist(), u["left"].tolist(),
                                                     u["outcome"].tolist())}
    for key, path in paths.items():
        entered, left, outcome = unit[key]
        assert path[0][2] == plan.entry and path[0][3] == entered
        terminal = [r for r in path if r[5] in oc.TERMINAL]
        assert len(terminal) == 1 and terminal[0] is path[-1], f"{key}: not exactly one end: {path}"
        assert (terminal[0][4], terminal[0][5]) == (left, outcome)
        for a, b in zip(path, path[1:]):
            assert a[4] == b[3], f"{key}: a gap between steps {a} -> {b}"
            assert b[2] == _next_step(plan, a[2], a[5]), f"{key}: {a} does not lead to {b}"
            assert a[3] <= a[4]
        if outcome == oc.COMPLETED:
            assert path[-1][2] == plan.end


def check_messages_allowed(plan: Plan, pop: Population, world: World, tr: Trace) -> None:
    """Every contact entering is in the audience then (its segments, not excluded, enough consent); no message
    to a contact suppressed or unsubscribed at send time."""
    m, u = tr.messages, tr.units
    contacts = m["contact"].astype(np.int64)
    sent = tr.absolute(m["sent"])
    assert (pop.consent[u["contact"]] >= plan.audience.min_consent).all()
    entered = tr.absolute(u["entered"])
    who = u["contact"].astype(np.int64)
    for seg in plan.audience.exclude:
        assert not world.member(seg, who, entered).any()
    bought = m["converted"] >= 0  # purchases the journey caused feed back into segments built on purchases
    bought_rows, bought_at = contacts[bought], tr.absolute(m["converted"])[bought]

    def member(seg: str) -> np.ndarray:
        if world.feeds_back and len(bought_rows):
            return world.member_with(seg, who, entered, bought_rows, bought_at)
        return world.member(seg, who, entered)

    if plan.audience.segments:
        hits = [member(seg) for seg in plan.audience.segments]
        inside = np.logical_or.reduce(hits) if plan.audience.combine == "union" else np.logical_and.reduce(hits)
        assert inside.all(), "a contact entered while not in the audience"
    if plan.audience.suppress:
        assert not world.member(plan.audience.suppress, contacts, sent).any()
    # opt-outs are per channel: an unsubscribe from an email stops email, an SMS STOP stops texts
    channel = [plan.steps[s].channel for s in m["step"].tolist()]
    first_unsub: dict[tuple[int, str | None], int] = {}
    for c, ch, t in zip(contacts.tolist(), channel, tr.absolute(m["unsubscribed"]).tolist()):
        if t >= 0:
            first_unsub[(c, ch)] = min(first_unsub.get((c, ch), t), t)
    for c, ch, t in zip(contacts.tolist(), channel, sent.tolist()):
        assert t < first_unsub.get((c, ch), 1 << 62), "a message on a channel the contact had opted out of"


def check_effect(plan: Plan, tr: Trace) -> None:
    """The twin: the journey adds events (its conversions and unsubscribes) to the contacts' own, never removes
    one; a goal reached on the journey is a goal event with the journey."""
    w, wo = tr.units["effect_with"], tr.units["effect_without"]
    assert ((wo & ~w) == 0).all(), "an event of a contact's own vanished with the journey"
    if plan.goal is not None and not plan.accounts:  # (an account's goal is the first of any of its contacts)
        assert tr.meta["effect_events"][0] == plan.goal.name
        reached = tr.units["goal"] >= 0
        assert ((w[reached] & 1) != 0).all(), "a goal reached that the run with the journey does not count"


def check_time_bounds(plan: Plan, tr: Trace) -> None:
    """Nothing before the start of an iteration; nothing entered at or after its cutoff; nothing left after it."""
    v = tr.visits
    for k in range(len(plan.iterations)):
        rows = v["iteration"] == k
        begin = plan.iterations[k][0] - plan.start
        cutoff = plan.cutoff(k)[0] - plan.start
        assert (v["t_enter"][rows] >= begin).all()
        assert (v["t_enter"][rows] < cutoff).all()
        assert (v["t_leave"][rows] <= cutoff).all()
        sent = tr.messages["sent"][tr.messages["iteration"] == k]
        assert ((sent >= begin) & (sent < cutoff)).all()


def _unit_heads(plan: Plan, pop: Population, tr: Trace) -> dict[tuple[int, int], int]:
    """Per (contact, iteration): the contact whose time zone its unit uses (itself, or its account's first)."""
    u = tr.units
    heads: dict[tuple[int, int], int] = {}
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for c, k, e in zip(u["contact"].tolist(), u["iteration"].tolist(), u["entered"].tolist()):
        acc = int(pop.account_id[c])
        if plan.accounts and acc >= 0:
            groups[(acc, k, e)].append(c)
        else:
            heads[(c, k)] = c
    for (_, k, _), members in groups.items():
        for c in members:
            heads[(c, k)] = min(members)
    return heads


def check_quiet_hours(plan: Plan, pop: Population, tr: Trace) -> None:
    """No message is sent inside the quiet hours, in the local time the journey uses for its recipient."""
    if plan.quiet is None:
        return
    qs, qe = plan.quiet
    heads = _unit_heads(plan, pop, tr)
    m = tr.messages
    for c, k, t in zip(m["contact"].tolist(), m["iteration"].tolist(), tr.absolute(m["sent"]).tolist()):
        z = int(pop.tz[heads[(c, k)]])
        zone = pop.timezones[z] if z >= 0 else plan.timezone
        sod = (t + utc_offset(zone, t)) % DAY
        inside = qs <= sod < qe if qs < qe else (sod >= qs or sod < qe)
        assert not inside, f"contact {c} was sent a message at local second {sod} of the day, in quiet hours"


def check_cap(plan: Plan, tr: Trace) -> None:
    """At most `messages` sends per contact within any `per`."""
    if plan.cap is None:
        return
    limit, per = plan.cap
    sends: dict[int, list[int]] = defaultdict(list)
    for c, t in zip(tr.messages["contact"].tolist(), tr.messages["sent"].tolist()):
        sends[c].append(t)
    for times in sends.values():
        times.sort()
        for i in range(limit, len(times)):
            assert times[i] - times[i - limit] >= per, "the frequency cap was exceeded"


def check_accounts(plan: Plan, pop: Population, tr: Trace) -> None:
    """Targeting accounts: an account's contacts take one path (same steps, times and branch outcomes), and
    one activity per account at a task, lead or workflow step."""
    if not plan.accounts:
        return
    heads = _unit_heads(plan, pop, tr)
    v = tr.visits
    per_unit: dict[tuple[int, int], dict[int, list[tuple[int, ...]]]] = defaultdict(dict)
    for c, k, s, a, b, o in zip(*(v[x].tolist() for x in ("contact", "iteration", "step", "t_enter", "t_leave",
                                                         "outcome"))):
        per_unit[(heads[(c, k)], k)].setdefault(c, []).append((s, a, b, o))
    flow = {oc.YES, oc.NO, oc.HOLDOUT, *range(oc.PATH_BASE, oc.PATH_BASE + 10)}
    for members in per_unit.values():
        shapes = {tuple((s, a, b, o if o in flow or o in oc.TERMINAL else -1) for s, a, b, o in sorted(p))
                  for p in members.values()}
        assert len(shapes) == 1, "contacts of one account took different paths"
        for step in plan.steps:
            if step.per_account:
                done = sum(1 for p in members.values() for s, _, _, o in p if s == step.index and o == oc.DONE)
                assert done <= 1, "more than one activity for an account"


@SETTINGS
@given(journeys(), st.integers(0, 10_000), behaviours, st.one_of(st.none(), st.integers(1, 15 * DAY)))
def test_invariants(j: Journey, seed: int, behaviour: BehaviourModel, horizon: int | None) -> None:
    plan = compile_plan(j)
    if horizon is not None:
        plan = compile_plan(j, horizon=plan.start + horizon)
    pop = population(300, seed, j)
    world = build_world(plan, pop, behaviour, seed)
    tr = run(plan, pop, behaviour, seed, chunk_size=128, world=world)
    check_conservation(plan, tr)
    check_messages_allowed(plan, pop, world, tr)
    check_effect(plan, tr)
    check_time_bounds(plan, tr)
    check_quiet_hours(plan, pop, tr)
    check_cap(plan, tr)
    check_accounts(plan, pop, tr)


@settings(max_examples=15, deadline=None)
@given(journeys(), st.integers(0, 10_000), behaviours)
def test_determinism(j: Journey, seed: int, behaviour: BehaviourModel) -> None:
    """The same inputs give the same trace bit for bit; the chunk size only reorders rows."""
    plan = compile_plan(j)
    pop = population(200, seed, j)
    a = run(plan, pop, behaviour, seed, chunk_size=64)
    b = run(plan, population(200, seed, j), behaviour, seed, chunk_size=64)
    assert a.digest() == b.digest()
    c = run(plan, pop, behaviour, seed, chunk_size=1000)
    assert all(a.rows(t) == c.rows(t) for t in ("visits", "messages", "units"))
    d = run(plan, pop, behaviour, seed + 1, chunk_size=64)
    if len(a.messages["sent"]) > 20:
        assert a.digest() != d.digest(), "another seed should draw other behaviour"
