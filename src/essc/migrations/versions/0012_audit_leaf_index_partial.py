"""audit entries: the unique leaf index holds sequenced entries only

An entry is inserted without a leaf index, so the unique (log, leaf_index) constraint took an index entry
for it on the request path, and another when the sequencer gave it its index. A partial unique index over
the sequenced entries keeps the same rule (one entry per leaf of a log) and serves every read by leaf
index, which implies IS NOT NULL; an unsequenced entry no longer writes to it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite drops a table constraint by copying the table (batch mode), the rows and other indexes with it.
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_entries_leaf", type_="unique")
    op.create_index(
        "uq_audit_entries_leaf",
        "audit_entries",
        ["log", "leaf_index"],
        unique=True,
        postgresql_where=sa.text("leaf_index IS NOT NULL"),
        sqlite_where=sa.text("leaf_index IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_audit_entries_leaf", table_name="audit_entries")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_audit_entries_leaf", ["log", "leaf_index"])
