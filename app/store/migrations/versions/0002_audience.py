"""Schema 2: the audience: accounts, contacts, subscription-list memberships, interactions, static members.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _nocase() -> sa.Text:
    return sa.Text(collation="NOCASE")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _nocase(), nullable=False),
        sa.Column("industry", _nocase(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("city", _nocase(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_index("ix_accounts_name", "accounts", ["name"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", _nocase(), nullable=True),
        sa.Column("last_name", _nocase(), nullable=True),
        sa.Column("full_name", _nocase(), nullable=True),
        sa.Column("email", _nocase(), nullable=True),
        sa.Column("mobile_phone", sa.Text(), nullable=True),
        sa.Column("city", _nocase(), nullable=True),
        sa.Column("country", _nocase(), nullable=True),
        sa.Column("time_zone", _nocase(), nullable=True),
        sa.Column("language", _nocase(), nullable=True),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.Column("created_on", sa.String(length=19), nullable=True),
        sa.Column("consent_level", sa.Text(), nullable=True),
        sa.Column("loyalty_tier", sa.Text(), nullable=True),
        sa.Column("lifetime_value", sa.Float(), nullable=True),
        sa.Column("last_purchase_date", sa.String(length=10), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("engagement", sa.Float(), nullable=True),
        sa.Column("custom", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_contacts_account_id_accounts",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index("ix_contacts_segmenting", "contacts", ["country", "consent_level", "loyalty_tier",
                                                           "lifetime_value", "last_purchase_date", "account_id",
                                                           "city"])
    for column in ("city", "last_purchase_date", "lifetime_value", "account_id"):
        op.create_index(f"ix_contacts_{column}", "contacts", [column])
    op.create_table(
        "contact_lists",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("list", _nocase(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_contact_lists_contact_id_contacts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", "list", name="pk_contact_lists"),
    )
    op.create_index("ix_contact_lists_list_contact_id", "contact_lists", ["list", "contact_id"])
    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.String(length=19), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_interactions_contact_id_contacts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
    )
    op.create_index("ix_interactions_contact_id", "interactions", ["contact_id"])
    op.create_index("ix_interactions_kind_at_contact_id", "interactions", ["kind", "at", "contact_id"])
    op.create_table(
        "segment_members",
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_segment_members_contact_id_contacts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("segment", "contact_id", name="pk_segment_members"),
    )
    op.create_index("ix_segment_members_contact_id", "segment_members", ["contact_id"])
    op.execute("PRAGMA user_version = 2")


def downgrade() -> None:
    for table in ("segment_members", "interactions", "contact_lists", "contacts", "accounts"):
        op.drop_table(table)
    op.execute("PRAGMA user_version = 1")
