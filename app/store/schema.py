"""The tables of a project file (SQLAlchemy Core), and the constants that mark a file as a project.

The Alembic migrations in `app/store/migrations` create exactly these tables; a test compares the two. When
the schema changes: edit the tables here, add a migration that sets `PRAGMA user_version` to the new schema
number, and bump `HEAD_REVISION` / `SCHEMA_VERSION` in `app.store.migrate`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Column, Dialect, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, PrimaryKeyConstraint, String, Table, Text, TypeDecorator)

# The marks of a project file are defined where code without SQLAlchemy reads them, and kept importable here.
from app.store.plain_schema import APPLICATION_ID, FILE_SUFFIX, SQLITE_MAGIC  # noqa: F401


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


class IsoDate(TypeDecorator[date]):
    """A calendar date stored as 'YYYY-MM-DD' text, so that comparing the text compares the dates."""

    impl = String(10)
    cache_ok = True

    def process_bind_param(self, value: date | str | None, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return (value.date() if isinstance(value, datetime) else value).isoformat()

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        return None if value is None else date.fromisoformat(value)


class IsoSeconds(TypeDecorator[datetime]):
    """A UTC date-time to the second stored as 'YYYY-MM-DDTHH:MM:SS' text (naive; aware values are converted).

    The fixed width makes text order equal time order, and it is what NumPy's datetime_as_string writes, so
    bulk generation needs no per-row formatting.
    """

    impl = String(19)
    cache_ok = True

    def process_bind_param(self, value: datetime | str | None, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat(timespec="seconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


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

# --- the audience (schema 2): contacts, their accounts, list memberships, interactions ----------------------
# Contacts are never loaded into the in-memory Project (there can be millions); app.audience queries them.
# Text attributes compare case-insensitively (NOCASE, ASCII letters), as marketers expect "atlantis" to find
# "Atlantis"; the indexes on them use the same collation.
NoCase = Text(collation="NOCASE")

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", NoCase, nullable=False),
    Column("industry", NoCase),
    Column("size", Integer),  # employees
    Column("city", NoCase),
    Index("ix_accounts_name", "name"),
)

contacts = Table(
    "contacts", metadata,
    Column("id", Integer, primary_key=True),
    Column("first_name", NoCase),
    Column("last_name", NoCase),
    Column("full_name", NoCase),
    Column("email", NoCase),
    Column("mobile_phone", Text),
    Column("city", NoCase),
    Column("country", NoCase),
    Column("time_zone", NoCase),
    Column("language", NoCase),
    Column("birth_date", IsoDate),
    Column("created_on", IsoSeconds),
    Column("consent_level", Text),
    Column("loyalty_tier", Text),
    Column("lifetime_value", Float),
    Column("last_purchase_date", IsoDate),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL")),
    Column("engagement", Float),  # latent engagement in [0, 1] the simulator uses; None for imported contacts
    Column("custom", JSON(none_as_null=True)),  # {custom attribute: value}, the project's custom attributes
    # Segment counts filter on these. SQLite uses one index per table and, without range statistics, guesses
    # badly between them; one covering index over the usual segment columns answers most multi-row queries
    # from the index alone, and (with ANALYZE) its skip-scan serves equality on country, consent_level and
    # loyalty_tier, which therefore need no index of their own. Selective lookups keep single-column indexes.
    Index("ix_contacts_segmenting", "country", "consent_level", "loyalty_tier", "lifetime_value",
          "last_purchase_date", "account_id", "city"),
    Index("ix_contacts_city", "city"),
    Index("ix_contacts_last_purchase_date", "last_purchase_date"),
    Index("ix_contacts_lifetime_value", "lifetime_value"),
    Index("ix_contacts_account_id", "account_id"),
)

contact_lists = Table(
    "contact_lists", metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("list", NoCase, nullable=False),
    PrimaryKeyConstraint("contact_id", "list"),
    Index("ix_contact_lists_list_contact_id", "list", "contact_id"),  # the members of a list, covering
)

interactions = Table(
    "interactions", metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),  # app.model.attributes.INTERACTION_KINDS
    Column("at", IsoSeconds, nullable=False),
    Column("value", Float),
    Index("ix_interactions_contact_id", "contact_id"),
    Index("ix_interactions_kind_at_contact_id", "kind", "at", "contact_id"),  # "who did X since T", covering
)

# Members of static segments, by segment name. No foreign key to `segments`, as for journey versions: removing
# a segment and undoing that brings its members back.
segment_members = Table(
    "segment_members", metadata,
    Column("segment", Text, nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("segment", "contact_id"),
    Index("ix_segment_members_contact_id", "contact_id"),
)

# --- saved simulation runs (schema 3) ------------------------------------------------------------------------
# No foreign key to `journeys`, as for journey versions: a run is history and outlives the journey's deletion.
# `data` is simulator.runs.RunRecord.to_bytes() (everything needed to replay the run); the other columns are
# what the run browser lists without unpacking it. Notes and approval are the reviewer's (empty / NULL for now).
simulation_runs = Table(
    "simulation_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("journey_id", Text, nullable=False),
    Column("journey_version", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("population", JSON, nullable=False),  # {kind: synthetic|project|segment, size, seed, segment, as_of}
    Column("behaviour", JSON, nullable=False),  # simulator.behaviour.BehaviourModel.to_plain()
    Column("seed", Integer, nullable=False),
    Column("replicas", Integer, nullable=False),
    Column("summary", JSON, nullable=False),  # funnel with intervals, conversion, start, horizon, contacts
    Column("data", LargeBinary, nullable=False),
    Column("notes", Text, nullable=False, server_default=""),
    Column("approved_at", UtcDateTime),
    Column("approved_by", Text),
    Index("ix_simulation_runs_journey_id_id", "journey_id", "id"),
)

# --- the audience's columns kept for reading (schema 4) ---------------------------------------------------------
# Reading a million contacts row by row takes seconds; app.audience.column_store keeps whole columns here (as
# read from the audience tables: NumPy bytes, and the distinct texts of a text column) with the stamp of their
# table they were read at. A table's stamp is a number that triggers in the file move on every insert, update and
# delete of its rows, whoever makes it (this application, another process, the sqlite3 shell), so a kept column
# whose stamp is not the current one is never used. A bulk load drops the triggers for its own transaction and
# moves the stamp once (app.audience.column_store.stamp_paused).
audience_stamp = Table(
    "audience_stamp", metadata,
    Column("tbl", Text, primary_key=True),  # one row per audience table, so an edit of a contact leaves the
    Column("n", Integer, nullable=False),   # interactions' kept columns current
)

audience_columns = Table(
    "audience_columns", metadata,
    Column("name", Text, primary_key=True),  # table, key, kind and column (or expression) read
    Column("stamp", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # little-endian int64 / float64, or int32 text codes
    Column("texts", Text),  # a text column's distinct values (JSON list); NULL for numbers
)

AUDIENCE_TABLES: tuple[str, ...] = ("accounts", "contacts", "contact_lists", "interactions", "segment_members")


def stamp_triggers() -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER statement) of the triggers that move the audience stamp (migration 0004 makes
    the same ones; a test compares them)."""
    return [(f"audience_stamp_{table}_{event.lower()}",
             f"CREATE TRIGGER audience_stamp_{table}_{event.lower()} AFTER {event} ON {table} "
             f"BEGIN UPDATE audience_stamp SET n = n + 1 WHERE tbl = '{table}'; END")
            for table in AUDIENCE_TABLES for event in ("INSERT", "UPDATE", "DELETE")]


PROJECT_TABLES: tuple[str, ...] = tuple(metadata.tables)
