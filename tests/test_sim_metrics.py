"""Named metrics agree with counting the trace row by row."""

from __future__ import annotations

from collections import Counter

import numpy as np

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from app.semantics import outcomes as oc
from simulator.behaviour import BehaviourModel
from simulator.engine import run
from simulator.metrics import FUNNEL_OUTCOMES, METRICS, Occupancy, figures, funnel, time_series, waiting_at
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.reference_run import run_reference
from simulator.trace import MESSAGE_EVENTS, Trace

DAY = 86_400


def trace(name: str = "re-engagement", n: int = 3000) -> Trace:
    j = read_journey_file(resource_path("templates", f"{name}.yaml"))[0]
    plan = compile_plan(j)
    return run(plan, population_for(plan, n, 2), BehaviourModel(), 2, chunk_size=700)


def test_funnel_counts_rows() -> None:
    tr = trace()
    f = funnel(tr)
    visits = Counter(zip(tr.visits["step"].tolist(), tr.visits["outcome"].tolist()))
    for step in range(len(tr.steps)):
        assert f["entered"][step] == sum(c for (s, _), c in visits.items() if s == step)
        for name, codes in FUNNEL_OUTCOMES.items():
            assert f[name][step] == sum(visits[(step, code)] for code in codes)
        for event in MESSAGE_EVENTS:
            rows = tr.messages["step"] == step
            assert f[event][step] == (tr.messages[event][rows] >= 0).sum()


def test_funnel_is_the_same_from_the_reference_trace() -> None:
    """The reference run writes row by row; its trace is regrouped by step and gives the same figures."""
    j = read_journey_file(resource_path("templates", "announcement.yaml"))[0]
    plan = compile_plan(j)
    pop = population_for(plan, 3000, 3)
    a, b = run(plan, pop, BehaviourModel(), 3), run_reference(plan, pop, BehaviourModel(), 3)
    assert len(b.blocks["visits"]) < 20
    fa, fb = figures(a), figures(b)
    assert all(np.array_equal(fa[k], fb[k]) for k in fa)


def test_waiting_at_counts_contacts_between_entering_and_leaving() -> None:
    tr = trace()
    v = tr.visits
    index = Occupancy(tr)
    for day in (0, 1, 3, 5.5, 10, 40, 89.9):
        t = tr.t0 + int(day * DAY)
        rel = t - tr.t0
        here = (v["t_enter"] <= rel) & (v["t_leave"] > rel)
        expected = np.bincount(v["step"][here], minlength=len(tr.steps))
        assert np.array_equal(waiting_at(tr, t), expected)
        assert np.array_equal(index.at(t), expected)


def test_time_series_in_journey_matches_waiting_at_each_day_end() -> None:
    tr = trace()
    series = time_series(tr)
    assert set(series) == {"entered", "sent", "delivered", "opened", "clicked", "goals", "exited", "in_journey"}
    for d in range(0, tr.days - 1, 7):
        end_of_day = tr.t0 + (d + 1) * DAY - 1
        assert series["in_journey"][d] == waiting_at(tr, end_of_day).sum()
    assert series["goals"].sum() == (tr.units["goal"] >= 0).sum()
    exits = np.isin(tr.units["outcome"], [oc.EXITED, oc.GOAL])
    assert series["exited"].sum() == exits.sum()


def test_metrics_by_name() -> None:
    assert set(METRICS) == {"funnel", "time_series", "waiting_at", "conversion", "figures", "effect_counts",
                            "channel_counts",
                            "step_series"}
    f = figures(trace(n=500))
    assert f["conversion"].shape == () and f["funnel.sent"].shape == (6,) and f["series.sent"].shape == (90,)
