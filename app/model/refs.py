"""Who refers to a piece of content or a segment, and the one-gesture commands that rename them everywhere.

Pure Python over the model and its commands (no Qt): the browser, the content picker and tests share it.
References are found through the registry's property kinds, so a new tile kind needs no change here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.model.command_base import Command, MacroCommand
from app.model.content import Content
from app.model.journey import Journey, Trigger
from app.model.project import Project
from app.model.commands import PutContent, PutSegment, RemoveContent, RemoveSegment, SetProps, UpdateJourney
from app.model.registry import REGISTRY


def _step_refs(journey: Journey, kind: str, name: str) -> list[tuple[str, str]]:
    """(step id, property) pairs of `journey` whose property of `kind` names `name`."""
    found = []
    for step in journey:
        tile = REGISTRY.get(step.type)
        for spec in tile.props if tile else ():
            if spec.kind == kind and step.props.get(spec.name) == name:
                found.append((step.id, spec.name))
    return found


def content_users(project: Project, name: str) -> list[tuple[Journey, str]]:
    """(journey, step id) of every step that sends the content."""
    return [(j, sid) for j in project.journeys for sid, _ in _step_refs(j, "content", name)]


def _rename_in_triggers(triggers: tuple[Trigger, ...], old: str, new: str) -> tuple[Trigger, ...]:
    return tuple(replace(t, segment=new) if t.segment == old else t for t in triggers)


def _segment_settings(journey: Journey, old: str, new: str) -> dict[str, Any]:
    """The journey settings that change when segment `old` is renamed to `new`."""
    a = journey.audience
    changes: dict[str, Any] = {}
    if old in a.segments or old in a.exclude or a.suppress == old:
        def swap(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(new if n == old else n for n in names))
        changes["audience"] = replace(a, segments=swap(a.segments), exclude=swap(a.exclude),
                                      suppress=(new if a.suppress == old else a.suppress))
    if journey.goal is not None and journey.goal.segment == old:
        changes["goal"] = replace(journey.goal, segment=new)
    if any(t.segment == old for t in journey.exit_when):
        changes["exit_when"] = _rename_in_triggers(journey.exit_when, old, new)
    return changes


def _uses_segment(journey: Journey, name: str) -> bool:
    a = journey.audience
    triggers = ((journey.goal,) if journey.goal else ()) + tuple(journey.exit_when)
    return (name in a.segments or name in a.exclude or a.suppress == name
            or any(t.segment == name for t in triggers) or bool(_step_refs(journey, "segment", name)))


def segment_users(project: Project, name: str) -> list[str]:
    """Names of the journeys that refer to the segment (settings or steps)."""
    return [j.name for j in project.journeys if _uses_segment(j, name)]


def rename_content_command(project: Project, old_name: str, content: Content) -> Command:
    """Save edited content; when its name changed, also point every step that sent it at the new name."""
    if content.name == old_name:
        return PutContent(content)
    commands: list[Command] = [PutContent(content)]
    for journey in project.journeys:
        for sid, prop in _step_refs(journey, "content", old_name):
            commands.append(SetProps(journey.id, sid, {prop: content.name}))
    commands.append(RemoveContent(old_name))
    return MacroCommand(f"Rename content '{old_name}' to '{content.name}'", commands)


def rename_segment_command(project: Project, old_name: str, new_name: str) -> Command:
    """Rename a segment and every reference to it (audiences, goals, exits, if/then steps) as one gesture."""
    segment = project.segments[old_name]
    commands: list[Command] = [PutSegment(replace(segment, name=new_name))]
    for journey in project.journeys:
        settings = _segment_settings(journey, old_name, new_name)
        if settings:
            commands.append(UpdateJourney(journey.id, **settings))
        for sid, prop in _step_refs(journey, "segment", old_name):
            commands.append(SetProps(journey.id, sid, {prop: new_name}))
    commands.append(RemoveSegment(old_name))
    return MacroCommand(f"Rename segment '{old_name}' to '{new_name}'", commands)
