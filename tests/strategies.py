"""Hypothesis strategies for random valid journeys (shared by codec, store and command tests)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from hypothesis import strategies as st

from app.model.attributes import CONSENT_LEVELS, MESSAGE_EVENTS, OPERATORS
from app.model.content import Content
from app.model.journey import (Audience, Frequency, FrequencyCap, Journey, Position, QuietHours, Schedule, Step,
                               Trigger)
from app.model.registry import END, REGISTRY
from app.model.segment import Segment

# Text that trips naive YAML writers: words YAML 1.1 reads as booleans, numbers, indicators, quotes, unicode.
TRICKY = ["yes", "no", "on", "off", "null", "~", "1.0", "007", "12:30", "- x", "a: b", "#hash", "'q'", '"dq"',
          "{x}", "[y]", "é ü 漢字", "trailing ", " leading", "Product announcement email", "&anchor", "*ref", "@at",
          "%pct", "line\nbreak", "tab\there", "50%", "2026-12-01"]
names = st.one_of(st.sampled_from(TRICKY), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                                                   min_size=1, max_size=12))
text = st.one_of(st.just(""), names, st.text(max_size=30).filter(lambda s: "\r" not in s and "\x85" not in s))
durations = st.integers(1, 60 * 86400).map(lambda s: timedelta(seconds=s))
datetimes = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=0))
step_ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s != END)


@st.composite
def step_props(draw: st.DrawFn, type_id: str, message_ids: list[str]) -> dict:
    tile = REGISTRY[type_id]
    props = tile.defaults()
    if tile.is_message:
        if draw(st.booleans()):
            props["content"] = draw(names)
        if draw(st.booleans()):
            props["send_to"] = draw(st.sampled_from(["email", "mobile_phone", "work_email"]))
    elif type_id == "if-then":
        mode = draw(st.sampled_from(["wait_for", "condition", "segment"]))
        if mode == "wait_for":
            wf = {"event": draw(st.sampled_from(sorted({e for v in MESSAGE_EVENTS.values() for e in v}))),
                  "step": draw(st.sampled_from(message_ids or ["announce"]))}
            if draw(st.booleans()):
                wf["link"] = draw(names)
            props["wait_for"] = wf
            props["within"] = draw(durations)
        elif mode == "condition":
            cond = {"attribute": draw(st.sampled_from(["loyalty_tier", "city", "lifetime_value"])),
                    "op": draw(st.sampled_from(list(OPERATORS)))}
            if draw(st.booleans()):
                cond["value"] = draw(st.one_of(names, st.integers(-1000, 1000), st.booleans()))
            props["condition"] = cond
        else:
            props["segment"] = draw(names)
    elif type_id == "wait":
        if draw(st.booleans()):
            props["duration"] = draw(durations)
        else:
            props["until"] = draw(datetimes)
    elif type_id in ("ab-split", "random-split"):
        props["split"] = tuple(draw(st.lists(st.integers(1, 100), min_size=2, max_size=5)))
        props["holdout"] = draw(st.integers(0, 20))
    elif type_id == "task":
        props["subject"] = draw(names)
        props["activity"] = draw(st.sampled_from(["task", "phone_call"]))
        props["due_in"] = draw(durations)
        if draw(st.booleans()):
            props["owner"] = draw(names)
    elif type_id == "lead":
        props["topic"] = draw(names)
    elif type_id == "webhook":
        props["url"] = draw(st.sampled_from(["https://hooks.example.com/x", "http://localhost:8080/a?b=c"]))
        props["method"] = draw(st.sampled_from(["POST", "PUT", "GET"]))
        if draw(st.booleans()):
            props["payload"] = draw(text)
    elif type_id == "workflow":
        props["workflow"] = draw(names)
    elif type_id == "exit" and draw(st.booleans()):
        props["reason"] = draw(names)
    return props


triggers = st.one_of(
    st.builds(Trigger, event=st.sampled_from(["purchase", "web_visit", "form_submitted", "renewed"])),
    st.builds(Trigger, segment=names, when=st.sampled_from(["joins", "leaves"])),
)


@st.composite
def journeys(draw: st.DrawFn, *, max_steps: int = 10, journey_id: str = "j1") -> Journey:
    """A random journey that decodes cleanly: forward links only (a DAG), valid property types."""
    start = draw(st.one_of(st.none(), datetimes))
    end = draw(st.one_of(st.none(), datetimes))
    freq_kind = draw(st.sampled_from(["one-time", "ongoing", "repeating"]))
    frequency = (Frequency("repeating", draw(st.one_of(st.none(), durations)), draw(st.one_of(st.none(),
                 st.integers(1, 50)))) if freq_kind == "repeating" else Frequency(freq_kind))  # type: ignore
    j = Journey(
        journey_id, draw(names).strip() or "J", description=draw(text),
        version=draw(st.integers(1, 5)), target=draw(st.sampled_from(["contacts", "accounts"])),
        audience=Audience(tuple(draw(st.lists(names, max_size=3))), draw(st.sampled_from(["union", "intersection"])),
                          tuple(draw(st.lists(names, max_size=2))), draw(st.one_of(st.none(), names)),
                          draw(st.one_of(st.none(), st.sampled_from(CONSENT_LEVELS)))),
        frequency=frequency,
        schedule=Schedule(start, end, draw(st.sampled_from(["UTC", "Europe/Paris", "America/New_York"])),
                          draw(st.one_of(st.none(), st.builds(QuietHours, st.times().map(
                              lambda t: time(t.hour, t.minute)), st.times().map(lambda t: time(t.hour, t.minute)))))),
        goal=draw(st.one_of(st.none(), triggers)),
        exit_when=tuple(draw(st.lists(triggers, max_size=3))),
        frequency_cap=draw(st.one_of(st.none(), st.builds(FrequencyCap, st.integers(1, 10), durations))),
    )
    ids = draw(st.lists(step_ids, min_size=1, max_size=max_steps, unique=True))
    types = [draw(st.sampled_from(list(REGISTRY))) for _ in ids]
    message_ids = [i for i, t in zip(ids, types) if REGISTRY[t].is_message]
    steps = []
    for sid, tid in zip(ids, types):
        pos = draw(st.one_of(st.none(), st.builds(Position, st.integers(-5000, 5000).map(float),
                                                   st.integers(-5000, 5000).map(float))))
        steps.append(Step(sid, tid, draw(st.one_of(st.just(""), names)), draw(step_props(tid, message_ids)),
                          position=pos))
    for i, s in enumerate(steps):
        later = [x.id for x in steps[i + 1:]]
        for port in s.ports():
            choice = draw(st.sampled_from(["none", "end"] + (["step"] if later else [])))
            if choice == "end":
                s.outputs[port.id] = END
            elif choice == "step":
                s.outputs[port.id] = draw(st.sampled_from(later))
    for s in steps:
        j.add_step(s)
    if len(steps) > 1 and draw(st.booleans()):
        j.entry = draw(st.sampled_from(ids))
    return j


def content_for(j: Journey) -> dict[str, Content]:
    """Content records for every content name the journey uses (alternating kinds / statuses)."""
    out = {}
    for s in j:
        name = s.props.get("content")
        if isinstance(name, str) and name not in out:
            kind = REGISTRY[s.type].channel or "email"
            out[name] = Content(name, kind, "ready" if len(out) % 2 else "draft",  # type: ignore[arg-type]
                                subject="Hello {{first_name}}" if kind == "email" else "",
                                links=("product-details",) if kind == "email" else (),
                                text="Hi" if kind != "email" else "")
    return out


def segments_for(j: Journey) -> dict[str, Segment]:
    from app.codec.plain import referenced_segments
    return {n: Segment(n, entity=j.target) for n in referenced_segments(j)}
