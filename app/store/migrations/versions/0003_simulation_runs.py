"""Schema 3: saved simulation runs (inputs, summary and the replayable record), with review columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "simulation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("population", sa.JSON(), nullable=False),
        sa.Column("behaviour", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("approved_at", sa.String(length=32), nullable=True),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_simulation_runs"),
    )
    op.create_index("ix_simulation_runs_journey_id_id", "simulation_runs", ["journey_id", "id"])
    op.execute("PRAGMA user_version = 3")


def downgrade() -> None:
    op.drop_table("simulation_runs")
    op.execute("PRAGMA user_version = 2")
