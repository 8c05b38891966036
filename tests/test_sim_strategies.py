"""Hypothesis strategies for simulator tests: random valid DAG journeys, small populations, lively behaviour.

Journeys use every tile type of the registry: messages on each channel, waits for a duration or until a date
(past or future), if/then on an earlier message's events, on a condition or a segment, A/B and random splits
with holdouts, actions and exits; links only lead forward, so every journey is a DAG. Settings vary: contacts
or accounts, one-time / ongoing / repeating, time zones across a DST change, quiet hours, frequency caps,
audience with union or intersection, exclusion, suppression, minimum consent, goals and exits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.attributes import MESSAGE_EVENTS
from app.model.journey import (Audience, Frequency, FrequencyCap, Journey, QuietHours, Schedule, Step, Trigger)
from app.model.registry import END, REGISTRY
from app.audience.profile import PopulationProfile
from app.audience.timesets import NEVER, TimeSet
from app.model.segment import Segment
from simulator.behaviour import BehaviourModel
from app.semantics.plan import compile_plan
from simulator.population import Population, SegmentSpec, assumed_membership, population_for

START = datetime(2027, 3, 20, 9, 0)  # Europe and the US change their clocks within the next weeks
ZONES = ("Europe/Paris", "America/New_York", "UTC", "Australia/Sydney", "Asia/Tokyo")
SEGMENTS = ("A", "B", "X", "S", "V", "P")
# P has a definition: it is evaluated over time, with the contacts' purchases in the run fed back
DEFINITIONS = {"P": Segment("P", query={"blocks": [{"root": "interactions", "where": {"all": [
    {"attribute": "kind", "op": "equals", "value": "purchase"}, {"attribute": "at", "op": "in_last_days",
                                                                  "value": 3}]}}]})}
CHANNELS = {"email": "email", "sms": "sms", "push": "push"}
KINDS = ("email", "sms", "push", "wait", "wait-until", "if-event", "if-condition", "if-segment", "ab-split",
         "random-split", "task", "webhook", "lead", "workflow", "exit")
CONDITIONS = (
    {"attribute": "lifetime_value", "op": "greater_than", "value": 150},
    {"attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]},
    {"attribute": "country", "op": "equals", "value": "fr"},
    {"attribute": "last_purchase_date", "op": "in_last_days", "value": 30},
    {"attribute": "account.size", "op": "contains_data"},
    {"attribute": "language", "op": "begins_with", "value": "E"},
    {"attribute": "lifetime_value", "op": "between", "value": [20, 400]},
)


@st.composite
def journeys(draw: Any, *, max_steps: int = 7) -> Journey:
    """A random valid journey whose links only lead forward."""
    n = draw(st.integers(2, max_steps))
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(n)]
    tz = draw(st.sampled_from(ZONES))
    days = draw(st.integers(6, 30))
    freq = draw(st.sampled_from(("one-time", "ongoing", "repeating")))
    frequency = Frequency(freq) if freq != "repeating" else Frequency(
        "repeating", timedelta(days=draw(st.integers(2, 5))), draw(st.integers(2, 3)))
    quiet = draw(st.sampled_from((None, QuietHours(time(21), time(8)), QuietHours(time(12), time(14)))))
    cap = draw(st.sampled_from((None, FrequencyCap(1, timedelta(days=1)), FrequencyCap(2, timedelta(days=3)))))
    audience = Audience(segments=tuple(draw(st.sampled_from((("A",), ("A", "B"), (), ("P",), ("A", "P"))))),
                        combine=draw(st.sampled_from(("union", "intersection"))),
                        exclude=draw(st.sampled_from(((), ("X",)))), suppress=draw(st.sampled_from((None, "S"))),
                        min_consent=draw(st.sampled_from((None, "subscriptions", "marketing"))))
    triggers = (Trigger(event="purchase"), Trigger(event="unsubscribed"), Trigger(segment="V", when="joins"),
                Trigger(segment="V", when="leaves"), Trigger(segment="P", when="joins"),
                Trigger(segment="P", when="leaves"))
    exits = tuple(draw(st.lists(st.sampled_from(triggers), max_size=2, unique=True)))
    goal = draw(st.sampled_from((None, Trigger(event="purchase"), *exits)))
    j = Journey("j", "Random", target=draw(st.sampled_from(("contacts", "accounts"))), audience=audience,
                frequency=frequency, schedule=Schedule(START, START + timedelta(days=days), tz, quiet),
                goal=goal, exit_when=exits, frequency_cap=cap)
    messages: list[tuple[str, str]] = []
    for i, kind in enumerate(kinds):
        sid = f"s{i}"
        props: dict[str, Any] = {}
        ttype = kind
        if kind in CHANNELS:
            props = {"content": f"c{i}"}
            messages.append((sid, CHANNELS[kind]))
        elif kind == "wait":
            props = {"duration": timedelta(hours=draw(st.integers(1, 96)))}
        elif kind == "wait-until":
            ttype = "wait"
            props = {"until": START + timedelta(hours=draw(st.integers(-48, 24 * days + 48)))}
        elif kind == "if-event":
            ttype = "if-then"
            if messages:
                src, channel = draw(st.sampled_from(messages))
                event = draw(st.sampled_from(MESSAGE_EVENTS[channel]))
                wait_for = {"event": event, "step": src}
                if event == "link_clicked" and draw(st.booleans()):  # which link (a message has up to 3)
                    wait_for["link"] = draw(st.sampled_from(("a", "b", "c")))
                props = {"wait_for": wait_for, "within": timedelta(hours=draw(st.integers(1, 72)))}
            else:
                props = {"segment": "V"}
        elif kind == "if-condition":
            ttype = "if-then"
            props = {"condition": dict(draw(st.sampled_from(CONDITIONS)))}
        elif kind == "if-segment":
            ttype = "if-then"
            props = {"segment": draw(st.sampled_from(("V", "S", "P")))}
        elif kind in ("ab-split", "random-split"):
            paths = draw(st.integers(2, 3))
            holdout = draw(st.sampled_from((0, 10, 25)))
            share = (100 - holdout) / paths
            props = {"split": tuple([share] * paths), "holdout": holdout}
        elif kind == "task":
            props = {"subject": "Call"}
        elif kind == "webhook":
            props = {"url": "https://example.com/hook"}
        elif kind == "lead":
            props = {"topic": "Interest"}
        elif kind == "workflow":
            props = {"workflow": "wf"}
        step = Step(sid, ttype, props={**REGISTRY[ttype].defaults(), **props})
        for port in step.ports():
            later = [f"s{k}" for k in range(i + 1, n)]
            step.outputs[port.id] = draw(st.sampled_from(later + [END])) if later else END
        j.add_step(step)
    return j


def population(n: int, seed: int, journey: Journey, *, account_size: int = 4) -> Population:
    """A small synthetic population with every segment the strategies name: A, B, X, S and V given as
    memberships (joins and leaves included), P evaluated from its definition."""
    plan = compile_plan(journey)
    profile = replace(PopulationProfile(), contacts_per_account=float(account_size))
    pop = population_for(plan, n, seed, definitions=DEFINITIONS, profile=profile)
    specs = {"A": SegmentSpec(0.6, 0.5), "B": SegmentSpec(0.5, 0.5), "X": SegmentSpec(0.1),
             "S": SegmentSpec(0.1, 0.2), "V": SegmentSpec(0.2, 0.3)}
    segs = {name: assumed_membership(n, seed, name, spec, plan.start, plan.horizon) for name, spec in specs.items()}
    rng = np.random.default_rng(seed + 1)  # some members leave V part-way (for 'leaves' exit conditions)
    v = segs["V"]
    since = v.first_at_or_after(np.arange(n), plan.start)
    leave = rng.random(n) < 0.5
    until = np.where(leave, since + rng.integers(3600, 20 * 86400, n), NEVER)
    rows = np.flatnonzero(since < NEVER)
    segs["V"] = TimeSet.spans(n, plan.start, rows, since[rows], np.minimum(until[rows], NEVER))
    return replace(pop, segments=segs)


def lively() -> BehaviourModel:
    """Behaviour with frequent events, so that small populations exercise every rule."""
    b = BehaviourModel()
    channels = {k: replace(v, open=0.6, click=0.5, unsubscribe=0.05, conversion=0.3, open_median=6 * 3600.0)
                for k, v in b.channels.items()}
    return replace(b, channels=channels, event_rates={"purchase": 0.05, "unsubscribed": 0.01})


behaviours = st.sampled_from((BehaviourModel(), lively()))


@settings(max_examples=30, deadline=None)
@given(journeys())
def test_random_journeys_compile(j: Journey) -> None:
    plan = compile_plan(j)
    assert [s.index for s in plan.steps] == list(range(len(plan.steps)))
    for s in plan.steps:
        assert all(t > s.index for t in s.next), "links lead forward in the plan's order"
