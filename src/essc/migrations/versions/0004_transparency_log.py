"""audit as transparency logs: entries without a chain, tree heads, tiles, witnesses, cosignatures

The chained entries are migrated as the first leaves of their province's log, in their chain order (leaf
index = sequence number - 1); the sequencer builds their tiles and signs the first tree head. Their source
addresses were stored in the clear and are not carried into leaves that are published.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import essc.core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_audit_subject", table_name="audit_entries")
    op.rename_table("audit_entries", "audit_chain_entries")
    if postgresql:  # constraint names are schema-wide there
        op.execute(
            "ALTER TABLE audit_chain_entries RENAME CONSTRAINT pk_audit_entries TO pk_audit_chain_entries"
        )
        op.execute(
            "ALTER TABLE audit_chain_entries RENAME CONSTRAINT uq_audit_entries_id TO uq_audit_chain_id"
        )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("log", sa.CHAR(length=2), nullable=False),
        sa.Column("at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("province", sa.CHAR(length=2), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("log", "leaf_index", name="uq_audit_entries_leaf"),
    )
    op.create_index("ix_audit_subject", "audit_entries", ["subject_kind", "subject_id"], unique=False)
    op.create_index(
        "ix_audit_unsequenced",
        "audit_entries",
        ["log", "id"],
        unique=False,
        postgresql_where=sa.text("leaf_index IS NULL"),
        sqlite_where=sa.text("leaf_index IS NULL"),
    )
    op.create_index(
        "ix_audit_first_leaf",
        "audit_entries",
        ["log"],
        unique=False,
        postgresql_where=sa.text("leaf_index = 0"),
        sqlite_where=sa.text("leaf_index = 0"),
    )
    op.execute(
        "INSERT INTO audit_entries (id, at, actor_kind, actor_id, action, subject_kind, subject_id, "
        "province, request_id, details, log, source_ip, leaf_index) "
        "SELECT id, at, actor_kind, actor_id, action, subject_kind, subject_id, province, "
        "request_id, details, stream, NULL, seq - 1 FROM audit_chain_entries"
    )
    op.drop_table("audit_chain_entries")
    op.drop_table("audit_heads")
    op.create_table(
        "audit_tree_heads",
        sa.Column("log", sa.CHAR(length=2), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=64), nullable=False),
        sa.Column("at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", name=op.f("pk_audit_tree_heads")),
    )
    op.create_table(
        "audit_tiles",
        sa.Column("log", sa.CHAR(length=2), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("log", "level", "idx", name=op.f("pk_audit_tiles")),
    )
    op.create_table(
        "audit_witnesses",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_witnesses")),
    )
    op.create_table(
        "audit_cosignatures",
        sa.Column("log", sa.CHAR(length=2), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=128), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", "witness", name=op.f("pk_audit_cosignatures")),
    )


def downgrade() -> None:
    raise NotImplementedError("the HMAC chain cannot be rebuilt without its retired key; restore a backup")
