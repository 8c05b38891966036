"""The tables of a project file (SQLAlchemy Core), and the constants that mark a file as a project.

The Alembic migrations in `app/store/migrations` create exactly these tables; a test compares the two. When
the schema changes: edit the tables here, add a migration that sets `PRAGMA user_version` to the new schema
number, and bump `HEAD_REVISION` / `SCHEMA_VERSION` in `app.store.migrate`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Column, Dialect, Float, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, TypeDecorator)

FILE_SUFFIX = ".jstudio"
APPLICATION_ID = 0x4A535450  # "JSTP": SQLite `PRAGMA application_id` of every Journey Studio project file
SQLITE_MAGIC = b"SQLite format 3\x00"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC date-time stored as ISO 8601 text (SQLite has no date-time type)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("project file time stamps must be time-zone aware")
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


metadata = MetaData(naming_convention=NAMING)

project = Table(
    "project", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("settings", JSON, nullable=False),  # {custom_attributes: {...}, default_timezone: "UTC"}
    CheckConstraint("id = 1", name="single_row"),
)

journeys = Table(
    "journeys", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("entry", Text),
    Column("version", Integer, nullable=False),
    Column("settings", JSON, nullable=False),  # app.codec.plain.settings_to_plain
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

steps = Table(
    "steps", metadata,
    Column("journey_id", Text, ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True),
    Column("step_id", Text, primary_key=True),
    Column("ord", Integer, nullable=False),  # position in the journey's step order (may have gaps)
    Column("type", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("props", JSON, nullable=False),  # app.codec.plain.props_to_plain
    Column("outputs", JSON, nullable=False),  # {port: target step id or "end"}, in the step's port order
    Column("x", Float),
    Column("y", Float),
    # Serves both "the steps of a journey in order" (loading) and "the last ord" (appending).
    Index("ix_steps_journey_id_ord", "journey_id", "ord"),
)

content = Table(
    "content", metadata,
    Column("name", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("data", JSON, nullable=False),  # app.codec.plain.content_to_plain
)

segments = Table(
    "segments", metadata,
    Column("name", Text, primary_key=True),
    Column("entity", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("data", JSON, nullable=False),  # app.codec.plain.segment_to_plain
)

# Versions and milestones are a journey's history: no foreign key, so that deleting a journey keeps them and
# undoing the deletion (same journey id) brings the history back with it.
journey_versions = Table(
    "journey_versions", metadata,
    Column("journey_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("frozen_at", UtcDateTime, nullable=False),
    Column("document", JSON, nullable=False),  # app.codec.plain.journey_to_doc, with content and segments
)

milestones = Table(
    "milestones", metadata,
    Column("id", Integer, primary_key=True),
    Column("journey_id", Text, nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("detail", Text, nullable=False),
)

PROJECT_TABLES: tuple[str, ...] = tuple(metadata.tables)
