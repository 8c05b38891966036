"""Schema 1: project, journeys, steps, content, segments, journey versions and milestones.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

APPLICATION_ID = 0x4A535450  # frozen copy of app.store.schema.APPLICATION_ID


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_project_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_project"),
    )
    op.create_table(
        "journeys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journeys"),
        sa.UniqueConstraint("name", name="uq_journeys_name"),
    )
    op.create_table(
        "steps",
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("props", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_steps_journey_id_journeys",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "step_id", name="pk_steps"),
    )
    op.create_index("ix_steps_journey_id_ord", "steps", ["journey_id", "ord"])
    op.create_table(
        "content",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_content"),
    )
    op.create_table(
        "segments",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_segments"),
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.String(length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "version", name="pk_journey_versions"),
    )
    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_milestones"),
    )
    op.create_index("ix_milestones_journey_id", "milestones", ["journey_id"])
    op.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    op.execute("PRAGMA user_version = 1")


def downgrade() -> None:
    for table in ("milestones", "journey_versions", "segments", "content", "steps", "journeys", "project"):
        op.drop_table(table)
    op.execute("PRAGMA user_version = 0")
