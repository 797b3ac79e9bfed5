"""OpenID Connect provider: relying parties, authorizations, grants, tokens, assertions, logout notices

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import essc.core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_client_assertions",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("expires_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_oidc_client_assertions")),
    )
    with op.batch_alter_table("oidc_client_assertions", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_client_assertions_expires", ["expires_at"], unique=False)

    op.create_table(
        "oidc_relying_parties",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("province", sa.CHAR(length=2), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("id_token_alg", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("clear_id_number", sa.Boolean(), nullable=False),
        sa.Column("sector", sa.String(length=255), nullable=False),
        sa.Column("backchannel_logout_uri", sa.String(length=512), nullable=True),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_relying_parties")),
    )
    op.create_table(
        "oidc_authorizations",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("interaction_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("code_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("holder_province", sa.CHAR(length=2), nullable=True),
        sa.Column("ecard_id", sa.CHAR(length=26), nullable=True),
        sa.Column("clear_id_consent", sa.Boolean(), nullable=False),
        sa.Column("auth_method", sa.String(length=16), nullable=True),
        sa.Column("auth_time", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("grant_id", sa.CHAR(length=26), nullable=True),
        sa.Column("redeemed_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_relying_parties.client_id"],
            name=op.f("fk_oidc_authorizations_client_id_oidc_relying_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_authorizations")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_oidc_authorizations_code_digest")),
        sa.UniqueConstraint("interaction_digest", name=op.f("uq_oidc_authorizations_interaction_digest")),
        sa.UniqueConstraint("request_digest", name=op.f("uq_oidc_authorizations_request_digest")),
    )
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_authorizations_expires", ["expires_at"], unique=False)

    op.create_table(
        "oidc_grants",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("holder_province", sa.CHAR(length=2), nullable=False),
        sa.Column("ecard_id", sa.CHAR(length=26), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("clear_id_consent", sa.Boolean(), nullable=False),
        sa.Column("auth_time", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_relying_parties.client_id"],
            name=op.f("fk_oidc_grants_client_id_oidc_relying_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_grants")),
    )
    with op.batch_alter_table("oidc_grants", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_grants_holder", ["holder_province", "ecard_id"], unique=False)

    op.create_table(
        "oidc_logout_notices",
        sa.Column("id", sa.CHAR(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.CHAR(length=26), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("logout_token", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_relying_parties.client_id"],
            name=op.f("fk_oidc_logout_notices_client_id_oidc_relying_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_logout_notices")),
    )
    with op.batch_alter_table("oidc_logout_notices", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_logout_notices_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "oidc_tokens",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("grant_id", sa.CHAR(length=26), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", essc.core.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["oidc_grants.id"], name=op.f("fk_oidc_tokens_grant_id_oidc_grants")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oidc_tokens")),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_tokens_grant", ["grant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_tokens_grant")

    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_logout_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_logout_notices_due")

    op.drop_table("oidc_logout_notices")
    with op.batch_alter_table("oidc_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_grants_holder")

    op.drop_table("oidc_grants")
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_authorizations_expires")

    op.drop_table("oidc_authorizations")
    op.drop_table("oidc_relying_parties")
    with op.batch_alter_table("oidc_client_assertions", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_client_assertions_expires")

    op.drop_table("oidc_client_assertions")
