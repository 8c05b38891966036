"""Copied steps: deep copies for the clipboard, their JSON text for the system clipboard, and paste remapping.

The text reuses the journey file's step encoding, so steps copied in one journey (or project, or running
instance) paste into any other: {"format": "journey-steps/1", "steps": {id: step}, "layout": {id: [x, y]}}.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping, Sequence

from app.codec.plain import PlainError, step_from_plain, step_to_plain
from app.errors import ModelError
from app.model.journey import Journey, Position, Step
from app.model.registry import END, REGISTRY

CLIPBOARD_FORMAT = "journey-steps/1"


def copy_steps(journey: Journey, step_ids: Iterable[str]) -> list[Step]:
    """Deep copies of the given steps, in journey order, links included (paste keeps only internal ones)."""
    wanted = set(step_ids)
    for sid in wanted:
        journey.step(sid)
    return [s.clone() for s in journey if s.id in wanted]


def steps_to_clipboard_text(steps: Sequence[Step]) -> str:
    """Copied steps as JSON text for the system clipboard."""
    doc: dict[str, Any] = {"format": CLIPBOARD_FORMAT, "steps": {s.id: step_to_plain(s) for s in steps}}
    layout = {s.id: [s.position.x, s.position.y] for s in steps if s.position is not None}
    if layout:
        doc["layout"] = layout
    return json.dumps(doc, ensure_ascii=False, indent=1)


def steps_from_clipboard_text(text: str) -> list[Step]:
    """Steps from clipboard text; ModelError when the text is not copied journey steps."""
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        raise ModelError("the clipboard holds no journey steps") from None
    if not isinstance(doc, dict) or doc.get("format") != CLIPBOARD_FORMAT:
        raise ModelError("the clipboard holds no journey steps")
    steps_doc, layout = doc.get("steps"), doc.get("layout") or {}
    if not isinstance(steps_doc, dict) or not isinstance(layout, dict):
        raise ModelError("the copied journey steps are damaged")
    try:
        steps = [step_from_plain(sid, value, ("steps", sid)) for sid, value in steps_doc.items()]
    except PlainError as e:
        raise ModelError(f"the copied journey steps are not valid: {e}") from None
    for step in steps:
        pos = layout.get(step.id)
        if pos is None:
            continue
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
            raise ModelError(f"the copied position of step '{step.id}' is not [x, y]")
        step.position = Position(float(pos[0]), float(pos[1]))
    return steps


def fresh_step_ids(journey: Journey, bases: Sequence[str]) -> list[str]:
    """One free step id per base, distinct from the journey's ids and from each other."""
    taken: set[str] = set()
    out = []
    for base in bases:
        candidate, n = journey.new_step_id(base), 2
        while candidate in taken:
            candidate, n = journey.new_step_id(f"{base}_{n}"), n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def pasted_step(step: Step, new_id: str, ids: Mapping[str, str], offset: tuple[float, float]) -> Step:
    """A copy of `step` to paste: its new id, no outputs, step references in properties remapped, moved."""
    props = copy.deepcopy(step.props)
    tile = REGISTRY.get(step.type)
    for spec in tile.props if tile else ():
        ref = props.get(spec.name)
        # An if/then waiting on a pasted message must wait on the copy, not on the original.
        if spec.kind == "wait_for" and isinstance(ref, dict) and ref.get("step") in ids:
            props[spec.name] = {**ref, "step": ids[ref["step"]]}
    pos = step.position
    position = Position(pos.x + offset[0], pos.y + offset[1]) if pos is not None else None
    return Step(new_id, step.type, step.name, props, {}, position)


def pasted_links(steps: Sequence[Step], ids: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(source, port, target) links among pasted steps under their new ids; links leaving the set are dropped."""
    links = []
    for step in steps:
        ports = {p.id for p in step.ports()}
        for port, target in step.outputs.items():
            if port not in ports or target == step.id:
                continue
            if target == END:
                links.append((ids[step.id], port, END))
            elif target in ids:
                links.append((ids[step.id], port, ids[target]))
    return links
