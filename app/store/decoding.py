"""Project rows as model objects: every row decoded against the tile registry, read by attribute (`row.name`),
so the same code serves SQLAlchemy rows (app.store.loading) and plain sqlite3 ones (app.store.plain_read).

A row that does not decode (an unknown tile type, a bad property, a link to a missing step) raises a
ProjectFileError naming the file, the journey and the step. `stored_json` and `stored_time` decode a JSON or
time stamp column read as text, so that one damaged by hand is a ProjectFileError naming its row too.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from app.codec.plain import (PlainError, caps_from_plain, caps_to_plain, content_from_plain, props_from_plain,
                             segment_from_plain, settings_from_plain)
from app.errors import ModelError, ProjectFileError, one_line
from app.model.content import Content
from app.model.journey import Journey, Position, Step
from app.model.project import Project, ProjectSettings
from app.model.registry import END, REGISTRY
from app.model.segment import Segment
from app.model.values import printable, shown


def stored_json(value: Any, where: str) -> Any:
    """A JSON column read as its text (select it with `type_coerce(column, Text)`), decoded; ProjectFileError
    saying `where` when the text is not JSON (a file edited by hand), instead of a decoder's traceback."""
    if not isinstance(value, (str, bytes)):
        raise ProjectFileError(f"{where} is damaged: its document is {type(value).__name__}, not JSON text")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, nesting deeper than Python's stack
        raise ProjectFileError(f"{where} is damaged: its document is not JSON ({one_line(e)})") from None


def stored_time(value: Any, where: str) -> datetime:
    """A time stamp column read as its text (select it with `type_coerce(column, Text)`) as an aware UTC
    date-time, as schema.UtcDateTime reads it; ProjectFileError saying `where` when it is not one."""
    try:
        if not isinstance(value, str):
            raise TypeError(type(value).__name__)
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ProjectFileError(f"{where} is damaged: its time stamp {shown(value)} is not a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _where_path(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path))


def _plain_message(e: PlainError, skip: int = 0) -> str:
    rest = e.path[skip:]
    return f"{_where_path(rest)}: {e.message}" if rest else e.message


def _json(value: Any, what: str, where: str) -> Any:
    """A JSON column's value: decoded already, or its text (as load_project reads it) decoded here."""
    return stored_json(value, f"{where}: {what}") if isinstance(value, (str, bytes)) else value


def _mapping(value: Any, what: str, where: str) -> Mapping[str, Any]:
    value = _json(value, what, where)
    if not isinstance(value, Mapping):
        raise ProjectFileError(f"{where}: {what} is not a mapping ({type(value).__name__})")
    return value


def decode_step(row: Any, where: str, step_ids: set[str]) -> Step:
    """One step row as a Step; `where` is "<file>: journey 'X', step 'y'"."""
    if row.type not in REGISTRY:
        raise ProjectFileError(f"{where}: unknown tile type {shown(row.type)}")
    try:
        props = props_from_plain(row.type, _mapping(row.props, "props", where), ())
    except PlainError as e:
        raise ProjectFileError(f"{where}: property {_plain_message(e)}") from None
    if not isinstance(row.name, str) or not isinstance(row.step_id, str):
        raise ProjectFileError(f"{where}: the step id or name is not text")
    if not all(v is None or (isinstance(v, (int, float)) and math.isfinite(v)) for v in (row.x, row.y)):
        raise ProjectFileError(f"{where}: the position ({shown(row.x)}, {shown(row.y)}) is not two numbers")
    position = Position(float(row.x), float(row.y)) if row.x is not None and row.y is not None else None
    step = Step(row.step_id, row.type, row.name, props, position=position)
    ports = {p.id for p in step.ports()}
    for port, target in _mapping(row.outputs, "outputs", where).items():
        if port not in ports:
            raise ProjectFileError(f"{where}: a {REGISTRY[row.type].label} step has no output {shown(port)}")
        if not isinstance(target, str) or (target != END and target not in step_ids) or target == row.step_id:
            raise ProjectFileError(f"{where}: output {shown(port)} leads to {shown(target)}, which is not another "
                                   "step of the journey (or 'end')")
        step.outputs[port] = target
    return step


def decode_journey(row: Any, step_rows: list[Any], label: str) -> Journey:
    """A journey row and its step rows (in order) as a Journey."""
    where = f"{label}: journey {shown(row.name)}"
    if not isinstance(row.name, str) or not isinstance(row.id, str):
        raise ProjectFileError(f"{where}: the journey id or name is not text")
    try:
        settings = settings_from_plain(_mapping(row.settings, "settings", where))
    except PlainError as e:
        raise ProjectFileError(f"{where}: setting {printable(_plain_message(e))}") from None
    if isinstance(row.version, bool) or not isinstance(row.version, int):
        raise ProjectFileError(f"{where}: the version {shown(row.version)} is not a whole number")
    settings["version"] = row.version
    journey = Journey(row.id, row.name, **settings)
    step_ids = {r.step_id for r in step_rows}
    for r in step_rows:
        step_where = f"{where}, step {shown(r.step_id)}"
        try:
            journey.add_step(decode_step(r, step_where, step_ids))
        except ModelError as e:
            raise ProjectFileError(f"{step_where}: {printable(str(e))}") from None
    if row.entry is not None and row.entry not in step_ids:
        raise ProjectFileError(f"{where}: the entry step {shown(row.entry)} is not a step of the journey")
    journey.entry = row.entry
    return journey


def _decode_named(row: Any, label: str, what: str, from_plain: Any) -> Any:
    """A row of a name and its JSON document (content, segment) read by `from_plain`, one line when it is wrong."""
    where = f"{label}: {what} {shown(row.name)}"
    try:
        return from_plain(row.name, _json(row.data, "data", where), ())
    except PlainError as e:
        raise ProjectFileError(f"{where}: {printable(_plain_message(e))}") from None


def decode_content(row: Any, label: str) -> Content:
    """One content row as Content."""
    return _decode_named(row, label, "content", content_from_plain)


def decode_segment(row: Any, label: str) -> Segment:
    """One segment row as a Segment."""
    return _decode_named(row, label, "segment", segment_from_plain)


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
    keys = m.get("trusted_keys", [])  # checked key by key where they are used (app.package.keyring)
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        raise ProjectFileError(f"{where}: trusted_keys must be a list of keys")
    try:
        caps = caps_from_plain(m.get("frequency_caps"))
    except PlainError as e:
        raise ProjectFileError(f"{where}: {e}") from None
    return ProjectSettings(custom_attributes=dict(attrs), default_timezone=tz, trusted_keys=[dict(k) for k in keys],
                           frequency_caps=caps)


def encode_settings(settings: ProjectSettings) -> dict[str, Any]:
    """Project settings as the plain values of the project row."""
    out: dict[str, Any] = {"custom_attributes": dict(settings.custom_attributes),
                           "default_timezone": settings.default_timezone}
    if settings.trusted_keys:  # left out when none: a project without keys keeps the row it had
        out["trusted_keys"] = [dict(k) for k in settings.trusted_keys]
    if settings.frequency_caps:  # left out when none, likewise
        out["frequency_caps"] = caps_to_plain(settings.frequency_caps)
    return out


def project_from_rows(path: Path, head: Sequence[Any], steps: Iterable[Any], journeys: Iterable[Any],
                      content: Iterable[Any], segments: Iterable[Any]) -> Project:
    """The Project held by a file's rows: its project record(s), its steps ordered by journey and position, its
    journeys, content and segments each in the order they are loaded (JSON columns as their text)."""
    label = str(path)
    if len(head) != 1:
        raise ProjectFileError(f"{path} is damaged: it has {len(head)} project records instead of one")
    if not isinstance(head[0].name, str):
        raise ProjectFileError(f"{path} is damaged: the project name is not text")
    project = Project(head[0].name)
    project.settings = decode_settings(head[0].settings, label)
    by_journey: dict[str, list[Any]] = defaultdict(list)
    for r in steps:
        by_journey[r.journey_id].append(r)
    for row in journeys:
        project.add_journey(decode_journey(row, by_journey.get(row.id, []), label))
    for r in content:
        project.put_content(decode_content(r, label))
    for r in segments:
        project.put_segment(decode_segment(r, label))
    return project
