"""Reading a project from its tables: one query per table, every row decoded against the tile registry.

A row that does not decode (an unknown tile type, a bad property, a link to a missing step) raises a
ProjectFileError naming the file, the journey and the step.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Connection, Row, select

from app.codec.plain import PlainError, content_from_plain, props_from_plain, segment_from_plain, settings_from_plain
from app.errors import ModelError, ProjectFileError
from app.model.content import Content
from app.model.journey import Journey, Position, Step
from app.model.project import Project, ProjectSettings
from app.model.registry import END, REGISTRY
from app.model.segment import Segment
from app.store import schema as t


def _where_path(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path))


def _plain_message(e: PlainError, skip: int = 0) -> str:
    rest = e.path[skip:]
    return f"{_where_path(rest)}: {e.message}" if rest else e.message


def _mapping(value: Any, what: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProjectFileError(f"{where}: {what} is not a mapping ({type(value).__name__})")
    return value


def decode_step(row: Row[Any], where: str, step_ids: set[str]) -> Step:
    """One step row as a Step; `where` is "<file>: journey 'X', step 'y'"."""
    if row.type not in REGISTRY:
        raise ProjectFileError(f"{where}: unknown tile type '{row.type}'")
    try:
        props = props_from_plain(row.type, _mapping(row.props, "props", where), ())
    except PlainError as e:
        raise ProjectFileError(f"{where}: property {_plain_message(e)}") from None
    if not isinstance(row.name, str):
        raise ProjectFileError(f"{where}: the step name is not text")
    position = Position(float(row.x), float(row.y)) if row.x is not None and row.y is not None else None
    step = Step(row.step_id, row.type, row.name, props, position=position)
    ports = {p.id for p in step.ports()}
    for port, target in _mapping(row.outputs, "outputs", where).items():
        if port not in ports:
            raise ProjectFileError(f"{where}: a {REGISTRY[row.type].label} step has no output '{port}'")
        if not isinstance(target, str) or (target != END and target not in step_ids) or target == row.step_id:
            raise ProjectFileError(f"{where}: output '{port}' leads to {target!r}, which is not another step of "
                                   "the journey (or 'end')")
        step.outputs[port] = target
    return step


def decode_journey(row: Row[Any], step_rows: list[Row[Any]], label: str) -> Journey:
    """A journey row and its step rows (in order) as a Journey."""
    where = f"{label}: journey '{row.name}'"
    try:
        settings = settings_from_plain(_mapping(row.settings, "settings", where))
    except PlainError as e:
        raise ProjectFileError(f"{where}: setting {_plain_message(e)}") from None
    settings["version"] = row.version
    journey = Journey(row.id, row.name, **settings)
    step_ids = {r.step_id for r in step_rows}
    for r in step_rows:
        step_where = f"{where}, step '{r.step_id}'"
        try:
            journey.add_step(decode_step(r, step_where, step_ids))
        except ModelError as e:
            raise ProjectFileError(f"{step_where}: {e}") from None
    if row.entry is not None and row.entry not in step_ids:
        raise ProjectFileError(f"{where}: the entry step '{row.entry}' is not a step of the journey")
    journey.entry = row.entry
    return journey


def decode_content(row: Row[Any], label: str) -> Content:
    """One content row as Content."""
    try:
        return content_from_plain(row.name, row.data, ())
    except PlainError as e:
        raise ProjectFileError(f"{label}: content '{row.name}': {_plain_message(e)}") from None


def decode_segment(row: Row[Any], label: str) -> Segment:
    """One segment row as a Segment."""
    try:
        return segment_from_plain(row.name, row.data, ())
    except PlainError as e:
        raise ProjectFileError(f"{label}: segment '{row.name}': {_plain_message(e)}") from None


def decode_settings(value: Any, label: str) -> ProjectSettings:
    """The project row's settings as ProjectSettings."""
    where = f"{label}: project settings"
    m = _mapping(value, "settings", where)
    attrs = m.get("custom_attributes", {})
    tz = m.get("default_timezone", "UTC")
    if not isinstance(attrs, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
        raise ProjectFileError(f"{where}: custom_attributes must map attribute names to types")
    if not isinstance(tz, str):
        raise ProjectFileError(f"{where}: default_timezone must be text")
    return ProjectSettings(custom_attributes=dict(attrs), default_timezone=tz)


def encode_settings(settings: ProjectSettings) -> dict[str, Any]:
    """Project settings as the plain values of the project row."""
    return {"custom_attributes": dict(settings.custom_attributes), "default_timezone": settings.default_timezone}


def load_project(conn: Connection, path: Path) -> Project:
    """The whole project in the file on `conn` (call inside a transaction)."""
    label = str(path)
    head = conn.execute(select(t.project.c.name, t.project.c.settings)).all()
    if len(head) != 1:
        raise ProjectFileError(f"{path} is damaged: it has {len(head)} project records instead of one")
    project = Project(head[0].name)
    project.settings = decode_settings(head[0].settings, label)

    by_journey: dict[str, list[Row[Any]]] = defaultdict(list)
    for r in conn.execute(select(t.steps).order_by(t.steps.c.journey_id, t.steps.c.ord)):
        by_journey[r.journey_id].append(r)
    rows = conn.execute(select(t.journeys).order_by(t.journeys.c.created_at, t.journeys.c.name)).all()
    for row in rows:
        project.add_journey(decode_journey(row, by_journey.get(row.id, []), label))
    for r in conn.execute(select(t.content).order_by(t.content.c.name)):
        project.put_content(decode_content(r, label))
    for r in conn.execute(select(t.segments).order_by(t.segments.c.name)):
        project.put_segment(decode_segment(r, label))
    return project
