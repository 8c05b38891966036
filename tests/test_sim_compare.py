"""Comparing two runs: steps matched by id, rates per contact who entered, a difference flagged only when the
interval of the difference excludes zero (paired when the runs share seed, replicas and population), the
journey's own effect in each, refusals and warnings, and assumptions written as people write them."""

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
from simulator.compare import (BOTH, NO_INTERVAL, NOISE, ONLY_A, ONLY_B, SIGNIFICANT, CompareError,
                               assumption_differences, assumption_label, assumption_value, compare_records,
                               compare_results)
from app.semantics.plan import compile_plan
from simulator.population import population_for, replica_seed
from simulator.replicas import simulate
from simulator.runs import RunRecord
from tests.samples import ANNOUNCEMENT

OPEN_MORE = {"channels": {"email": {"open": 0.45}}}


def _record(j: Journey, segments: dict, behaviour: BehaviourModel, replicas: int, seed: int = 8,  # type: ignore[type-arg]
            n: int = 2000, shared: bool = False) -> RunRecord:
    plan = compile_plan(j)
    pop = population_for(plan, n, seed, definitions=segments)
    source = pop if shared else (lambda r: pop if r == 0 else population_for(plan, n, replica_seed(seed, r),
                                                                          definitions=segments))
    res = simulate(plan, source, behaviour, seed, replicas, chunk_size=1000)
    return RunRecord.from_result(res, j, {**pop.spec, "per_replica": not shared and replicas > 1}, behaviour,
                                 chunk_size=1000)


def _template(name: str) -> tuple[Journey, dict]:  # type: ignore[type-arg]
    j, _, segments = read_journey_file(resource_path("templates", f"{name}.yaml"))
    return j, {s.name: s for s in segments}


@lru_cache(maxsize=None)
def _behaviour_pair() -> tuple[RunRecord, RunRecord]:
    """The re-engagement journey under the default behaviour and with emails opened more (same seed: paired)."""
    j, segments = _template("re-engagement")
    return (_record(j, segments, BehaviourModel(), 4),
            _record(j, segments, BehaviourModel.from_plain(OPEN_MORE), 4))


def _figure(rec: RunRecord, step: str, metric: str) -> dict[str, float]:
    return next(r for r in rec.results["funnel"] if r["step"] == step)[metric]


def test_same_journey_two_behaviour_models_pair_replica_by_replica() -> None:
    a, b = _behaviour_pair()
    c = compare_records(a, b)
    assert c.paired and [r.step for r in c.rows] == [r["step"] for r in a.results["funnel"]]
    assert all(r.status == BOTH for r in c.rows) and c.replicas == (4, 4)
    first = c.rows[0].step
    opened = c.row(first).metric("opened")
    fa, fb = _figure(a, first, "opened"), _figure(b, first, "opened")
    assert opened is not None and opened.a.mean == fa["mean"] and opened.b.mean == fb["mean"]
    ea, eb = a.results["entries"]["mean"], b.results["entries"]["mean"]
    assert opened.rate_a == pytest.approx(fa["mean"] / ea) and opened.rate_b == pytest.approx(fb["mean"] / eb)
    assert opened.difference.method == "paired" and opened.significant and opened.note == SIGNIFICANT
    assert opened.difference.low > 0.05  # 45 % against 21 % of the delivered
    entered = c.row(first).metric("entered")
    assert entered.delta == 0 and not entered.significant and entered.note == NOISE  # the same contacts enter
    assert c.conversion.a.mean == a.results["conversion"]["mean"]
    assert assumption_differences(a, b) == [("behaviour.channels.email.open", 0.2133, 0.45)]
    text = c.text_table()
    assert "email open rate: A 21.33%, B 45%" in text and SIGNIFICANT in text
    assert "Caused by the journey" in text and "purchase" in text
    assert c.warnings == ("1 assumption differs (listed below): a difference may come from them rather than from "
                          "the journey",)


def test_runs_of_different_journeys_are_refused_unless_asked() -> None:
    a, _ = _behaviour_pair()
    j, segments = _template("announcement")
    other = _record(j, segments, BehaviourModel(), 2)
    with pytest.raises(CompareError, match="different journeys \\('Re-engagement' and 'Product announcement'\\)"):
        compare_records(a, other)
    c = compare_records(a, other, different_journeys=True)
    assert any("different journeys" in w for w in c.warnings)


def test_population_sizes_differ_rates_compare_and_noise_is_not_flagged() -> None:
    """A tenth of the contacts and another seed: counts differ ten-fold, rates do not; no flood of flags."""
    j, segments = _template("re-engagement")
    small = _record(j, segments, BehaviourModel(), 3, seed=11, n=2000)
    large = _record(j, segments, BehaviourModel(), 3, seed=12, n=20_000)
    c = compare_records(small, large)
    assert any("differ in size (2,000 and 20,000 contacts)" in w for w in c.warnings)
    assert not c.paired
    metrics = [m for r in c.rows for m in r.metrics if m.difference is not None]
    flagged = [m for m in metrics if m.significant]
    assert len(flagged) <= max(1, len(metrics) // 8), [(m.metric, m.difference) for m in flagged]
    first = c.rows[0].metric("sent")
    assert first.delta > 5 * first.a.mean and abs(first.relative) < 0.2  # counts x10, rates alike
    assert c.audience is not None and not c.audience.significant


def test_a_shared_population_does_not_make_seed_noise_significant() -> None:
    """One population for every replica: 'entered' is the same in each replica (a zero-width interval); another
    seed draws another population, and the binomial floor keeps that from looking significant."""
    j, segments = _template("announcement")
    a = _record(j, segments, BehaviourModel(), 3, seed=5, shared=True)
    b = _record(j, segments, BehaviourModel(), 3, seed=6, shared=True)
    assert a.results["funnel"][0]["entered"]["low"] == a.results["funnel"][0]["entered"]["high"]
    c = compare_records(a, b)
    assert c.audience is not None and not c.audience.significant
    assert any("kept one population for every replica" in w for w in c.warnings)


def test_csv_rows_hold_every_figure_and_defuse_formulas() -> None:
    a, b = _behaviour_pair()
    c = compare_records(a, b, labels=("default", "=opens more"))
    rows = c.to_csv_rows()
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    back = list(csv.reader(io.StringIO(buf.getvalue())))
    assert back == rows
    header = back[0]
    assert header[:5] == ["step", "name", "type", "status", "metric"] and header[-1] == "verdict"
    assert len(back) == 1 + sum(len(r.metrics) for r in c.rows) + 1
    by = {(r[0], r[4]): dict(zip(header, r)) for r in back[1:]}
    first = c.rows[0].step
    row = by[(first, "opened")]
    assert float(row["default"]) == pytest.approx(_figure(a, first, "opened")["mean"])
    assert float(row["rate difference"]) > 0 and row["verdict"] == SIGNIFICANT
    results = {"replicas": 1, "entries": {"mean": 10}, "contacts": 10, "funnel": [
        {"step": "=cmd", "name": "+SUM(A1)", "type": "email", "entered": {"mean": 10}}], "conversion": {}}
    cells = compare_results(results, results).to_csv_rows()[1]
    assert cells[0] == "'=cmd" and cells[1] == "'+SUM(A1)"


def test_a_step_added_between_versions() -> None:
    """Version 2 of the announcement sends a reminder before the launch text; one replica against three."""
    j1 = read_journey_text(ANNOUNCEMENT)[0]
    j2 = read_journey_text(ANNOUNCEMENT)[0]
    j2.version = 2
    j2.add_step(Step("reminder", "email", "Launch reminder", props={"content": "Product announcement email"},
                     outputs={"next": "launched"}))
    j2.step("launch").outputs["next"] = "reminder"
    _, segments = _template("announcement")
    a, b = _record(j1, segments, BehaviourModel(), 1), _record(j2, segments, BehaviourModel(), 3)
    c = compare_records(a, b)
    steps = [r["step"] for r in a.results["funnel"]]
    assert [r.step for r in c.rows] == steps + ["reminder"]
    new = c.row("reminder")
    assert new.status == ONLY_B and new.name == "Launch reminder" and new.type == "email"
    sent = new.metric("sent")
    assert sent is not None and sent.a is None and sent.b.mean == _figure(b, "reminder", "sent")["mean"] > 0
    assert sent.delta is None and sent.note == ""
    same = c.row("announce").metric("sent")
    assert same is not None and same.difference is not None and same.difference.method == "unpaired"
    diffs = {k: (va, vb) for k, va, vb in assumption_differences(a, b)}
    assert diffs["journey.version"] == (1, 2) and diffs["replicas"] == (1, 3)
    back = compare_records(b, a)
    assert back.row("reminder").status == ONLY_A and [r.step for r in back.rows][-1] == "end"
    assert "Launch reminder (email)  [only in B]" in c.text_table()


def test_results_documents_compare_without_records() -> None:
    a = {"replicas": 1, "contacts": 1000, "entries": {"mean": 100}, "funnel": [
        {"step": "s", "name": "Mail", "type": "email", "entered": {"mean": 100, "low": 100, "high": 100},
         "opened": {"mean": 20.0, "low": 20.0, "high": 20.0}, "clicked": {"mean": 0, "low": 0, "high": 0}}],
        "conversion": {"mean": 0.1, "low": 0.1, "high": 0.1}}
    b = {**a, "funnel": [{**a["funnel"][0], "opened": {"mean": 24.0, "low": 24.0, "high": 24.0}}],
         "conversion": {"mean": None}}
    c = compare_results(a, b)
    row = c.row("s")
    assert [m.metric for m in row.metrics] == ["entered", "opened"]  # zero in both: left out
    opened = row.metric("opened")
    assert opened.delta == 4.0 and opened.relative == pytest.approx(0.2)
    assert not opened.significant  # 20 % against 24 % of 100 contacts is within noise, one replica or not
    assert c.conversion.b is None and c.conversion.difference is None and c.assumptions == ()
    with pytest.raises(ValueError, match="run B has no funnel to compare"):
        compare_results(a, {"replicas": 1})
    with pytest.raises(KeyError, match="neither run has a step 'x'"):
        c.row("x")
    assert NO_INTERVAL  # (kept for figures a run cannot interval)


def test_assumptions_read_as_people_write_them() -> None:
    a, _ = _behaviour_pair()
    b = replace(a, seed=9, horizon=a.horizon - 86_400, population={**a.population, "contacts": 5000})
    diffs = assumption_differences(a, b)
    assert [k for k, _, _ in diffs] == ["population.contacts", "seed", "horizon"]
    assert assumption_value("horizon", diffs[2][1]).endswith(" UTC") and "-" in assumption_value("horizon", 0)
    assert assumption_value("behaviour.channels.email.open", 0.2133) == "21.33%"
    assert assumption_value("behaviour.channels.email.open_median", 10800) == "3 h"
    assert assumption_value("behaviour.event_rates.purchase", 0.002) == "0.2% a day"
    assert assumption_value("population.profile.buyers", 0.593) == "59.3%"
    assert assumption_value("population.as_of", 1796112000).startswith("2026-")
    assert assumption_label("behaviour.channels.sms.click") == "sms click rate"
    assert assumption_differences(a, a) == []
