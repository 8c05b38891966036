"""Branch and A/B figures agree with counting the trace row by row, and the z-test with its textbook formula."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.codec.yamlio import read_journey_file
from app.model.journey import Frequency, Journey, Schedule, Step, Trigger
from app.model.registry import END
from app.resources import resource_path
from app.semantics import outcomes as oc
from simulator.behaviour import BehaviourModel
from simulator.branches import AB_METRICS, ab_figures, branch_figures, two_proportions
from app.semantics.plan import Plan, compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.trace import Trace

START = datetime(2027, 1, 11, 9, 0)


def journey(*steps: Step, **settings: Any) -> Journey:
    j = Journey("j", "Branches", schedule=Schedule(START, START + timedelta(days=30), "Europe/Paris"), **settings)
    for s in steps:
        j.add_step(s)
    return j


def if_then_journey() -> Journey:
    """The re-engagement template: email, wait 5 days, opened? offer : SMS; exit (and goal) on a purchase."""
    return read_journey_file(resource_path("templates", "re-engagement.yaml"))[0]


def random_split_journey() -> Journey:
    """Repeating, goal not an exit (it may come before the split); an instant if/then on a condition right after
    an email sent at the same second; a split with a holdout and a path straight to the end."""
    return journey(
        Step("mail", "email", "Welcome", props={"content": "c"}, outputs={"next": "gold"}),
        Step("gold", "if-then", "Gold or platinum?", props={"condition": {
            "attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]}},
            outputs={"yes": "split", "no": "nudge"}),
        Step("nudge", "sms", "Nudge", props={"content": "t"}, outputs={"next": "split"}),
        Step("split", "random-split", "Spread", props={"split": (40, 35), "holdout": 25},
             outputs={"A": "wait", "B": END}),
        Step("wait", "wait", "Wait a day", props={"duration": timedelta(days=1)}, outputs={"next": "offer"}),
        Step("offer", "push", "Offer", props={"content": "p"}, outputs={"next": END}),
        frequency=Frequency("repeating", timedelta(days=7), 3), goal=Trigger(event="purchase"))


def ab_journey() -> Journey:
    """An A/B test of two emails (B opens better), three versions in the second test, exit on a purchase."""
    return journey(
        Step("ab", "ab-split", "Subject test", props={"split": (50, 50)}, outputs={"A": "mail_a", "B": "mail_b"}),
        Step("mail_a", "email", "Subject A", props={"content": "a"}, outputs={"next": "clicked"}),
        Step("mail_b", "email", "Subject B", props={"content": "b"}, outputs={"next": "clicked"}),
        Step("clicked", "if-then", "Clicked?", props={"wait_for": {"event": "opened", "step": "mail_a"},
                                                       "within": timedelta(days=3)},
             outputs={"yes": "ab3", "no": END}),
        Step("ab3", "ab-split", "Offer test", props={"split": (30, 30, 30), "holdout": 10},
             outputs={"A": "sms", "B": "push", "C": END}),
        Step("sms", "sms", "Offer text", props={"content": "s"}, outputs={"next": END}),
        Step("push", "push", "Offer push", props={"content": "p"}, outputs={"next": END}),
        goal=Trigger(event="purchase"), exit_when=(Trigger(event="purchase"),))


def ab_behaviour() -> BehaviourModel:
    b = BehaviourModel()
    return replace(b, messages={"mail_b": {"open": 0.45, "click": 0.3}}, event_rates={"purchase": 0.01})


def run(j: Journey, n: int = 3000, replicas: int = 1, behaviour: BehaviourModel | None = None,
        seed: int = 4) -> tuple[Trace, Plan, dict[str, Any]]:
    plan = compile_plan(j)
    res = simulate(plan, population_for(plan, n, seed), behaviour or BehaviourModel(), seed, replicas, chunk_size=700)
    return res.trace, plan, res.to_json()


def brute_force(trace: Trace, step: int, codes: dict[int, str]) -> dict[str, dict[str, int]]:
    """Per port: rows taking it and what followed, one trace row at a time."""
    v, m, u = trace.visits, trace.messages, trace.units
    units = {(c, i): (g, o) for c, i, g, o in zip(u["contact"].tolist(), u["iteration"].tolist(),
                                                   u["goal"].tolist(), u["outcome"].tolist())}
    msgs: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
    for c, i, s, d, o, k in zip(m["contact"].tolist(), m["iteration"].tolist(), m["step"].tolist(),
                                m["delivered"].tolist(), m["opened"].tolist(), m["clicked"].tolist()):
        msgs[(c, i)].append((s, d, o, k))
    out = {p: dict.fromkeys(("taken", "messaged", "delivered", "opened", "clicked", "goal", "exited"), 0)
           for p in codes.values()}
    for c, i, s, t_leave, o in zip(v["contact"].tolist(), v["iteration"].tolist(), v["step"].tolist(),
                                   v["t_leave"].tolist(), v["outcome"].tolist()):
        if s != step or o not in codes:
            continue
        f = out[codes[o]]
        f["taken"] += 1
        goal, outcome = units[(c, i)]
        f["goal"] += goal >= 0 and goal >= t_leave
        f["exited"] += outcome in (oc.EXITED, oc.GOAL)
        later = sorted(x for x in msgs[(c, i)] if x[0] > step)
        if later:
            _, d, op, k = later[0]
            f["messaged"] += 1
            f["delivered"] += d >= 0
            f["opened"] += op >= 0
            f["clicked"] += k >= 0
    return out


def codes_of(plan: Plan, index: int) -> dict[int, str]:
    step = plan.steps[index]
    if step.type == "if-then":
        return {oc.YES: "yes", oc.NO: "no"}
    codes = {oc.path(i): p for i, p in enumerate(step.ports)}
    if step.thresholds[-1] < 1.0:
        codes[oc.HOLDOUT] = "holdout"
    return codes


@pytest.mark.parametrize("make", [if_then_journey, random_split_journey, ab_journey])
def test_branch_figures_equal_counting_the_trace(make: Any) -> None:
    tr, plan, results = run(make(), behaviour=ab_behaviour() if make is ab_journey else None)
    branches = branch_figures(tr, plan, results)
    expected_steps = [s.id for s in plan.steps if s.type in ("if-then", "random-split", "ab-split")]
    assert [b.step for b in branches] == expected_steps
    for b in branches:
        truth = brute_force(tr, b.index, codes_of(plan, b.index))
        assert [p.port for p in b.paths] == list(truth)
        for p in b.paths:
            got = {k: getattr(p, k) for k in truth[p.port]}
            assert got == truth[p.port], (b.step, p.port)
            # one replica: the contacts are replica 0's, equal to the funnel's figure
            assert p.contacts.mean == p.contacts.low == p.contacts.high == p.taken
        assert sum(p.taken for p in b.paths) == sum(1 for s, o in zip(tr.visits["step"].tolist(),
                                                                      tr.visits["outcome"].tolist())
                                                    if s == b.index and o in codes_of(plan, b.index))
    # the figures are not trivial: some contacts take every port, and some do something afterwards
    assert all(p.taken > 0 for b in branches for p in b.paths)
    assert any(p.opened > 0 for b in branches for p in b.paths)
    assert any(p.goal > 0 for b in branches for p in b.paths)


def test_random_split_details() -> None:
    tr, plan, results = run(random_split_journey())
    gold, split = branch_figures(tr, plan, results)
    assert [p.label for p in split.paths] == ["A (40 %)", "B (35 %)", "Holdout (25 %)"]
    assert [p.leads_to for p in split.paths] == ["Wait a day", "end", ""]
    assert [p.leads_to for p in gold.paths] == ["Spread", "Nudge"]
    a, b, held = split.paths
    assert a.messaged > 0 and b.messaged == held.messaged == 0  # only path A has a message after the split
    assert held.exited == 0 and held.goal > 0  # held out: not an exit, but the goal still counts
    # the 'no' side is sent the nudge right after the branch (unless suppressed); 'yes' only on path A
    yes, no = gold.paths
    nudge = next(r for r in results["funnel"] if r["step"] == "nudge")
    # (a contact the nudge's channel cannot reach may still get a later message on another channel)
    assert nudge["sent"]["mean"] <= no.messaged < no.taken == nudge["entered"]["mean"]
    assert yes.messaged == brute_force(tr, gold.index, {oc.YES: "yes"})["yes"]["messaged"] < yes.taken
    assert len(set(tr.units["iteration"].tolist())) == 3


def test_contacts_take_the_replicas_interval_from_the_results() -> None:
    tr, plan, results = run(random_split_journey(), n=1500, replicas=3)
    _, split = branch_figures(tr, plan, results)
    row = next(r for r in results["funnel"] if r["step"] == "split")
    for p, key in zip(split.paths, ("path_A", "path_B", "holdout")):
        assert (p.contacts.mean, p.contacts.low, p.contacts.high) == (row[key]["mean"], row[key]["low"],
                                                                      row[key]["high"])
        assert p.contacts.low < p.contacts.mean < p.contacts.high
    assert split.replicas == 3
    # without results: replica 0's counts
    _, bare = branch_figures(tr, plan)
    assert [p.contacts.mean for p in bare.paths] == [p.taken for p in split.paths]


def test_ab_figures_equal_counting_the_trace() -> None:
    tr, plan, results = run(ab_journey(), n=4000, behaviour=ab_behaviour())
    first, second = ab_figures(tr, plan, results)
    assert (first.step, second.step) == ("ab", "ab3")
    assert "replica 0" in first.note
    truth = brute_force(tr, first.index, {oc.path(0): "A", oc.path(1): "B"})
    a, b = first.versions
    assert (a.message, b.message) == ("Subject A", "Subject B")
    for v in (a, b):
        t = truth[v.port]
        assert v.taken == t["taken"]
        assert (v.open_rate.successes, v.open_rate.trials) == (t["opened"], t["delivered"])
        assert (v.click_rate.successes, v.click_rate.trials) == (t["clicked"], t["delivered"])
        assert (v.conversion.successes, v.conversion.trials) == (t["goal"], t["taken"])
    # B opens far better: the difference is positive, its interval excludes 0 and the test says so
    d = next(x for x in first.differences if x.metric == "open_rate")
    assert (d.version, d.baseline) == ("B", "A")
    assert d.difference == pytest.approx(b.open_rate.value - a.open_rate.value)
    assert 0 < d.low < d.difference < d.high and d.p_value < 1e-6
    assert {x.metric for x in first.differences} == set(AB_METRICS)
    # three versions (the holdout is no version): B and C each against A
    assert [v.port for v in second.versions] == ["A", "B", "C"]
    assert [(x.version, x.metric) for x in second.differences] == [(v, m) for v in "BC" for m in AB_METRICS]
    c = second.versions[2]
    assert c.message == "" and c.open_rate.trials == 0 and math.isnan(c.open_rate.value)
    diff_c = next(x for x in second.differences if x.version == "C" and x.metric == "open_rate")
    assert math.isnan(diff_c.p_value)
    assert ab_figures(*run(random_split_journey(), n=300)[:2]) == []


def test_two_proportions_matches_the_textbook_formula() -> None:
    # 120/1000 against 150/1000: pooled p 0.135
    d, lo, hi, z, p = two_proportions(120, 1000, 150, 1000)
    se0 = math.sqrt(0.135 * 0.865 * (2 / 1000))
    assert d == pytest.approx(0.03) and z == pytest.approx(0.03 / se0)
    assert p == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2)))))
    half = 1.959964 * math.sqrt(0.12 * 0.88 / 1000 + 0.15 * 0.85 / 1000)
    assert (lo, hi) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-6)
    # the pooled z-test is Pearson's chi-square test of the 2x2 table: z squared is its statistic
    table = ((120, 880), (150, 850))
    rows, cols = [sum(r) for r in table], [sum(c) for c in zip(*table)]
    chi2 = sum((table[i][j] - rows[i] * cols[j] / 2000) ** 2 / (rows[i] * cols[j] / 2000)
               for i in range(2) for j in range(2))
    assert z * z == pytest.approx(chi2) and p == pytest.approx(0.04964, abs=1e-5)
    assert two_proportions(0, 50, 0, 70)[3:] == (0.0, 1.0)
    assert all(math.isnan(x) for x in two_proportions(3, 0, 1, 10))
