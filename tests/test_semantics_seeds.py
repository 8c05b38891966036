"""The seeds' meanings, in closed form, for the engine and the reference interpreter alike.

- seed 000: an if/then's time limit runs from the delivery of the message it branches off ("customers have up
  to one day after receiving the email").
- a hard bounce ends delivery to that address for the rest of the run; a soft bounce does not.
- consent is per channel: an SMS STOP stops texts, not email; an email unsubscribe stops email, not texts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from app.model.journey import Journey, Schedule, Step
from app.model.registry import END
from app.semantics import outcomes as oc
from app.semantics.plan import compile_plan
from app.semantics.reference import ContactState, event_limit
from simulator.behaviour import BehaviourModel
from simulator.engine import run
from simulator.reference_run import run_reference
from tests.sim_populations import synthetic

START = datetime(2027, 3, 1, 12, 0)  # noon: no quiet hours apply
N = 5000
HOUR, DAY = 3600, 86_400
RUNS = {"engine": run, "reference": run_reference}


def chain(*steps: Step) -> Journey:
    j = Journey("j", "Seeds", schedule=Schedule(START, START + timedelta(days=30), "UTC"))
    for s in steps:
        j.add_step(s)
    return j


def behaviour(**channels: dict[str, float]) -> BehaviourModel:
    """Every contact alike, no background events, nothing unplanned (no unsubscribes, bounces, clicks)."""
    b = replace(BehaviourModel().neutral(), event_rates={})
    quiet = {k: replace(v, delivery=1.0, hard_bounce=0.0, open=0.0, click=0.0, unsubscribe=0.0, conversion=0.0)
             for k, v in b.channels.items()}
    for name, figures in channels.items():
        quiet[name] = replace(quiet[name], **figures)
    return replace(b, channels=quiet)


def outcomes(trace, plan, step: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    i = plan.step_names().index(step)
    return trace.visits["outcome"][trace.visits["step"] == i]


def visits(trace, plan, step: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    i = plan.step_names().index(step)
    v = trace.visits
    sel = v["step"] == i
    return v["t_enter"][sel].astype(np.int64), v["t_leave"][sel].astype(np.int64)


# --- seed 000: the time limit runs from delivery -----------------------------------------------------

def _branch_on_open(within: timedelta) -> Journey:
    return chain(Step("mail", "email", props={"content": "c"}, outputs={"next": "opened"}),
                 Step("opened", "if-then", props={"wait_for": {"step": "mail", "event": "opened"}, "within": within},
                      outputs={"yes": END, "no": END}))


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_open_23_5_hours_after_a_delivery_1_hour_late_is_within_one_day(engine: str) -> None:
    """Delivered 1 h after the send, every contact opens 23.5 h after delivery: all answer yes (counted from
    arrival at the if/then, the limit would have run out half an hour before every open)."""
    plan = compile_plan(_branch_on_open(timedelta(days=1)))
    b = behaviour(email={"delivery_delay": HOUR, "open": 1.0, "open_median": 23.5 * HOUR, "open_sigma": 0.0})
    tr = RUNS[engine](plan, synthetic(plan, N, 1), b, 2)
    out = outcomes(tr, plan, "opened")
    assert len(out) == N and (out == oc.YES).all()
    enter, leave = visits(tr, plan, "opened")
    assert (leave - enter == HOUR + int(23.5 * HOUR)).all()  # yes at the open


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_open_just_after_the_limit_answers_no_when_the_limit_runs_out(engine: str) -> None:
    plan = compile_plan(_branch_on_open(timedelta(days=1)))
    b = behaviour(email={"delivery_delay": HOUR, "open": 1.0, "open_median": DAY + 1, "open_sigma": 0.0})
    tr = RUNS[engine](plan, synthetic(plan, N, 1), b, 2)
    assert (outcomes(tr, plan, "opened") == oc.NO).all()
    enter, leave = visits(tr, plan, "opened")
    assert (leave - enter == HOUR + DAY).all()  # no: one day after the delivery


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_undelivered_message_ends_the_wait_one_limit_after_arrival(engine: str) -> None:
    plan = compile_plan(_branch_on_open(timedelta(hours=6)))
    b = behaviour(email={"delivery": 0.0, "delivery_delay": HOUR})
    tr = RUNS[engine](plan, synthetic(plan, N, 1), b, 2)
    assert (outcomes(tr, plan, "opened") == oc.NO).all()
    enter, leave = visits(tr, plan, "opened")
    assert (leave - enter == 6 * HOUR).all()


def test_event_limit_rules() -> None:
    assert event_limit(arrived=0, delivered=3600, seconds=DAY) == 3600 + DAY
    assert event_limit(arrived=10 * DAY, delivered=0, seconds=DAY) == DAY  # long past: decided at arrival
    assert event_limit(arrived=0, delivered=2 * DAY, seconds=DAY) == DAY  # slower than the limit: from arrival
    assert event_limit(arrived=0, delivered=1 << 62, seconds=DAY) == DAY


# --- bounces -------------------------------------------------------------------------------------------

def _two_emails() -> Journey:
    return chain(Step("first", "email", props={"content": "c"}, outputs={"next": "w"}),
                 Step("w", "wait", props={"duration": timedelta(days=2)}, outputs={"next": "second"}),
                 Step("second", "email", props={"content": "c"}, outputs={"next": END}))


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_after_a_hard_bounce_a_second_email_reaches_nobody(engine: str) -> None:
    plan = compile_plan(_two_emails())
    tr = RUNS[engine](plan, synthetic(plan, N, 3), behaviour(email={"delivery": 0.0, "hard_bounce": 1.0}), 4)
    assert (outcomes(tr, plan, "first") == oc.SENT).all()
    assert (outcomes(tr, plan, "second") == oc.SUPPRESSED).all()
    second = plan.step_names().index("second")
    m = tr.messages
    assert not (m["step"] == second).any()  # nothing sent, so nothing delivered to the dead address


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_after_a_soft_bounce_the_second_email_is_sent(engine: str) -> None:
    plan = compile_plan(_two_emails())
    tr = RUNS[engine](plan, synthetic(plan, N, 3), behaviour(email={"delivery": 0.0, "hard_bounce": 0.0}), 4)
    assert (outcomes(tr, plan, "second") == oc.SENT).all()


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_hard_bounces_are_their_share_of_the_undelivered(engine: str) -> None:
    """delivery 0.9, hard 0.04: 4 % of the first sends kill the address; the second email reaches the rest."""
    plan = compile_plan(_two_emails())
    tr = RUNS[engine](plan, synthetic(plan, N, 5), behaviour(email={"delivery": 0.9, "hard_bounce": 0.04}), 6)
    dead = int((outcomes(tr, plan, "second") == oc.SUPPRESSED).sum())
    sd = (N * 0.04 * 0.96) ** 0.5
    assert abs(dead - N * 0.04) < 5 * sd


def test_a_hard_bounce_larger_than_the_undelivered_share_is_refused() -> None:
    with pytest.raises(ValueError, match="hard_bounce"):
        BehaviourModel.from_plain({"channels": {"email": {"delivery": 0.99, "hard_bounce": 0.05}}})


# --- consent per channel ------------------------------------------------------------------------------

def _sms_email_sms() -> Journey:
    return chain(Step("text", "sms", props={"content": "t"}, outputs={"next": "w1"}),
                 Step("w1", "wait", props={"duration": timedelta(days=1)}, outputs={"next": "mail"}),
                 Step("mail", "email", props={"content": "c"}, outputs={"next": "w2"}),
                 Step("w2", "wait", props={"duration": timedelta(days=1)}, outputs={"next": "text2"}),
                 Step("text2", "sms", props={"content": "t"}, outputs={"next": "mail2"}),
                 Step("mail2", "email", props={"content": "c"}, outputs={"next": END}))


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_sms_stop_stops_texts_not_email(engine: str) -> None:
    plan = compile_plan(_sms_email_sms())
    b = behaviour(sms={"open": 1.0, "unsubscribe": 1.0, "open_median": 60, "open_sigma": 0.0,
                       "click_median": 60, "click_sigma": 0.0})
    tr = RUNS[engine](plan, synthetic(plan, N, 7), b, 8)
    assert (outcomes(tr, plan, "text") == oc.SENT).all()
    assert (outcomes(tr, plan, "mail") == oc.SENT).all()  # the SMS opt-out does not stop email
    assert (outcomes(tr, plan, "text2") == oc.SUPPRESSED).all()
    assert (outcomes(tr, plan, "mail2") == oc.SENT).all()


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_email_unsubscribe_stops_email_not_texts(engine: str) -> None:
    plan = compile_plan(_sms_email_sms())
    b = behaviour(email={"open": 1.0, "unsubscribe": 1.0, "open_median": 60, "open_sigma": 0.0,
                         "click_median": 60, "click_sigma": 0.0})
    tr = RUNS[engine](plan, synthetic(plan, N, 7), b, 8)
    assert (outcomes(tr, plan, "mail") == oc.SENT).all()
    assert (outcomes(tr, plan, "text2") == oc.SENT).all()
    assert (outcomes(tr, plan, "mail2") == oc.SUPPRESSED).all()


def test_an_unsubscribe_naming_no_channel_stops_every_channel() -> None:
    c = ContactState(1)
    c.block("sms", 100)
    assert not c.reachable("sms", 100) and c.reachable("email", 10**9)
    c.block(None, 200)
    assert all(not c.reachable(ch, 200) for ch in ("email", "sms", "push")) and c.reachable("email", 199)


def test_re_engagement_texts_non_openers_on_day_5_as_seed_002_describes() -> None:
    """Reminder, wait 5 days, opened? The limit runs from the reminder's delivery, so the SMS goes on day 5
    (plus the email's delivery delay, later only when quiet hours defer it), not on day 10."""
    from app.codec.yamlio import read_journey_file
    from app.resources import resource_path

    j = read_journey_file(resource_path("templates", "re-engagement.yaml"))[0]
    plan = compile_plan(j)
    b = behaviour(email={"open": 0.0})
    tr = run(plan, synthetic(plan, 3000, 9), b, 10)
    m = tr.messages
    names = plan.step_names()
    reminder = dict(zip(m["contact"][m["step"] == names.index("reminder")].tolist(),
                        m["sent"][m["step"] == names.index("reminder")].tolist()))
    sms = m["step"] == names.index("sms")
    assert sms.sum() > 1000
    gaps = np.array([t - reminder[c] for c, t in zip(m["contact"][sms].tolist(), m["sent"][sms].tolist())])
    delay = b.channels["email"].delivery_delay
    assert (gaps >= 5 * DAY + delay).all() and (gaps < 5 * DAY + delay + 13 * HOUR).all()
    assert np.median(gaps) == 5 * DAY + delay


# --- seed 000: which link ------------------------------------------------------------------------------

def _branch_on_link(link: str | None) -> Journey:
    wait_for = {"step": "mail", "event": "link_clicked"} | ({"link": link} if link else {})
    return chain(Step("mail", "email", props={"content": "Launch"}, outputs={"next": "clicked"}),
                 Step("clicked", "if-then", props={"wait_for": wait_for, "within": timedelta(days=1)},
                      outputs={"yes": END, "no": END}))


def _clicking() -> BehaviourModel:
    return behaviour(email={"open": 1.0, "click": 1.0, "open_median": 60, "open_sigma": 0.0, "click_median": 60,
                            "click_sigma": 0.0})


LAUNCH = {"Launch": {"kind": "email", "links": ["product", "blog", "store", "help"]}}


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_if_then_on_a_named_link_answers_yes_only_for_clicks_on_that_link(engine: str) -> None:
    """Everyone clicks one of four links (chosen alike): about a quarter clicked 'product'."""
    plan = compile_plan(_branch_on_link("product"), content=LAUNCH)
    assert plan.steps[plan.step_names().index("mail")].links == ("product", "blog", "store", "help")
    tr = RUNS[engine](plan, synthetic(plan, N, 11), _clicking(), 12)
    yes = int((outcomes(tr, plan, "clicked") == oc.YES).sum())
    sd = (N * 0.25 * 0.75) ** 0.5
    assert abs(yes - N / 4) < 5 * sd, yes


@pytest.mark.parametrize("engine", sorted(RUNS))
def test_an_if_then_on_any_link_answers_yes_for_every_click(engine: str) -> None:
    plan = compile_plan(_branch_on_link(None), content=LAUNCH)
    tr = RUNS[engine](plan, synthetic(plan, N, 11), _clicking(), 12)
    assert (outcomes(tr, plan, "clicked") == oc.YES).all()


def test_a_link_the_email_does_not_have_is_never_clicked() -> None:
    plan = compile_plan(_branch_on_link("nowhere"), content=LAUNCH)
    tr = run(plan, synthetic(plan, N, 11), _clicking(), 12)
    assert (outcomes(tr, plan, "clicked") == oc.NO).all()


def test_without_content_a_message_has_the_links_its_if_thens_name() -> None:
    plan = compile_plan(_branch_on_link("product"))
    assert plan.steps[plan.step_names().index("mail")].links == ("product",)
    tr = run(plan, synthetic(plan, N, 11), _clicking(), 12)
    assert (outcomes(tr, plan, "clicked") == oc.YES).all()


def test_the_engine_and_the_interpreter_pick_the_same_link_for_each_contact() -> None:
    plan = compile_plan(_branch_on_link("blog"), content=LAUNCH)
    pop = synthetic(plan, 2000, 13)
    a, b = run(plan, pop, _clicking(), 14), run_reference(plan, pop, _clicking(), 14)
    def yes(tr):  # type: ignore[no-untyped-def]
        i = plan.step_names().index("clicked")
        v = tr.visits
        return set(v["contact"][(v["step"] == i) & (v["outcome"] == oc.YES)].tolist())
    assert yes(a) == yes(b) and 300 < len(yes(a)) < 700


# --- one definition of a goal ----------------------------------------------------------------------------

@pytest.mark.parametrize("engine", sorted(RUNS))
def test_the_goal_counts_within_its_window_after_entry_whether_or_not_the_contact_has_left(engine: str) -> None:
    """Everybody completes the one-step journey at entry; purchases at 0.01 a day still count for 10 days."""
    from app.model.journey import Trigger

    j = chain(Step("mail", "email", props={"content": "c"}, outputs={"next": END}))
    j.goal = Trigger(event="purchase", within=timedelta(days=10))
    plan = compile_plan(j)
    assert plan.goal_window == 10 * DAY
    b = replace(behaviour(), event_rates={"purchase": 0.01})
    tr = RUNS[engine](plan, synthetic(plan, N, 21), b, 22)
    u = tr.units
    assert (u["outcome"] == oc.COMPLETED).all()
    reached = int((u["goal"] >= 0).sum())
    p = 1 - np.exp(-0.01 * 10)
    assert abs(reached - N * p) < 5 * (N * p * (1 - p)) ** 0.5
    goal_after_entry = tr.absolute(u["goal"][u["goal"] >= 0]) - tr.absolute(u["entered"][u["goal"] >= 0])
    assert (goal_after_entry <= 10 * DAY).all()


def test_the_goal_window_defaults_to_30_days_and_reads_from_the_journey_file() -> None:
    from app.codec.yamlio import read_journey_text
    from app.errors import FormatError

    base = ("format: journey/1\nname: G\nschedule: {start: 2027-01-01T09:00, timezone: UTC}\n"
            "steps:\n  w: {type: wait, duration: 1d}\n")
    assert compile_plan(read_journey_text(base + "goal: {event: purchase}\n")[0]).goal_window == 30 * DAY
    j = read_journey_text(base + "goal: {event: purchase, within: 7d}\n")[0]
    assert j.goal is not None and j.goal.within == timedelta(days=7)
    for bad, says in (("goal: {event: purchase, within: 400d}\n", "366 days"),
                      ("goal: {event: purchase, within: 0s}\n", "366 days"),
                      ("exit_when: [{event: purchase, within: 7d}]\n", "within")):
        with pytest.raises(FormatError, match=says):
            read_journey_text(base + bad)
