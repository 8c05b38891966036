"""Build the journey-file JSON Schema from the tile registry (run as a module to rewrite resources/)."""

from __future__ import annotations

import json
import sys
from typing import Any

from app.codec.plain import FORMAT
from app.model.attributes import CONSENT_LEVELS, MESSAGE_EVENTS, OPERATORS
from app.model.content import CONTENT_KINDS, CONTENT_STATUSES
from app.model.registry import PATH_NAMES, REGISTRY, PropSpec, TileType
from app.model.segment import SEGMENT_ENTITIES, SEGMENT_KINDS

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
DURATION = {"description": "A duration such as 30m, 12h, 1d, 2w or 1d12h (or seconds).",
            "anyOf": [{"type": "string", "pattern": r"^\s*-?(\d+\s*[wdhms]\s*)+$"}, {"type": "integer"}]}
DATETIME = {"type": "string", "description": "Local date and time in the journey's time zone, e.g. 2026-12-01T09:00.",
            "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"}
NAMES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
TRIGGER = {"type": "object", "additionalProperties": False,
           "description": "A contact event (e.g. purchase), or joining / leaving a segment.",
           "properties": {"event": {"type": "string"}, "segment": {"type": "string"},
                          "when": {"enum": ["joins", "leaves"]}}}
GOAL = {**TRIGGER, "description": "What counts as success: a contact event (e.g. purchase), or joining / leaving a "
        "segment, within an attribution window after entry (default 30 days).",
        "properties": {**TRIGGER["properties"], "within": DURATION}}  # type: ignore[dict-item]


def _prop_schema(p: PropSpec) -> dict[str, Any]:
    s: dict[str, Any]
    if p.kind in ("string", "text", "content", "segment"):
        s = {"type": "string"}
    elif p.kind == "int":
        s = {"type": "integer"}
    elif p.kind == "percent":
        s = {"type": "number", "minimum": 0, "maximum": 100}
    elif p.kind == "duration":
        s = dict(DURATION)
    elif p.kind == "datetime":
        s = dict(DATETIME)
    elif p.kind == "bool":
        s = {"type": "boolean"}
    elif p.kind == "choice":
        s = {"enum": list(p.choices)}
    elif p.kind == "percent_list":
        s = {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 10}
    elif p.kind == "wait_for":
        events = sorted({e for evs in MESSAGE_EVENTS.values() for e in evs})
        s = {"type": "object", "additionalProperties": False, "required": ["event", "step"],
             "properties": {"event": {"enum": events}, "step": {"type": "string"}, "link": {"type": "string"}}}
    elif p.kind == "condition":
        s = {"type": "object", "additionalProperties": False, "required": ["attribute", "op"],
             "properties": {"attribute": {"type": "string"}, "op": {"enum": list(OPERATORS)}, "value": {}}}
    else:  # pragma: no cover - every kind is listed above
        raise ValueError(p.kind)
    s["description"] = p.label + (f": {p.help}" if p.help else "")
    return s


def _tile_schema(t: TileType) -> dict[str, Any]:
    props: dict[str, Any] = {"type": {"const": t.id}, "name": {"type": "string", "description": "Display name."}}
    for p in t.props:
        props[p.name] = _prop_schema(p)
    ports = list(PATH_NAMES) if callable(t.ports) else [p.id for p in t.ports]
    for port in ports:
        props[port] = {"type": "string", "description": f"Step that the '{port}' output leads to, or 'end'."}
    return {"if": {"properties": {"type": {"const": t.id}}, "required": ["type"]},
            "then": {"description": f"{t.label}: {t.description}", "properties": props,
                     "additionalProperties": False}}


def build_schema() -> dict[str, Any]:
    """The whole schema, derived from the registry and the model's vocabularies."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://journey-studio.invalid/schema/journey-1.json",
        "title": "Journey Studio journey file",
        "description": "A customer journey as code (YAML or JSON). Steps form a directed acyclic graph from the "
                       "entry step (the first step unless 'entry' says otherwise). An output that names no step "
                       "ends the journey there; 'end' says so explicitly.",
        "type": "object",
        "required": ["format", "name"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": FORMAT},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "target": {"enum": ["contacts", "accounts"]},
            "audience": {"type": "object", "additionalProperties": False, "properties": {
                "segments": NAMES, "combine": {"enum": ["union", "intersection"]}, "exclude": NAMES,
                "suppress": {"type": "string"}, "min_consent": {"enum": list(CONSENT_LEVELS)}}},
            "frequency": {"anyOf": [
                {"enum": ["one-time", "ongoing"]},
                {"type": "object", "additionalProperties": False, "required": ["type"], "properties": {
                    "type": {"enum": ["one-time", "ongoing", "repeating"]}, "interval": DURATION,
                    "count": {"type": "integer", "minimum": 1}}}]},
            "schedule": {"type": "object", "additionalProperties": False, "properties": {
                "start": DATETIME, "end": DATETIME,
                "timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris."},
                "quiet_hours": {"type": "object", "additionalProperties": False, "required": ["start", "end"],
                                "properties": {"start": {"type": ["string", "integer"]},
                                               "end": {"type": ["string", "integer"]}}}}},
            "goal": GOAL,
            "exit_when": {"type": "array", "items": TRIGGER},
            "frequency_cap": {"type": "object", "additionalProperties": False, "required": ["messages", "per"],
                              "properties": {"messages": {"type": "integer", "minimum": 1}, "per": DURATION}},
            "priority": {"type": "integer", "minimum": 1, "maximum": 10,
                         "description": "Under the project's frequency caps: 1 goes first .. 10 last (default 5)."},
            "cap_exempt": {"type": "boolean",
                           "description": "Transactional: never held back by the project's frequency caps."},
            "entry": {"type": "string", "pattern": STEP_ID_PATTERN},
            "steps": {"type": "object", "propertyNames": {"pattern": STEP_ID_PATTERN, "not": {"const": "end"}},
                      "additionalProperties": {
                          "type": "object", "required": ["type"],
                          "properties": {"type": {"enum": list(REGISTRY)}},
                          "allOf": [_tile_schema(t) for t in REGISTRY.values()]}},
            "content": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["kind"], "properties": {
                    "kind": {"enum": list(CONTENT_KINDS)}, "status": {"enum": list(CONTENT_STATUSES)},
                    "subject": {"type": "string"}, "sender": {"type": "string"}, "body": {"type": "string"},
                    "text": {"type": "string"}, "title": {"type": "string"},
                    "links": {"type": "array", "items": {"type": "string"}}}}},
            "segments": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "properties": {
                    "entity": {"enum": list(SEGMENT_ENTITIES)}, "kind": {"enum": list(SEGMENT_KINDS)},
                    "description": {"type": "string"}, "query": {"type": "object"}}}},
            "layout": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}},
        },
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
