"""What code without SQLAlchemy needs to know of a project file: the marks in its header, and the tables and
columns a project is loaded from (app/store/schema.py defines the same tables for SQLAlchemy; a test checks
that the two agree)."""

from __future__ import annotations

FILE_SUFFIX = ".jstudio"
APPLICATION_ID = 0x4A535450  # "JSTP": SQLite `PRAGMA application_id` of every Journey Studio project file
SQLITE_MAGIC = b"SQLite format 3\x00"

PROJECT_TABLES: dict[str, tuple[str, ...]] = {
    "project": ("id", "name", "settings"),
    "journeys": ("id", "name", "entry", "version", "settings", "created_at", "updated_at"),
    "steps": ("journey_id", "step_id", "ord", "type", "name", "props", "outputs", "x", "y"),
    "content": ("name", "kind", "status", "data"),
    "segments": ("name", "entity", "kind", "data"),
}
"""The tables the in-memory Project is loaded from, each with its columns in the order schema.py declares them."""
