"""The vectorised engine against the reference interpreter: identical per-contact paths and times."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.codec.yamlio import read_journey_file
from app.model.journey import Journey
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from simulator.engine import run
from simulator.plan import compile_plan
from simulator.population import population_for
from simulator.reference_run import run_reference
from simulator.trace import TABLES
from tests.test_sim_strategies import behaviours, journeys, lively, population


def assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    for table in TABLES:
        ra, rb = a.rows(table), b.rows(table)
        if ra != rb:
            only_a, only_b = sorted(set(ra) - set(rb))[:5], sorted(set(rb) - set(ra))[:5]
            raise AssertionError(f"{table} differ: engine only {only_a}, reference only {only_b}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(), st.integers(20, 70), st.integers(0, 2**31), behaviours, st.integers(1, 40),
       st.one_of(st.none(), st.integers(1, 20 * 86_400)))
def test_engine_matches_reference(j: Journey, n: int, seed: int, behaviour: BehaviourModel, chunk: int,
                                  horizon: int | None) -> None:
    plan = compile_plan(j)
    if horizon is not None:  # a horizon before the schedule ends leaves contacts waiting
        plan = compile_plan(j, horizon=plan.start + horizon)
    pop = population(n, seed % 1000, j, account_size=3)
    assert_same(run(plan, pop, behaviour, seed, chunk_size=chunk), run_reference(plan, pop, behaviour, seed))


def test_templates_match_reference() -> None:
    """The shipped templates (accounts, repeating, ongoing, quiet hours, a cap) agree as well."""
    for name in ("announcement", "re-engagement", "renewal-reminder", "welcome-series", "abandoned-cart"):
        j, _, segments = read_journey_file(resource_path("templates", f"{name}.yaml"))
        plan = compile_plan(j)
        pop = population_for(plan, 150 if name != "renewal-reminder" else 60, 11,
                             definitions={s.name: s for s in segments})
        for behaviour in (BehaviourModel(), lively()):
            assert_same(run(plan, pop, behaviour, 5, chunk_size=64), run_reference(plan, pop, behaviour, 5))
