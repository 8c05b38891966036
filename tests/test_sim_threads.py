"""The engine's chunks may run on several threads: the trace is the same bit for bit whatever their number."""

from __future__ import annotations

import pytest

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from app.semantics.plan import compile_plan
from simulator import engine
from simulator.behaviour import BehaviourModel
from simulator.population import population_for
from simulator.replicas import simulate


@pytest.mark.parametrize("template", ["re-engagement", "renewal-reminder"])
def test_one_thread_or_several_give_the_same_trace(template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    j, _, segments = read_journey_file(resource_path("templates", f"{template}.yaml"))
    plan = compile_plan(j)
    pop = population_for(plan, 4000, 3, definitions={s.name: s for s in segments})
    digests = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(engine, "WORKERS", workers)
        result = simulate(plan, pop, BehaviourModel(), 3, 1, chunk_size=700)
        digests.append((result.trace.digest(), result.to_json()["funnel"]))
    assert digests[0] == digests[1] == digests[2]
