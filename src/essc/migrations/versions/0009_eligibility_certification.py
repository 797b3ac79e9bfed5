"""eligibility certification: due items, certifications, delegations, reminders, deliveries to provinces

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:20:51.861489
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import essc.core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eligibility_benefit_systems",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("updated_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("province", name=op.f("pk_eligibility_benefit_systems")),
    )
    op.create_table(
        "eligibility_deliveries",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_deliveries")),
    )
    with op.batch_alter_table("eligibility_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_eligibility_deliveries_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "eligibility_delivery_attempts",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("delivery_id", sa.CHAR(length=26), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("attempted_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_delivery_attempts")),
    )
    with op.batch_alter_table("eligibility_delivery_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_eligibility_delivery_attempts_delivery", ["delivery_id"], unique=False)

    op.create_table(
        "eligibility_reminders",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.CHAR(length=26), nullable=False),
        sa.Column("sent_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "province", "person_id", "period", "channel_id", name=op.f("pk_eligibility_reminders")
        ),
    )
    op.create_table(
        "eligibility_delegations",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("delegate_province", sa.CHAR(length=2), nullable=False),
        sa.Column("delegate_person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.CHAR(length=26), nullable=False),
        sa.Column("granted_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["province", "person_id"],
            ["persons.province", "persons.id"],
            name=op.f("fk_eligibility_delegations_province_person_id_persons"),
        ),
        sa.PrimaryKeyConstraint("province", "id", name=op.f("pk_eligibility_delegations")),
    )
    with op.batch_alter_table("eligibility_delegations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eligibility_delegations_delegate", ["delegate_province", "delegate_person_id"], unique=False
        )
        batch_op.create_index("ix_eligibility_delegations_person", ["province", "person_id"], unique=False)
        batch_op.create_index(
            "uq_eligibility_delegations_active",
            ["province", "person_id", "delegate_province", "delegate_person_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "eligibility_due_items",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("benefit_type", sa.String(length=32), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("opens_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("loaded_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("certified_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["province", "person_id"],
            ["persons.province", "persons.id"],
            name=op.f("fk_eligibility_due_items_province_person_id_persons"),
        ),
        sa.PrimaryKeyConstraint("province", "id", name=op.f("pk_eligibility_due_items")),
        sa.UniqueConstraint(
            "province",
            "person_id",
            "benefit_type",
            "period",
            name=op.f("uq_eligibility_due_items_province_person_id_benefit_type_period"),
        ),
        sa.UniqueConstraint(
            "province", "source_ref", name=op.f("uq_eligibility_due_items_province_source_ref")
        ),
    )
    with op.batch_alter_table("eligibility_due_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eligibility_due_items_period", ["province", "period", "status", "due_at"], unique=False
        )

    op.create_table(
        "eligibility_certifications",
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("due_item_id", sa.CHAR(length=26), nullable=False),
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("certifier", sa.String(length=16), nullable=False),
        sa.Column("certifier_province", sa.CHAR(length=2), nullable=False),
        sa.Column("certifier_person_id", sa.CHAR(length=26), nullable=False),
        sa.Column("delegation_id", sa.CHAR(length=26), nullable=True),
        sa.Column("channel_id", sa.CHAR(length=26), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("evidence_ref", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("checked_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("certified_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["province", "due_item_id"],
            ["eligibility_due_items.province", "eligibility_due_items.id"],
            name=op.f("fk_eligibility_certifications_province_due_item_id_eligibility_due_items"),
        ),
        sa.PrimaryKeyConstraint("province", "due_item_id", name=op.f("pk_eligibility_certifications")),
        sa.UniqueConstraint("id", name=op.f("uq_eligibility_certifications_id")),
    )
    with op.batch_alter_table("eligibility_certifications", schema=None) as batch_op:
        batch_op.create_index("ix_eligibility_certifications_person", ["province", "person_id"], unique=False)


def downgrade() -> None:
    # Dependants first: certifications refer to due items.
    for table in (
        "eligibility_certifications",
        "eligibility_due_items",
        "eligibility_delegations",
        "eligibility_reminders",
        "eligibility_delivery_attempts",
        "eligibility_deliveries",
        "eligibility_benefit_systems",
    ):
        op.drop_table(table)
