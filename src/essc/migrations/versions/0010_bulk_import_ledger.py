"""bulk import ledger (a row per committed batch) and the daily feed's per-holder sequence marks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from essc.core.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("file_digest", sa.CHAR(64), primary_key=True),
        sa.Column("batch_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("province", sa.CHAR(2), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_line", sa.Integer, nullable=False),
        sa.Column("last_line", sa.Integer, nullable=False),
        sa.Column("byte_end", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("changed", sa.Integer, nullable=False),
        sa.Column("root", sa.LargeBinary(64), nullable=False),
        sa.Column("row_digests", sa.LargeBinary, nullable=False),
        sa.Column("rejected", sa.Text, nullable=False),
        sa.Column("committed_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_import_batches_province", "import_batches", ["province", "committed_at"])
    op.create_table(
        "holder_feed_marks",
        sa.Column("province", sa.CHAR(2), primary_key=True),
        sa.Column("aac002_index", sa.LargeBinary(32), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holder_feed_marks")
    op.drop_index("ix_import_batches_province", table_name="import_batches")
    op.drop_table("import_batches")
