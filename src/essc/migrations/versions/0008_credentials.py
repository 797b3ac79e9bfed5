"""electronic service credentials and their status lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import essc.core.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_status_lists",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("list_no", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bits", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("province", "list_no", name=op.f("pk_credential_status_lists")),
    )
    op.create_table(
        "credentials",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("list_no", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("ecard_id", sa.CHAR(length=26), nullable=False),
        sa.Column("issuance_id", sa.CHAR(length=26), nullable=False),
        sa.Column("card_id", sa.CHAR(length=26), nullable=False),
        sa.Column("channel_id", sa.CHAR(length=26), nullable=False),
        sa.Column("device_serial", sa.LargeBinary(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("province", "id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("province", "list_no", "idx", name="uq_credentials_index"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index("ix_credentials_card", ["province", "card_id"], unique=False)
        batch_op.create_index("ix_credentials_issuance", ["province", "issuance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_issuance")
        batch_op.drop_index("ix_credentials_card")
    op.drop_table("credentials")
    op.drop_table("credential_status_lists")
