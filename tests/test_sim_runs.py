"""Saved runs, behaviour models and populations round-trip, and a replay gives the same trace bit for bit."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from simulator.behaviour import BehaviourModel, Multiplier
from app.semantics.plan import compile_plan
from simulator.population import population_for, population_from_spec
from simulator.replicas import simulate, summarize, t975
from simulator.runs import RunRecord
from simulator.trace import Trace


def test_run_record_round_trips_and_replays_bit_for_bit() -> None:
    j, contents, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    plan = compile_plan(j)
    pop = population_for(plan, 2000, 12)
    b = replace(BehaviourModel(), messages={"offer": {"open": 0.4}})
    result = simulate(plan, pop, b, 12, 3, chunk_size=500)
    rec = RunRecord.from_result(result, j, pop.spec, b, chunk_size=500, content={c.name: c for c in contents},
                                segments={s.name: s for s in segments})
    plain = json.loads(json.dumps(rec.to_plain()))  # JSON-able
    again = RunRecord.from_plain(plain)
    assert again == rec
    blob = rec.to_bytes()
    assert RunRecord.from_bytes(blob) == rec and rec.to_bytes() == blob
    assert rec.trace().digest() == result.trace.digest() == rec.trace_digest
    assert rec.journey() == j
    replayed = rec.replay()
    assert replayed.trace.digest() == rec.trace_digest
    assert replayed.to_json()["funnel"] == rec.results["funnel"]
    with pytest.raises(ValueError, match="not a simulation run"):
        RunRecord.from_plain({**plain, "format": "other/1"})


def test_trace_npz_round_trip() -> None:
    j = read_journey_file(resource_path("templates", "announcement.yaml"))[0]
    plan = compile_plan(j)
    from simulator.engine import run
    tr = run(plan, population_for(plan, 500, 1), BehaviourModel(), 1)
    back = Trace.from_npz(tr.to_npz())
    assert back.digest() == tr.digest() and back.steps == tr.steps
    assert all(np.array_equal(back.blocks[k], tr.blocks[k]) for k in tr.blocks)


def test_behaviour_model_round_trip_and_errors() -> None:
    b = replace(BehaviourModel(), messages={"s1": {"click": 0.3}}, event_rates={"purchase": 0.01},
                multipliers=(Multiplier("open", 1.5, segment="VIP"),))
    plain = json.loads(json.dumps(b.to_plain()))
    assert plain["format"] == "behaviour/1"
    assert BehaviourModel.from_plain(plain) == b
    assert BehaviourModel.from_plain({}) == BehaviourModel()
    assert b.for_step("s1", "email").click == 0.3 and b.for_step("s2", "email").click == b.channels["email"].click
    with pytest.raises(ValueError, match="unknown behaviour field"):
        BehaviourModel.from_plain({"channels": {"email": {"opens": 0.2}}})
    with pytest.raises(ValueError, match="unsupported"):
        BehaviourModel.from_plain({"format": "behaviour/9"})


def test_population_rebuilds_from_its_spec() -> None:
    j = read_journey_file(resource_path("templates", "renewal-reminder.yaml"))[0]
    plan = compile_plan(j)
    pop = population_for(plan, 3000, 5)
    again = population_from_spec(json.loads(json.dumps(pop.spec)))
    for name in ("contact_id", "account_id", "tz", "consent", "engagement", "loyalty"):
        assert np.array_equal(getattr(pop, name), getattr(again, name))
    assert set(pop.segments) == set(again.segments) == {"Accounts up for renewal"}
    assert (pop.account_id >= 0).mean() == pytest.approx(0.6, abs=0.05)
    assert 0.25 < pop.engagement.mean() < 0.32  # Beta(2, 5): mean 2/7


def test_intervals() -> None:
    assert t975(1) == 12.706 and t975(29) == 2.045 and abs(t975(200) - 1.972) < 0.001
    est = summarize([{"x": np.array([1.0, 10.0])}, {"x": np.array([3.0, 10.0])}])["x"]
    assert est.mean.tolist() == [2.0, 10.0] and est.low[1] == est.high[1] == 10.0
    assert est.low[0] == pytest.approx(2.0 - 12.706 * np.sqrt(2) / np.sqrt(2))
    one = summarize([{"x": np.array(0.5)}])["x"]
    assert float(one.low) == float(one.high) == 0.5
