"""The engine's plumbing: shared draws, time zone tables, compiling journeys, progress and cancellation."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import numpy as np
import pytest

from app.codec.yamlio import read_journey_file
from app.model.journey import Journey, Schedule, Step
from app.model.registry import END
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from app.semantics.draws import derive_seed, hash_key, hash_keys, normals, stream, uniforms
from simulator.engine import Cancelled, run
from app.semantics.plan import PlanError, compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from app.semantics.timezones import OffsetTable, transitions, utc_offset


def test_vector_and_scalar_hashes_agree() -> None:
    keys = np.array([0, 1, 2, 12345, 2**40 + 7, -1, -999], dtype=np.int64)
    s = stream(42, "step", 3)
    assert hash_keys(keys, s).tolist() == [hash_key(int(k), s) for k in keys]
    big = np.arange(10_000, dtype=np.int64)
    assert np.array_equal(hash_keys(big, s)[[5, 77, 9999]], hash_keys(big[[5, 77, 9999]], s))


def test_draws_are_uniform_and_normal() -> None:
    u1, u2 = uniforms(hash_keys(np.arange(200_000), stream(1, "x")))
    for u in (u1, u2):
        assert 0.0 < u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.003
    assert abs(np.corrcoef(u1, u2)[0, 1]) < 0.01
    z = normals(hash_keys(np.arange(200_000), stream(2, "y")))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert derive_seed(7, 0) != derive_seed(7, 1) and derive_seed(7, 1) == derive_seed(7, 1)


def test_offset_table_matches_zoneinfo_across_clock_changes() -> None:
    zones = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "UTC", "America/Santiago"]
    lo, hi = int(datetime(2026, 1, 1).timestamp()), int(datetime(2028, 1, 1).timestamp())
    table = OffsetTable(zones, lo, hi)
    rng = np.random.default_rng(0)
    t = rng.integers(lo, hi, 5000)
    z = rng.integers(0, len(zones), 5000)
    for change in table.at[table.at < np.iinfo(np.int64).max]:  # each change and the seconds around it
        t = np.concatenate([t, [change - 1, change, change + 1] * len(zones)])
        z = np.concatenate([z, np.repeat(np.arange(len(zones)), 3)])
    got = table.offsets(z, t)
    assert got.tolist() == [utc_offset(zones[i], int(x)) for i, x in zip(z.tolist(), t.tolist())]


def test_a_second_table_over_the_same_window_reuses_the_zones_transitions_and_equals_the_first() -> None:
    zones = ["Europe/Paris", "America/Santiago", "Asia/Tokyo"]
    lo, hi = int(datetime(2031, 3, 1).timestamp()), int(datetime(2031, 12, 1).timestamp())
    first = OffsetTable(zones, lo, hi)
    hits = transitions.cache_info().hits
    second = OffsetTable(zones, lo, hi)
    assert transitions.cache_info().hits == hits + len(zones)
    assert np.array_equal(first.at, second.at) and np.array_equal(first.delta, second.delta)
    assert np.array_equal(first.base, second.base)
    assert isinstance(transitions("Europe/Paris", lo, hi)[1], tuple)  # shared between tables: not to be changed


def _journey(*steps: Step) -> Journey:
    j = Journey("j", "J", schedule=Schedule(datetime(2027, 1, 4, 9), datetime(2027, 2, 1), "UTC"))
    for s in steps:
        j.add_step(s)
    return j


def test_compile_refuses_cycles_and_unusable_journeys() -> None:
    j = _journey(Step("a", "wait", props={"duration": timedelta(days=1)}, outputs={"next": "b"}),
                 Step("b", "wait", props={"duration": timedelta(days=1)}, outputs={"next": "c"}),
                 Step("c", "if-then", props={"segment": "S"}, outputs={"yes": "a", "no": END}))
    with pytest.raises(PlanError, match=r"cycle \(a -> b -> c -> a\)"):
        compile_plan(j)
    j = _journey(Step("a", "wait", props={"duration": timedelta(days=1)}))
    j.update(schedule=Schedule(None, None, "UTC"))
    with pytest.raises(PlanError, match="no start date"):
        compile_plan(j)
    j = _journey(Step("x", "if-then", props={"wait_for": {"event": "opened", "step": "nope"},
                                             "within": timedelta(days=1)}))
    with pytest.raises(PlanError, match="not in the journey"):
        compile_plan(j)


def test_unconnected_ports_lead_to_the_end_and_exit_tiles_end_the_path() -> None:
    j = _journey(Step("s", "random-split", props={"split": (50, 50)}, outputs={"A": "x"}),
                 Step("x", "exit", props={}))
    plan = compile_plan(j)
    assert plan.steps[0].next == (1, 2) and plan.end == 2
    tr = run(plan, population_for(plan, 1000, 1), BehaviourModel(), 1)
    assert (tr.units["outcome"] == 20).all()  # everyone completes, by either path


def test_progress_and_cancellation() -> None:
    j = read_journey_file(resource_path("templates", "renewal-reminder.yaml"))[0]
    plan = compile_plan(j)
    pop = population_for(plan, 5000, 1)
    seen: list[float] = []
    simulate(plan, pop, BehaviourModel(), 1, 2, chunk_size=1000, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) >= 10
    cancel = threading.Event()

    def stop_half_way(fraction: float, message: str) -> None:
        if fraction > 0.3:
            cancel.set()
    with pytest.raises(Cancelled):
        run(plan, pop, BehaviourModel(), 1, chunk_size=1000, progress=stop_half_way, cancel=cancel)


def test_a_multiplier_on_a_category_reaches_every_code_of_its_value() -> None:
    """A text may stand at several codes of a column (the same city name in two locales): all are matched."""
    from dataclasses import replace

    import numpy as np

    from simulator.behaviour import Multiplier, _matches
    from simulator.population import CategoryColumn, population_for
    plan = compile_plan(read_journey_file(resource_path("templates", "announcement.yaml"))[0])
    pop = population_for(plan, 3000, 4)
    codes = np.arange(3000, dtype=np.int32) % 4
    pop = replace(pop, categories={"country": CategoryColumn(codes, ("US", "FR", "US", "GB"))})
    rows = np.arange(len(pop))
    us = (codes == 0) | (codes == 2)
    hit = _matches(Multiplier("open", 2.0, attribute="country", value="US"), pop, rows, 0, None)
    assert np.array_equal(hit, us)
