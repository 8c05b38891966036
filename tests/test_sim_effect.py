"""The journey's own effect: every run is paired with the same contacts without the journey (same seeds, same
events of their own), and reports per event the share with the journey, without it and the difference. Closed
forms hold inside the 95 % intervals; a journey that sends nothing causes nothing; A/B paths show their lift
against the holdout; the re-engagement template enters nobody who bought in the 60 days before."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.audience.base import DAY
from app.codec.yamlio import read_journey_file
from app.model.attributes import INTERACTION_KINDS
from app.model.journey import Journey, Schedule, Step, Trigger
from app.model.registry import END, REGISTRY
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from simulator.branches import ab_figures
from simulator.engine import run
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.report import render_report
from simulator.runs import RunRecord
from simulator.world import build_world
from tests.cli_helpers import run as run_cli

START = datetime(2027, 3, 1, 9)
H = 30  # days
RATE = 0.002  # background purchases per contact per day


def _journey(*steps: Step, days: int = H) -> Journey:
    j = Journey("j", "One email", schedule=Schedule(START, START + timedelta(days=days), "UTC"),
                goal=Trigger(event="purchase"))
    for s in steps:
        j.add_step(s)
    return j


def _email(sid: str = "mail", nxt: str = END) -> Step:
    return Step(sid, "email", props={**REGISTRY["email"].defaults(), "content": "c"}, outputs={"next": nxt})


def _neutral(rate: float = RATE) -> BehaviourModel:
    """No engagement effects or multipliers: every contact alike, so the closed forms are exact."""
    return replace(BehaviourModel().neutral(), event_rates={"purchase": rate})


def inside(f: dict, expected: float) -> bool:  # type: ignore[type-arg]
    return f["low"] <= expected <= f["high"]


def test_one_email_causes_delivery_open_click_conversion_times_no_purchase_anyway() -> None:
    """Incremental purchase share = P(delivered) P(open) P(click | open) P(conversion | click) e^(-rH): the journey
    only counts when the contact would not have bought anyway within the window."""
    plan = compile_plan(_journey(_email()))
    b = _neutral()
    res = simulate(plan, population_for(plan, 100_000, 3), b, 3, 2)
    e, ch = res.effect["purchase"], b.channels["email"]
    anyway = 1 - math.exp(-RATE * H)
    caused = ch.delivery * ch.open * ch.click * ch.conversion * math.exp(-RATE * H)
    assert inside(e["incremental"], caused), (e["incremental"], caused)
    assert inside(e["without_journey"], anyway) and inside(e["with_journey"], anyway + caused)
    unsubscribed = res.effect["unsubscribed"]  # nobody unsubscribes on their own here: all of it is the journey's
    assert unsubscribed["without_journey"]["mean"] == 0.0
    assert inside(unsubscribed["incremental"], ch.delivery * ch.unsubscribe)
    assert res.goal == "purchase" and list(res.effect)[0] == "purchase"


def test_a_journey_that_sends_nothing_causes_nothing() -> None:
    j = _journey(Step("w", "wait", props={"duration": timedelta(days=3)}, outputs={"next": END}))
    plan = compile_plan(j)
    res = simulate(plan, population_for(plan, 5000, 4), replace(BehaviourModel(), event_rates={
        "purchase": 0.01, "web_visit": 0.05}), 4, 2)
    for event, f in res.effect.items():
        assert f["incremental"] == {"mean": 0.0, "low": 0.0, "high": 0.0}, event
        assert f["with_journey"] == f["without_journey"], event
    assert res.effect["purchase"]["with_journey"]["mean"] > 0.1  # they buy all the same


def test_the_twin_is_paired_contact_by_contact() -> None:
    """Without the journey, each contact does exactly what it does on its own in the run with the journey."""
    j, _, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    plan = compile_plan(j)
    pop = population_for(plan, 3000, 5, definitions={s.name: s for s in segments})
    b = BehaviourModel()
    b = replace(b, channels={k: replace(v, click=0.5, conversion=0.5) for k, v in b.channels.items()})
    world = build_world(plan, pop, b, 5)
    tr = run(plan, pop, b, 5, world=world)
    u = tr.units
    names = tr.meta["effect_events"]
    j_purchase = names.index("purchase")
    rows = u["contact"].astype(np.int64)
    entered = tr.absolute(u["entered"])
    own = world.event_first("purchase", rows, entered, 0)
    without = (u["effect_without"] >> j_purchase) & 1
    assert np.array_equal(without.astype(bool), own < plan.goal_deadline(entered, plan.horizon))  # in its window
    with_ = ((u["effect_with"] >> j_purchase) & 1).astype(bool)
    bought_on_journey = tr.messages["converted"] >= 0
    converters = set(tr.messages["contact"][bought_on_journey].tolist())
    gained = set(rows[with_ & ~without.astype(bool)].tolist())
    assert gained and gained <= converters  # what the journey adds is its own conversions


def test_ab_paths_show_their_lift_against_the_holdout() -> None:
    j = _journey(Step("split", "ab-split", props={"split": (45, 45), "holdout": 10},
                      outputs={"A": "mail", "B": END}), _email())
    plan = compile_plan(j)
    b = _neutral()
    res = simulate(plan, population_for(plan, 60_000, 6), b, 6, 1)
    test, = ab_figures(res.trace, plan, res.to_json())
    assert test.holdout is not None and test.holdout.trials > 4000
    lift_a, lift_b = test.lifts
    ch = b.channels["email"]
    caused = ch.delivery * ch.open * ch.click * ch.conversion * math.exp(-RATE * H)
    assert lift_a.version == "A" and lift_a.low <= caused <= lift_a.high
    assert lift_b.version == "B" and lift_b.low <= 0.0 <= lift_b.high  # B sends nothing


def test_the_re_engagement_audience_never_bought_in_the_60_days_before_entering() -> None:
    """'No purchase in 60 days' evaluated on the contacts' history and their own purchases in the run: nobody
    enters within 60 days of a purchase, and contacts join when the 60 days have passed."""
    j, _, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    plan = compile_plan(j)
    pop = population_for(plan, 20_000, 8, definitions={s.name: s for s in segments})
    b = replace(BehaviourModel(), event_rates={**BehaviourModel().event_rates, "purchase": 0.01})
    world = build_world(plan, pop, b, 8)
    tr = run(plan, pop, b, 8, world=world)
    rows = tr.units["contact"].astype(np.int64)
    entered = tr.absolute(tr.units["entered"])
    assert len(rows) > 1000 and (entered > plan.start).sum() > 200  # some join part-way
    base = pop.source.base
    inter = base.interactions
    buys = inter.kind == INTERACTION_KINDS.index("purchase")
    history = {}
    for who, at in zip(inter.contact[buys].tolist(), inter.at[buys].tolist()):
        history.setdefault(who, []).append(at)
    seq = world.sequences["purchase"]
    for who, at in zip(seq.owner.tolist(), seq.at.tolist()):
        history.setdefault(who, []).append(at)
    for row, t in zip(rows.tolist(), entered.tolist()):
        recent = [at for at in history.get(row, []) if t - 60 * DAY <= at < t]
        assert not recent, f"contact row {row} entered at {t} after buying at {recent}"
    # a purchase in the run delays entry: some entrants bought during the run, before they joined
    in_run = {w for w in seq.owner.tolist()}
    late = {r for r, t in zip(rows.tolist(), entered.tolist()) if t > plan.start}
    assert in_run & late


def test_simulate_json_carries_the_effect_and_the_report_leads_with_it(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p.jstudio"
    assert run_cli(capsys, "new", project)[0] == 0
    assert run_cli(capsys, "import", project, resource_path("templates", "re-engagement.yaml"))[0] == 0
    out_json = tmp_path / "run.json"
    code, out, err = run_cli(capsys, "simulate", project, "--journey", "Re-engagement", "--contacts", "4000",
                             "--seed", "3", "--replicas", "2", "--json", out_json)
    assert code == 0, err
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["goal"] == "purchase" and doc["population_per_replica"] is True
    for event, f in doc["effect"].items():
        assert set(f) == {"with_journey", "without_journey", "incremental"}, event
        for part in f.values():
            assert set(part) == {"mean", "low", "high"} and part["low"] <= part["mean"] <= part["high"]
        assert f["incremental"]["mean"] == pytest.approx(f["with_journey"]["mean"] - f["without_journey"]["mean"],
                                                         abs=2e-6)
    lines = out.splitlines()
    assert lines[1].startswith("Caused by the journey: it adds ") and "points of purchase (the goal)" in lines[1]
    figures = doc["behaviour_figures"]["email"]["open"]
    assert figures["stated"] == 0.2133 and figures["realised"]["mean"] > 0.25  # the consenting are more engaged
    code, _, err = run_cli(capsys, "report", project, "--run", "1", "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.index('id="effect"') < page.index('id="headline"') < page.index('id="funnel"')
    assert "It adds " in page and "would without it" in page and "Stated and realised" in page


def test_report_of_a_run_without_the_twin_says_so() -> None:
    j = _journey(_email())
    plan = compile_plan(j)
    res = simulate(plan, population_for(plan, 500, 1), BehaviourModel(), 1, 1)
    rec = RunRecord.from_result(res, j, population_for(plan, 500, 1).spec, BehaviourModel(), chunk_size=1000)
    rec.results = {k: v for k, v in rec.results.items() if k != "effect"}  # as saved by an earlier version
    page = render_report(rec)
    assert "saved before runs measured the journey" in page
