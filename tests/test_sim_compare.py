"""Comparing two runs: steps matched by id, differences and interval overlap, the assumptions that differ."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from functools import lru_cache

import pytest

from app.codec.yamlio import read_journey_file, read_journey_text
from app.model.journey import Journey, Step
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from simulator.compare import (BOTH, DISJOINT, NO_INTERVAL, ONLY_A, ONLY_B, OVERLAP, assumption_differences,
                               compare_records, compare_results)
from simulator.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import RunRecord
from tests.samples import ANNOUNCEMENT

OPEN_MORE = {"channels": {"email": {"open": 0.45}}}


def _record(j: Journey, behaviour: BehaviourModel, replicas: int, seed: int = 8, n: int = 2000) -> RunRecord:
    plan = compile_plan(j)
    pop = population_for(plan, n, seed)
    res = simulate(plan, pop, behaviour, seed, replicas, chunk_size=1000)
    return RunRecord.from_result(res, j, pop.spec, behaviour, chunk_size=1000)


@lru_cache(maxsize=None)
def _behaviour_pair() -> tuple[RunRecord, RunRecord]:
    """The re-engagement journey (goal: a purchase) under the default behaviour and with emails opened more."""
    j = read_journey_file(resource_path("templates", "re-engagement.yaml"))[0]
    return _record(j, BehaviourModel(), 4), _record(j, BehaviourModel.from_plain(OPEN_MORE), 4)


def _figure(rec: RunRecord, step: str, metric: str) -> dict[str, float]:
    return next(r for r in rec.results["funnel"] if r["step"] == step)[metric]


def test_same_journey_two_behaviour_models() -> None:
    a, b = _behaviour_pair()
    c = compare_records(a, b)
    assert [r.step for r in c.rows] == [r["step"] for r in a.results["funnel"]]
    assert all(r.status == BOTH for r in c.rows) and c.replicas == (4, 4)
    first = c.rows[0].step
    opened = c.row(first).metric("opened")
    fa, fb = _figure(a, first, "opened"), _figure(b, first, "opened")
    assert opened is not None and (opened.a.mean, opened.a.low, opened.a.high) == (fa["mean"], fa["low"], fa["high"])
    assert opened.b.mean == fb["mean"] and opened.delta == pytest.approx(fb["mean"] - fa["mean"])
    assert opened.relative == pytest.approx((fb["mean"] - fa["mean"]) / fa["mean"])
    assert fb["low"] > fa["high"] and opened.disjoint and opened.note == DISJOINT  # 45 % against 21 % opens
    entered = c.row(first).metric("entered")
    assert entered.delta == 0 and entered.relative == 0 and entered.note == OVERLAP  # same population, same entry
    conv = c.conversion
    assert conv.a.mean == a.results["conversion"]["mean"] and conv.b.mean == b.results["conversion"]["mean"]
    assert conv.delta == pytest.approx(b.results["conversion"]["mean"] - a.results["conversion"]["mean"])
    assert assumption_differences(a, b) == [("behaviour.channels.email.open", 0.2133, 0.45)]
    assert c.assumptions == (("behaviour.channels.email.open", 0.2133, 0.45),)
    text = c.text_table()
    assert "behaviour.channels.email.open: A 0.2133, B 0.45" in text and DISJOINT in text
    line = next(x for x in text.splitlines() if x.strip().startswith("opened")).split()
    shown = [f"{x:,.0f}" if x == int(x) else f"{x:,.1f}" for x in (fa["mean"], fb["mean"])]
    assert line[:3] == ["opened", *shown] and line[4] == f"{opened.relative:+.1%}"


def test_csv_rows_hold_every_figure() -> None:
    a, b = _behaviour_pair()
    c = compare_records(a, b, labels=("default", "opens more"))
    rows = c.to_csv_rows()
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    back = list(csv.reader(io.StringIO(buf.getvalue())))
    assert back == rows
    header = back[0]
    assert header[:5] == ["step", "name", "type", "status", "metric"]
    assert header[5] == "default" and header[8] == "opens more" and header[-1] == "intervals"
    assert len(back) == 1 + sum(len(r.metrics) for r in c.rows) + 1
    by = {(r[0], r[4]): dict(zip(header, r)) for r in back[1:]}
    first = c.rows[0].step
    row = by[(first, "opened")]
    fa, fb = _figure(a, first, "opened"), _figure(b, first, "opened")
    assert float(row["default"]) == pytest.approx(fa["mean"]) and float(row["opens more high"]) == pytest.approx(
        fb["high"])
    assert float(row["delta"]) == pytest.approx(fb["mean"] - fa["mean"]) and row["intervals"] == DISJOINT
    conv = by[("(journey)", "conversion")]
    assert float(conv["default"]) == pytest.approx(a.results["conversion"]["mean"])


def test_a_step_added_between_versions() -> None:
    """Version 2 of the announcement sends a reminder before the launch text; one replica against three."""
    j1 = read_journey_text(ANNOUNCEMENT)[0]
    j2 = read_journey_text(ANNOUNCEMENT)[0]
    j2.version = 2
    j2.add_step(Step("reminder", "email", "Launch reminder", props={"content": "Product announcement email"},
                     outputs={"next": "launched"}))
    j2.step("launch").outputs["next"] = "reminder"
    a, b = _record(j1, BehaviourModel(), 1), _record(j2, BehaviourModel(), 3)
    c = compare_records(a, b)
    steps = [r["step"] for r in a.results["funnel"]]
    assert [r.step for r in c.rows] == steps + ["reminder"]
    assert steps[-1] == "end"  # a's order first (end included), then the steps only B has
    new = c.row("reminder")
    assert new.status == ONLY_B and new.name == "Launch reminder" and new.type == "email"
    sent = new.metric("sent")
    assert sent is not None and sent.a is None and sent.b.mean == _figure(b, "reminder", "sent")["mean"] > 0
    assert sent.delta is None and sent.relative is None and sent.note == ""
    same = c.row("announce").metric("sent")
    assert same is not None and same.note == NO_INTERVAL and same.disjoint is None
    assert all(r.status == BOTH for r in c.rows if r.step != "reminder")
    diffs = {k: (va, vb) for k, va, vb in assumption_differences(a, b)}
    assert diffs == {"journey.version": (1, 2), "replicas": (1, 3)}
    back = compare_records(b, a)
    assert back.row("reminder").status == ONLY_A and [r.step for r in back.rows][-1] == "end"
    text = c.text_table()
    assert "Launch reminder (email)  [only in B]" in text and "1 replica (no interval)" in text


def test_results_documents_compare_without_records() -> None:
    a = {"replicas": 2, "funnel": [
        {"step": "s", "name": "Mail", "type": "email", "entered": {"mean": 100, "low": 100, "high": 100},
         "opened": {"mean": 20.0, "low": 18.0, "high": 22.0}, "clicked": {"mean": 0, "low": 0, "high": 0}}],
        "conversion": {"mean": 0.1, "low": 0.08, "high": 0.12, "sd": 0.01}}
    b = {"replicas": 2, "funnel": [
        {"step": "s", "name": "Mail", "type": "email", "entered": {"mean": 100, "low": 100, "high": 100},
         "opened": {"mean": 21.0, "low": 19.0, "high": 23.0}, "clicked": {"mean": 0, "low": 0, "high": 0}}],
        "conversion": {"mean": None, "low": None, "high": None, "sd": None}}
    c = compare_results(a, b)
    row = c.row("s")
    assert [m.metric for m in row.metrics] == ["entered", "opened"]  # zero in both: left out
    opened = row.metric("opened")
    assert opened.delta == 1.0 and opened.relative == pytest.approx(0.05) and opened.note == OVERLAP
    assert c.conversion.b is None and c.conversion.delta is None and c.assumptions == ()
    with pytest.raises(ValueError, match="run B has no funnel to compare"):
        compare_results(a, {"replicas": 1})
    with pytest.raises(KeyError, match="neither run has a step 'x'"):
        c.row("x")


def test_assumptions_list_population_seed_and_horizon() -> None:
    a, _ = _behaviour_pair()
    b = replace(a, seed=9, horizon=a.horizon - 86_400, population={**a.population, "contacts": 5000},
                engine_version="2")
    diffs = assumption_differences(a, b)
    assert [k for k, _, _ in diffs] == ["population.contacts", "seed", "horizon", "engine_version"]
    assert diffs[0][1:] == (2000, 5000) and diffs[1][1:] == (8, 9)
    assert diffs[2][1].endswith("Z") and diffs[2][1] > diffs[2][2]
    assert assumption_differences(a, a) == []
