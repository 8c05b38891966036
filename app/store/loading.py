"""Reading a project from its tables through SQLAlchemy: one query per table, the rows decoded by
app.store.decoding (whose names are kept importable from here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Connection, Text, select, type_coerce

from app.model.project import Project
from app.store import schema as t
from app.store.decoding import (decode_content, decode_journey, decode_segment, decode_settings,  # noqa: F401
                                decode_step, encode_settings, project_from_rows, stored_json, stored_time)


def load_project(conn: Connection, path: Path) -> Project:
    """The whole project in the file on `conn` (call inside a transaction).

    JSON and time stamp columns are read as their text and decoded here, so that one damaged by hand is a
    ProjectFileError naming its row instead of a decoder's error from the middle of a fetch."""
    return project_from_rows(
        path,
        conn.execute(_raw(t.project.c.name, t.project.c.settings)).all(),
        conn.execute(_raw(*t.steps.c).order_by(t.steps.c.journey_id, t.steps.c.ord)).all(),
        conn.execute(_raw(*t.journeys.c).order_by(t.journeys.c.created_at, t.journeys.c.name)).all(),
        conn.execute(_raw(*t.content.c).order_by(t.content.c.name)).all(),
        conn.execute(_raw(*t.segments.c).order_by(t.segments.c.name)).all())


def _raw(*columns: Any) -> Any:
    """SELECT of `columns`, those whose values are decoded on reading (JSON, time stamps) as their text."""
    return select(*(type_coerce(c, Text).label(c.name) if isinstance(c.type, _DECODED) else c for c in columns))


_DECODED = (JSON, t.UtcDateTime, t.IsoDate, t.IsoSeconds)
