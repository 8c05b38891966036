"""The replay's frames agree with counting the trace row by row; per-step daily intervals agree with the replicas."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import pytest

from app.codec.yamlio import read_journey_file, read_journey_text
from app.model.journey import Frequency, Journey, Schedule, Step, Trigger
from app.model.registry import END
from app.resources import resource_path
from app.semantics import outcomes as oc
from simulator.behaviour import BehaviourModel
from app.semantics.draws import derive_seed
from simulator.engine import run
from simulator.metrics import DAY, FUNNEL_OUTCOMES, SERIES, STEP_OUTCOMES, funnel, step_series, waiting_at
from app.semantics.plan import Plan, compile_plan
from simulator.population import population_for
from simulator.replay import Replay
from simulator.replicas import SimulationResult, simulate, summarize, t975
from simulator.runs import RunRecord
from simulator.trace import MESSAGE_EVENTS, Trace
from tests.samples import ANNOUNCEMENT

START = datetime(2027, 1, 11, 9, 0)
SPLITS = ("ab-split", "random-split")


def _template(name: str) -> Journey:
    return read_journey_file(resource_path("templates", f"{name}.yaml"))[0]


def _branchy() -> Journey:
    """Every kind of step: A/B split with a holdout, emails, an if/then on a condition, an exit tile, a
    three-way random split, a wait for a duration and one until a date, a push, a task; exit on a purchase."""
    j = Journey("b", "Branchy", schedule=Schedule(START, START + timedelta(days=20), "Europe/Paris"),
                goal=Trigger(event="purchase"), exit_when=(Trigger(event="purchase"),))
    for s in (
        Step("ab", "ab-split", "Subject test", props={"split": (45, 45), "holdout": 10},
             outputs={"A": "mail_a", "B": "mail_b"}),
        Step("mail_a", "email", "Subject A", props={"content": "a"}, outputs={"next": "gold"}),
        Step("mail_b", "email", "Subject B", props={"content": "b"}, outputs={"next": "gold"}),
        Step("gold", "if-then", "Gold or platinum?", props={"condition": {
            "attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]}},
            outputs={"yes": "rs", "no": "bye"}),
        Step("bye", "exit", "Not loyal"),
        Step("rs", "random-split", "Spread", props={"split": (50, 30, 20)},
             outputs={"A": "pause", "B": "call", "C": END}),
        Step("pause", "wait", "Two days", props={"duration": timedelta(days=2)}, outputs={"next": "until"}),
        Step("until", "wait", "Until the sale", props={"until": START + timedelta(days=6)}, outputs={"next": "push"}),
        Step("push", "push", "Sale push", props={"content": "p"}, outputs={"next": END}),
        Step("call", "task", "Call", props={"subject": "Call them"}, outputs={"next": END}),
    ):
        j.add_step(s)
    return j


def _repeating() -> Journey:
    """Repeating, an if/then on an opened event, cut short by a horizon before the schedule ends (waiting)."""
    j = Journey("r", "Repeating", schedule=Schedule(START, START + timedelta(days=40), "UTC"),
                frequency=Frequency("repeating", timedelta(days=7), 3), goal=Trigger(event="purchase"))
    for s in (
        Step("mail", "email", "Weekly", props={"content": "c"}, outputs={"next": "opened"}),
        Step("opened", "if-then", "Opened?", props={"wait_for": {"event": "opened", "step": "mail"},
                                                    "within": timedelta(days=2)}, outputs={"yes": END, "no": "sms"}),
        Step("sms", "sms", "Nudge", props={"content": "t"}, outputs={"next": "wait"}),
        Step("wait", "wait", "A week", props={"duration": timedelta(days=7)}, outputs={"next": END}),
    ):
        j.add_step(s)
    return j


JOURNEYS = {
    "announcement": lambda: read_journey_text(ANNOUNCEMENT)[0],
    "re-engagement": lambda: _template("re-engagement"),
    "renewal-reminder": lambda: _template("renewal-reminder"),  # accounts, repeating, a task per account
    "abandoned-cart": lambda: _template("abandoned-cart"),  # quiet hours, frequency cap, ongoing
    "branchy": _branchy,
    "repeating": _repeating,
}
HORIZON_DAYS = {"repeating": 18}


@lru_cache(maxsize=None)
def _run(name: str, replicas: int = 1, n: int = 2500) -> tuple[Plan, SimulationResult]:
    j = JOURNEYS[name]()
    plan = compile_plan(j)
    if name in HORIZON_DAYS:
        plan = compile_plan(j, horizon=plan.start + HORIZON_DAYS[name] * DAY)
    pop = population_for(plan, n, 5)
    return plan, simulate(plan, pop, BehaviourModel(), 5, replicas, chunk_size=900)


def _moments(tr: Trace, count: int = 40) -> list[int]:
    """Scrub positions: before the start, spread over the run, on event times (and a second either side)."""
    v = tr.visits
    rng = np.random.default_rng(3)
    picks = rng.choice(np.concatenate((v["t_enter"], v["t_leave"])), size=count // 2).tolist()
    spread = np.linspace(0, tr.horizon - tr.t0, count // 2).astype(int).tolist()
    rels = [-100, 0, tr.horizon - tr.t0, tr.horizon - tr.t0 + 50] + spread + picks + [p - 1 for p in picks[:5]]
    return [tr.t0 + r for r in rels]


def _port_of(plan: Plan, step: int, outcome: int) -> str | None:
    """The port a visit's outcome leaves through, written out per step type (None: no port)."""
    sp = plan.steps[step]
    if outcome in oc.TERMINAL:
        return None
    if sp.type == "if-then":
        return {oc.YES: "yes", oc.NO: "no"}[outcome]
    if sp.type in SPLITS:
        return "ABCDEFGHIJ"[outcome - oc.PATH_BASE]
    return "next" if sp.type != "exit" else None


def _brute(plan: Plan, tr: Trace, t: int) -> dict[str, dict]:
    """Every figure of a frame, counted from the trace's rows (masks, no index)."""
    rel = t - tr.t0
    v, m, u = tr.visits, tr.messages, tr.units
    names = tr.steps
    totals: dict[str, dict[str, int]] = {}
    for i, sid in enumerate(names):
        at = v["step"] == i
        row = {"entered": int((at & (v["t_enter"] <= rel)).sum())}
        gone = at & (v["t_leave"] <= rel)
        for name, codes in {**STEP_OUTCOMES, "waiting": (oc.WAITING,)}.items():
            row[name] = int((gone & np.isin(v["outcome"], codes)).sum())
        mi = m["step"] == i
        for e in MESSAGE_EVENTS:
            row[e] = int((mi & (m[e] >= 0) & (m[e] <= rel)).sum())
        totals[sid] = row
    flows: dict[tuple[str, str], int] = {}
    for s, o, tl in zip(v["step"].tolist(), v["outcome"].tolist(), v["t_leave"].tolist()):
        if s < plan.end and tl <= rel:
            port = _port_of(plan, s, o)
            if port is not None:
                flows[(names[s], port)] = flows.get((names[s], port), 0) + 1
    o, left = u["outcome"], u["left"]
    waiting = dict(zip(names, waiting_at(tr, t).tolist()))
    journey = {"entered": int((u["entered"] <= rel).sum()),
               "in_journey": sum(waiting[s] for s in names[:-1]),
               "exited": int((np.isin(o, (oc.EXITED, oc.GOAL)) & (left <= rel)).sum()),
               "goals": int(((u["goal"] >= 0) & (u["goal"] <= rel)).sum()),
               "completed": int(((o == oc.COMPLETED) & (left <= rel)).sum()),
               "held_out": int(((o == oc.HOLDOUT) & (left <= rel)).sum()),
               "stopped": int(((o == oc.STOPPED) & (left <= rel)).sum())}
    return {"waiting": waiting, "totals": totals, "flows": flows, "journey": journey}


@pytest.mark.parametrize("name", list(JOURNEYS))
def test_frames_agree_with_counting_the_trace(name: str) -> None:
    plan, res = _run(name)
    tr = res.trace
    replay = Replay(tr, plan)
    assert replay.steps == tuple(s.id for s in plan.steps) and (replay.t0, replay.horizon) == (tr.t0, tr.horizon)
    edges = {(s, p) for s, p, _ in replay.edges}
    for t in _moments(tr):
        frame, want = replay.at(t), _brute(plan, tr, t)
        assert frame.t == t
        assert frame.waiting == want["waiting"]
        for sid, row in frame.totals.items():
            assert row == {k: want["totals"][sid][k] for k in row}, (sid, t)
            assert all(want["totals"][sid][k] == 0 for k in want["totals"][sid] if k not in row), (sid, t)
        assert set(frame.flows) == edges
        assert frame.flows == {e: want["flows"].get(e, 0) for e in edges}
        assert not set(want["flows"]) - edges  # every contact that went on took an edge of the journey
        assert frame.journey == want["journey"]
        for sid in replay.steps:
            assert isinstance(replay.status_line(frame, sid), str)


@pytest.mark.parametrize("name", list(JOURNEYS))
def test_totals_at_the_horizon_are_the_funnel_and_flows_conserve_contacts(name: str) -> None:
    plan, res = _run(name)
    tr = res.trace
    replay = Replay(tr, plan)
    f = funnel(tr)
    end = replay.at(tr.horizon)
    for i, sid in enumerate(tr.steps):
        for k, counts in f.items():
            assert end.totals[sid].get(k, 0) == counts[i], (sid, k)
    targets = {(s, p): target for s, p, target in replay.edges}
    exits = [sp.id for sp in plan.steps if sp.type == "exit"]
    for t in _moments(tr, 16):
        frame = replay.at(t)
        for i, sid in enumerate(tr.steps):
            inflow = sum(n for e, n in frame.flows.items() if targets[e] == sid)
            if sid == END:  # an exit tile sends its contacts to the end without an edge
                inflow += sum(frame.totals[x]["passed"] for x in exits if "passed" in frame.totals[x])
            entries = frame.totals[sid]["entered"]
            if i == plan.entry:
                assert inflow == 0 and entries == frame.journey["entered"]
            else:
                assert inflow == entries, (sid, t)


@pytest.mark.parametrize("name", ["branchy", "renewal-reminder", "announcement"])
def test_edges_are_the_paths_contacts_take(name: str) -> None:
    """Each visit that goes on is followed, for the same contact and iteration, by a visit at its edge's target."""
    plan, res = _run(name)
    tr = res.trace
    replay = Replay(tr, plan)
    target = {(s, p): t for s, p, t in replay.edges}
    v = tr.visits
    order = np.lexsort((v["step"], v["iteration"], v["contact"]))
    c, it, s, o = (v[k][order].tolist() for k in ("contact", "iteration", "step", "outcome"))
    checked = 0
    for k in range(len(c) - 1):
        port = _port_of(plan, s[k], o[k]) if s[k] < plan.end else None
        if port is None:
            continue
        assert (c[k + 1], it[k + 1]) == (c[k], it[k])
        assert tr.steps[s[k + 1]] == target[(tr.steps[s[k]], port)]
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("name", ["announcement", "branchy", "repeating"])
def test_next_and_previous_event(name: str) -> None:
    plan, res = _run(name)
    tr = res.trace
    replay = Replay(tr, plan)
    v = tr.visits
    moments = np.unique(np.concatenate((v["t_enter"], v["t_leave"][v["outcome"] != oc.WAITING]))) + tr.t0
    for t in _moments(tr, 30):
        later, earlier = moments[moments > t], moments[moments < t]
        assert replay.next_event(t) == (int(later[0]) if len(later) else None)
        assert replay.prev_event(t) == (int(earlier[-1]) if len(earlier) else None)
    assert replay.prev_event(tr.t0) is None
    t, seen = tr.t0 - 1, 0
    while (t := replay.next_event(t)) is not None and seen < 50:  # stepping visits each moment in turn
        assert t == moments[seen]
        seen += 1


@pytest.mark.parametrize("name", ["announcement", "branchy"])
def test_step_series_counts_rows_by_the_end_of_each_day(name: str) -> None:
    plan, res = _run(name)
    tr = res.trace
    series = step_series(tr)
    v, m = tr.visits, tr.messages
    last = tr.days - 1
    f = funnel(tr)
    for metric, a in series.items():
        assert a.shape == (len(tr.steps), tr.days) and a.dtype == np.int64
        if metric in f:
            assert np.array_equal(a[:, -1], f[metric]), metric
    for d in (0, 1, 4, last):
        cut = (d + 1) * DAY if d < last else tr.horizon - tr.t0 + 1  # the last day takes the horizon itself
        for i in range(len(tr.steps)):
            at = v["step"] == i
            assert series["entered"][i, d] == (at & (v["t_enter"] < cut)).sum()
            for metric, codes in STEP_OUTCOMES.items():
                n = (at & np.isin(v["outcome"], codes) & (v["t_leave"] < cut)).sum()
                assert series.get(metric, np.zeros_like(series["entered"]))[i, d] == n, (metric, i, d)
            for e in MESSAGE_EVENTS:
                n = ((m["step"] == i) & (m[e] >= 0) & (m[e] < cut)).sum()
                assert series.get(e, np.zeros_like(series["entered"]))[i, d] == n, (e, i, d)


def test_hover_figures_carry_intervals_over_replicas() -> None:
    plan, res = _run("announcement", 3, 1200)
    iv = res.step_intervals()
    assert iv.replicas == 3 and iv.steps == res.trace.steps
    pop = population_for(plan, 1200, 5)
    per_replica = [step_series(run(plan, pop, BehaviourModel(), derive_seed(5, r), chunk_size=900)) for r in range(3)]
    replay = Replay(res.trace, plan, iv)
    t = replay.t0 + 2 * DAY + 3600  # day 3
    frame = replay.at(t)
    i = plan.step_names().index("announce")
    lines = replay.tooltip_lines(frame, "announce")
    assert lines[0] == f"{frame.waiting['announce']:,} waiting here now"
    for metric in ("entered", "sent", "delivered", "opened", "clicked"):
        xs = np.array([s[metric][i, 2] for s in per_replica], dtype=np.float64)
        mean, half = xs.mean(), t975(2) * xs.std(ddof=1) / math.sqrt(3)
        got = iv.at(metric, i, 2)
        assert got is not None and np.allclose(got, (mean, mean - half, mean + half), rtol=1e-5, atol=1e-3)
        want = (f"{metric} {frame.totals['announce'][metric]:,} in this replay (replica 1, now) — over 3 replicas "
                f"by the end of day 3: mean {mean:,.0f} (95% {max(mean - half, 0):,.0f}–{mean + half:,.0f})")
        assert want in lines
    doc = res.to_json()  # the daily step figures stay out of the JSON document
    keys = {"step", "name", "type", "entered", *FUNNEL_OUTCOMES, *MESSAGE_EVENTS}
    assert set(doc["time_series"]) == {"days", *SERIES} and all(set(r) <= keys for r in doc["funnel"])
    assert {k for k in res.estimates if k.startswith("steps.")} == {f"steps.{k}" for k in iv.mean}


def test_replicas_fill_in_a_figure_one_of_them_lacks() -> None:
    est = summarize([{"x": np.array([1.0, 2.0])}, {"x": np.array([3.0, 2.0]), "y": np.array([[4.0, 8.0]])}])
    assert est["x"].mean.tolist() == [2.0, 2.0] and est["y"].mean.tolist() == [[2.0, 4.0]]
    assert est["y"].low[0, 0] == pytest.approx(2.0 - 12.706 * math.sqrt(8) / math.sqrt(2))


def test_one_replica_has_no_interval_and_an_old_record_replays_without_any() -> None:
    plan, res = _run("re-engagement")
    j = JOURNEYS["re-engagement"]()
    rec = RunRecord.from_result(res, j, population_for(plan, 2500, 5).spec, BehaviourModel(), chunk_size=900)
    one = Replay.from_record(RunRecord.from_bytes(rec.to_bytes()))
    assert one.intervals is not None and one.intervals.replicas == 1
    frame = one.at(one.t0 + 6 * DAY)
    lines = one.tooltip_lines(frame, "reminder")
    assert f"sent {frame.totals['reminder']['sent']:,} — one replica: no interval" in lines
    old = RunRecord.from_bytes(replace(rec, steps_npz=b"").to_bytes())  # as saved before steps.npz existed
    assert old.steps_npz == b"" and old.step_intervals() is None and old.trace_digest == rec.trace_digest
    replay = Replay.from_record(old)
    assert replay.intervals is None
    frame = replay.at(replay.t0 + 6 * DAY)
    assert frame.waiting == dict(zip(res.trace.steps, waiting_at(res.trace, replay.t0 + 6 * DAY).tolist()))
    lines = replay.tooltip_lines(frame, "reminder")
    assert f"sent {frame.totals['reminder']['sent']:,}" in lines and lines[-1].startswith("no intervals")
    assert old.replay().trace.digest() == rec.trace_digest


def test_status_lines_are_short_and_say_what_happened() -> None:
    plan, res = _run("branchy")
    replay = Replay(res.trace, plan)
    frame = replay.at(replay.horizon)
    tot = frame.totals
    assert replay.status_line(frame, "mail_a") == (f"{frame.waiting['mail_a']:,} waiting · {tot['mail_a']['sent']:,} "
                                                   f"sent · {tot['mail_a']['opened']:,} opened · "
                                                   f"{tot['mail_a']['clicked']:,} clicked")
    assert replay.status_line(frame, "gold") == f"0 waiting · {tot['gold']['yes']:,} yes · {tot['gold']['no']:,} no"
    assert replay.status_line(frame, "ab") == (f"A {tot['ab']['path_A']:,} · B {tot['ab']['path_B']:,} · "
                                               f"held out {tot['ab']['holdout']:,}")
    assert replay.status_line(frame, "pause") == f"0 waiting · {tot['pause']['passed']:,} on"
    assert replay.status_line(frame, "bye") == f"{tot['bye']['passed']:,} exited"
    assert replay.status_line(frame, "call") == f"{tot['call']['done']:,} done"
    assert tot["ab"]["path_A"] > 900 and tot["bye"]["passed"] > 100
    mid = replay.at(replay.t0 + DAY)
    assert mid.waiting["pause"] > 0 and replay.status_line(mid, "pause").startswith(f"{mid.waiting['pause']:,} waiting")
    assert all(len(replay.status_line(frame, sid)) <= 64 for sid in replay.steps)
    with pytest.raises(KeyError, match="no step 'nope'"):
        replay.status_line(frame, "nope")


def test_large_counts_are_abbreviated() -> None:
    from simulator.replay import _count
    assert [_count(n) for n in (0, 950, 9_999, 12_345, 123_456, 1_234_567, 12_345_678)] == [
        "0", "950", "9,999", "12.3k", "123k", "1.23M", "12.3M"]


def test_a_trace_of_another_journey_is_refused() -> None:
    plan, res = _run("announcement")
    other, _ = _run("re-engagement")
    with pytest.raises(ValueError, match="replay a trace with its own plan"):
        Replay(res.trace, other)


def test_run_record_keeps_its_blob_and_step_intervals() -> None:
    plan, res = _run("announcement", 3, 1200)
    j = JOURNEYS["announcement"]()
    rec = RunRecord.from_result(res, j, population_for(plan, 1200, 5).spec, BehaviourModel(), chunk_size=900)
    blob = rec.to_bytes()
    assert rec.to_bytes() is blob  # made once
    again = RunRecord.from_bytes(blob)
    assert again == rec and again.to_bytes() == blob and "_blob" not in repr(rec)
    assert RunRecord.from_plain(rec.to_plain()) == rec
    iv, back = res.step_intervals(), again.step_intervals()
    assert back is not None and back.replicas == 3 and set(back.mean) == set(iv.mean)
    assert all(np.array_equal(back.high[k], iv.high[k]) for k in iv.high)
    rec.seed = 99  # assigning a field forgets the blob
    assert rec.to_bytes() != blob and RunRecord.from_bytes(rec.to_bytes()).seed == 99


def test_the_counts_of_one_status_line_read_alike() -> None:
    from simulator.replay import _line
    assert _line([(13_600, "{} sent"), (3_184, "{} opened"), (12, "{} clicked")]) == \
        "13.6k sent · 3.2k opened · <0.1k clicked"
    assert _line([(0, "{} waiting"), (50_000, "{} sent")]) == "0 waiting · 50.0k sent"
    assert _line([(950, "{} sent"), (12, "{} opened")]) == "950 sent · 12 opened"
    assert _line([(160_976, "{} yes"), (2_000, "{} no")]) == "161k yes · 2k no"


@pytest.mark.parametrize("name", ["announcement", "branchy"])
def test_group_counts_are_those_of_a_search_of_every_key(name: str) -> None:
    """Replay._values finds each group's count through the first keys of blocks of keys, then the keys of one
    block: the counts are exactly those a search of the whole sorted key array gives, at every event time and a
    second either side (where a count changes, often at a block's first or last key)."""
    from simulator.replay import BLOCK
    plan, res = _run(name)
    replay = Replay(res.trace, plan)
    keys = replay._keys
    assert len(keys) > 10 * BLOCK and replay._blocks.size % BLOCK == 0
    times = np.unique(keys % replay._span)
    rng = np.random.default_rng(1)
    for rel in sorted({-1, *rng.choice(times, 60).tolist(), *(times[:3] + 1).tolist(), int(times[-1]) + 1}):
        for r in (rel - 1, rel, rel + 1):
            want = np.searchsorted(keys, replay._query_base + min(max(r, -1), replay._span - 1), side="right")
            want = want - replay._start
            got = replay._values(replay.t0 + r)
            dst, src, sign = replay._dst, replay._src, replay._sign
            expect = np.bincount(dst, weights=np.take(want, src) * sign, minlength=replay._rows).astype(np.int64)
            assert got == expect.tolist(), (name, r)
