"""What a sweep can vary, for the designer's Sweep panel (pure: no Qt): the targets of a journey for a picker, one
property's values read and checked as they are typed, and a point's values as edits of the journey (the panel's
"apply the best point", one undoable command). Any other figure of the behaviour model can still be typed by
its `journey-studio behaviour` name; these are the ones offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from app.model.journey import Journey
from app.model.registry import REGISTRY
from app.validation.findings import Finding
from simulator.behaviour import BehaviourModel
from simulator.sweep import (BEHAVIOUR, Varied, _Checker, _is_journey_setting, apply_values, find_step,
                             parse_vary)

CHANNEL_FIGURES = ("delivery", "open", "click", "conversion", "unsubscribe")  # the ones a picker offers
SWEPT_KINDS = ("duration", "datetime", "percent", "int", "percent_list", "choice", "bool", "content", "segment")
_EXAMPLES = {"duration": "e.g. 1d,3d,5d", "datetime": "e.g. 2026-12-10T09:00,2026-12-12T09:00",
             "percent": "e.g. 0,10,20", "int": "e.g. 1,2,3", "percent_list": "e.g. 50/50,70/30",
             "bool": "true,false", "content": "content names", "segment": "segment names"}


@dataclass(frozen=True)
class Target:
    """A property a sweep can vary, for a picker: its `--vary` name, a label and an example of values."""

    target: str
    label: str
    example: str
    group: str  # "step", "journey" or "behaviour"


def targets_for(journey: Journey, behaviour: BehaviourModel) -> list[Target]:
    """What a sweep of `journey` can vary: each step's tile properties (durations, numbers, shares, choices,
    content and segments), the send hours, the channel figures of the channels it sends on, each message step's
    own figures and the background event rates, in that order."""
    out: list[Target] = []
    channels: list[str] = []
    for step in journey:
        tile = REGISTRY.get(step.type)
        if tile is None:
            continue
        if tile.channel is not None and tile.channel not in channels:
            channels.append(tile.channel)
        for spec in tile.props:
            if spec.kind not in SWEPT_KINDS:
                continue
            example = f"one of {','.join(map(str, spec.choices))}" if spec.kind == "choice" and spec.choices \
                else _EXAMPLES[spec.kind]
            out.append(Target(f"{step.id}.{spec.name}", f"{step.display_name}: {spec.label}", example, "step"))
    out.append(Target("journey.quiet_hours", "Journey: send hours (quiet hours)", "e.g. 21:00-08:00,none",
                      "journey"))
    for channel in channels:
        for name in CHANNEL_FIGURES:
            example = "e.g. 0.9,0.95" if name == "delivery" else "e.g. 0.2,0.3"
            out.append(Target(f"{BEHAVIOUR}.{channel}.{name}", f"Behaviour: {channel} {name.replace('_', ' ')}",
                              example, "behaviour"))
    for step in journey:
        tile = REGISTRY.get(step.type)
        if tile is not None and tile.channel is not None:
            for name in ("open", "click", "conversion"):
                out.append(Target(f"{BEHAVIOUR}.messages.{step.id}.{name}",
                                  f"Behaviour: {step.display_name} {name} (this message only)", "e.g. 0.2,0.3",
                                  "behaviour"))
    for event in behaviour.event_rates:
        out.append(Target(f"{BEHAVIOUR}.event_rates.{event}", f"Behaviour: background {event} rate a day",
                          "e.g. 0.001,0.002", "behaviour"))
    return out


def check_values(journey: Journey, behaviour: BehaviourModel, text: str,
                 check: Callable[[Journey], Sequence[Finding]] | None = None) -> Varied:
    """One `TARGET=v1,v2` read and each value set alone and checked as `prepare` checks it (the panel checks a
    field as it is typed); SweepError with the line `prepare` would give."""
    varied = parse_vary(text)
    checker = _Checker(journey, behaviour, check) if check is not None else None
    for value in varied.values:
        values = {varied.target: value}
        changed = apply_values(journey, behaviour, values)[0]
        if checker is not None:
            checker(changed, values)
    return varied


def journey_changes(journey: Journey, values: Mapping[str, str]
                    ) -> tuple[dict[str, dict[str, Any]], Any, list[str]]:
    """A point's values as edits of `journey`: the changed properties per step id, the new schedule (None: the
    send hours do not change) and the behaviour figures left out (assumptions about contacts, not settings of
    the journey). SweepError when a value no longer fits the journey (it changed since the sweep)."""
    setting = {k: v for k, v in values.items() if not k.startswith(BEHAVIOUR + ".")}
    left_out = [k for k in values if k.startswith(BEHAVIOUR + ".")]
    changed = apply_values(journey, BehaviourModel(), setting)[0]
    steps: dict[str, dict[str, Any]] = {}
    schedule = None
    for target in setting:
        if _is_journey_setting(journey, target):
            if changed.schedule != journey.schedule:
                schedule = changed.schedule
            continue
        step_name, _, prop = target.rpartition(".")
        sid = find_step(journey, step_name, target)
        value = changed.step(sid).props.get(prop)
        if value != journey.step(sid).props.get(prop):
            steps.setdefault(sid, {})[prop] = value
    return steps, schedule, left_out
