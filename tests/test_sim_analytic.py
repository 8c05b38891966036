"""Figures known in closed form fall inside the replicas' 95 % intervals; exact rules hold to the second."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import numpy as np

from app.codec.yamlio import read_journey_file
from app.model.journey import Audience, Journey, QuietHours, Schedule, Step, Trigger
from app.model.registry import END
from app.resources import resource_path
from simulator.behaviour import BehaviourModel, contact_modifiers, probability
from simulator.engine import run
from app.semantics.plan import compile_plan
from simulator.population import SegmentSpec
from simulator.replicas import Estimate, simulate
from app.semantics.timezones import local_to_utc, utc_offset
from tests.sim_populations import synthetic

START = datetime(2027, 1, 11, 9, 0)
N, K = 20_000, 20


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def inside(est: Estimate, index: int | None, expected: float) -> bool:
    lo, hi = (float(est.low), float(est.high)) if index is None else (float(est.low[index]), float(est.high[index]))
    return lo <= expected <= hi


def near(est: Estimate, index: int, expected: float, z: float = 4.0) -> bool:
    """Within z standard errors of the replicas' mean (a check that fails by chance about once in 15,000)."""
    return abs(float(est.mean[index]) - expected) <= z * float(est.sd[index]) / math.sqrt(K)


def chain(*steps: Step, **settings: object) -> Journey:
    j = Journey("j", "Test", schedule=Schedule(START, START + timedelta(days=40), "Europe/Paris"), **settings)  # type: ignore[arg-type]
    for s in steps:
        j.add_step(s)
    return j


def plain_behaviour() -> BehaviourModel:
    """Every contact alike, no background events: probabilities are exactly the channel figures."""
    return replace(BehaviourModel().neutral(), event_rates={})


def test_announcement_yes_share_is_delivery_open_click_times_delay_within_a_day() -> None:
    j = read_journey_file(resource_path("templates", "announcement.yaml"))[0]
    plan = compile_plan(j)
    b = plain_behaviour()
    email = replace(b.channels["email"], click_median=1, click_sigma=0.0, conversion=0.0)
    b = replace(b, channels={**b.channels, "email": email})
    pop = synthetic(plan, N, 3, {"Most valuable customers": SegmentSpec(1.0), "Do not contact": SegmentSpec(0.0),
                                 "Unsubscribed": SegmentSpec(0.0)})
    res = simulate(plan, pop, b, 17, K)
    i = plan.step_names().index("clicked")
    assert res.estimates["funnel.entered"].mean[i] == N
    # clicked at send + 60 s delivery + open delay (whole seconds) + 1 s; yes when that is within 86 400 s
    p_delay = phi(math.log(86_339.5 / email.open_median) / email.open_sigma)
    expected = N * email.delivery * email.open * email.click * p_delay
    assert inside(res.estimates["funnel.yes"], i, expected), (res.estimates["funnel.yes"].mean[i], expected)
    assert inside(res.estimates["funnel.no"], i, N - expected)


def test_split_30_70_and_holdout_shares() -> None:
    j = chain(Step("split", "random-split", props={"split": (27, 63), "holdout": 10},
                   outputs={"A": END, "B": END}))
    plan = compile_plan(j)
    pop = synthetic(plan, N, 4)
    res = simulate(plan, pop, plain_behaviour(), 5, K)
    assert inside(res.estimates["funnel.path_A"], 0, 0.27 * N)
    assert inside(res.estimates["funnel.path_B"], 0, 0.63 * N)
    assert inside(res.estimates["funnel.holdout"], 0, 0.10 * N)
    j2 = chain(Step("split", "ab-split", props={"split": (30, 70), "holdout": 0}, outputs={"A": END, "B": END}))
    res2 = simulate(compile_plan(j2), pop, plain_behaviour(), 5, K)
    assert inside(res2.estimates["funnel.path_A"], 0, 0.3 * N)
    assert res2.estimates["funnel.holdout"].mean[0] == 0


def test_exit_on_purchase_during_a_wait_is_one_minus_exp_rate_times_duration() -> None:
    j = chain(Step("w", "wait", props={"duration": timedelta(days=10)}, outputs={"next": END}),
              exit_when=(Trigger(event="purchase"),), goal=Trigger(event="purchase"))
    plan = compile_plan(j)
    b = replace(plain_behaviour(), event_rates={"purchase": 0.01})
    pop = synthetic(plan, N, 6)
    res = simulate(plan, pop, b, 8, K)
    expected = N * (1.0 - math.exp(-0.01 * 10))
    assert inside(res.estimates["funnel.goal"], 0, expected)
    # the goal counts within its window (30 days by default) after entry, whether or not the contact has left
    assert inside(res.estimates["conversion"], None, 1.0 - math.exp(-0.01 * 30))


def test_stated_figures_are_what_the_population_realises_on_average() -> None:
    """Engagement and loyalty multiply each contact's odds; the base is calibrated so that the population's
    mean open, click, unsubscribe and conversion rates are the stated ones."""
    j = chain(Step("mail", "email", props={"content": "c"}, outputs={"next": END}))
    plan = compile_plan(j)
    b = replace(BehaviourModel(), event_rates={})
    pop = synthetic(plan, N, 9)
    rows = np.arange(N)
    e = b.channels["email"]
    res = simulate(plan, pop, b, 10, K)
    delivered = res.estimates["funnel.delivered"].mean[0]
    assert near(res.estimates["funnel.opened"], 0, delivered * e.open)
    opened = res.estimates["funnel.opened"].mean[0]
    assert near(res.estimates["funnel.clicked"], 0, opened * e.click)
    # the base for a contact whose multipliers are 1 is below the stated figure (engagement is skewed and
    # loyalty raises opens), and each contact's probability averages to the stated one
    base = res.calibration["figures"]["email"]["open"]["base"]
    assert base < e.open
    odds = contact_modifiers(b, pop, rows, (), plan.start).odds("open", rows)
    assert abs(float(np.mean(probability(base, odds))) - e.open) < 1e-4
    realised = res.realised["email"]["open"]  # this journey's recipients are everyone: the stated rate
    se = (realised["high"] - realised["low"]) / (2 * 1.96)
    assert abs(realised["mean"] - e.open) <= 4 * se


def test_wait_until_a_past_date_lets_everyone_through_at_once() -> None:
    j = chain(Step("w", "wait", props={"until": START - timedelta(days=2)}, outputs={"next": "m"}),
              Step("m", "email", props={"content": "c"}, outputs={"next": END}))
    plan = compile_plan(j)
    tr = run(plan, synthetic(plan, 500, 1), plain_behaviour(), 1)
    at_wait = tr.visits["step"] == 0
    assert at_wait.sum() == 500
    assert (tr.visits["t_enter"][at_wait] == 0).all() and (tr.visits["t_leave"][at_wait] == 0).all()


def test_wait_until_a_future_local_date_across_a_clock_change() -> None:
    until = datetime(2027, 3, 29, 9, 0)  # Paris is on summer time (UTC+2) from 28 March 2027
    j = chain(Step("w", "wait", props={"until": until}, outputs={"next": END}))
    j.update(schedule=Schedule(datetime(2027, 3, 20, 9, 0), datetime(2027, 4, 30), "Europe/Paris"))
    plan = compile_plan(j)
    assert plan.steps[0].until == local_to_utc(until, "Europe/Paris") \
        == int(datetime(2027, 3, 29, 7, tzinfo=timezone.utc).timestamp())
    tr = run(plan, synthetic(plan, 50, 1), plain_behaviour(), 1)
    assert set((tr.absolute(tr.visits["t_leave"])[tr.visits["step"] == 0]).tolist()) == {plan.steps[0].until}


def test_quiet_hours_defer_sends_to_their_end_in_each_contacts_zone() -> None:
    j = chain(Step("m", "sms", props={"content": "c"}, outputs={"next": END}))
    j.update(schedule=Schedule(datetime(2027, 1, 11, 22, 0), datetime(2027, 2, 1), "Europe/Paris",
                               QuietHours(time(21), time(8))))
    plan = compile_plan(j)
    pop = synthetic(plan, 2000, 2)
    tr = run(plan, pop, plain_behaviour(), 2)
    start = plan.start  # 21:00 UTC: 22:00 in Paris, 16:00 in New York, 06:00 next day in Tokyo
    for c, t in zip(tr.messages["contact"].tolist(), tr.absolute(tr.messages["sent"]).tolist()):
        z = int(pop.tz[c])
        zone = pop.timezones[z] if z >= 0 else "Europe/Paris"
        local = (start + utc_offset(zone, start)) % 86_400
        quiet = local >= 21 * 3600 or local < 8 * 3600
        if quiet:
            assert (t + utc_offset(zone, t)) % 86_400 == 8 * 3600 and 0 < t - start < 86_400
        else:
            assert t == start


def test_no_message_to_suppressed_even_part_way_through() -> None:
    j = chain(Step("m1", "email", props={"content": "c"}, outputs={"next": "w"}),
              Step("w", "wait", props={"duration": timedelta(days=10)}, outputs={"next": "m2"}),
              Step("m2", "email", props={"content": "c"}, outputs={"next": END}),
              audience=Audience(suppress="S"))
    plan = compile_plan(j)
    pop = synthetic(plan, 5000, 3, {"S": SegmentSpec(0.1, 0.3)}, end=plan.start + 5 * 86_400)  # 30 % join in 5 days
    b = plain_behaviour()
    b = replace(b, channels={k: replace(v, unsubscribe=0.0, hard_bounce=0.0) for k, v in b.channels.items()})  # only S
    # suppresses
    tr = run(plan, pop, b, 3)
    since = pop.segments["S"].first_at_or_after(np.arange(5000), plan.start)
    m = tr.messages
    first = m["step"] == 0
    second = m["step"] == 2
    members_at_start = (since <= plan.start).sum()
    assert first.sum() == 5000 - members_at_start
    joined = (since > plan.start) & (since < plan.start + 10 * 86_400)
    assert second.sum() == first.sum() - joined.sum()
    assert not joined[m["contact"][second]].any()
