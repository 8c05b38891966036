"""Schema 4: the audience stamps (one per audience table, moved by triggers on every change of its rows) and the
audience's columns kept for reading (app.audience.column_store).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_AUDIENCE = ("accounts", "contacts", "contact_lists", "interactions", "segment_members")
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "audience_stamp",
        sa.Column("tbl", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tbl", name="pk_audience_stamp"),
    )
    for table in _AUDIENCE:
        op.execute(f"INSERT INTO audience_stamp (tbl, n) VALUES ('{table}', 0)")
    op.create_table(
        "audience_columns",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("stamp", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("texts", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_audience_columns"),
    )
    for table in _AUDIENCE:
        for event in _EVENTS:
            op.execute(f"CREATE TRIGGER audience_stamp_{table}_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN UPDATE audience_stamp SET n = n + 1 WHERE tbl = '{table}'; END")
    op.execute("PRAGMA user_version = 4")


def downgrade() -> None:
    for table in _AUDIENCE:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS audience_stamp_{table}_{event.lower()}")
    op.drop_table("audience_columns")
    op.drop_table("audience_stamp")
    op.execute("PRAGMA user_version = 3")
