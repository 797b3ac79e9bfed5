"""OpenID provider login methods: scan-to-login codes of a relying party, chip challenges of a login page

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A code shown on the provider's login page belongs to a relying party, not to a terminal.
    with op.batch_alter_table("login_codes", schema=None) as batch_op:
        batch_op.alter_column("terminal_id", existing_type=sa.CHAR(length=26), nullable=True)
        batch_op.alter_column("institution_id", existing_type=sa.CHAR(length=26), nullable=True)
        batch_op.add_column(sa.Column("relying_party", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("site_name", sa.String(length=128), nullable=True))
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_code_id", sa.CHAR(length=26), nullable=True))
        batch_op.add_column(sa.Column("chip_challenge", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_oidc_authorizations_login_code_id", ["login_code_id"])


def downgrade() -> None:
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_oidc_authorizations_login_code_id", type_="unique")
        batch_op.drop_column("chip_challenge")
        batch_op.drop_column("login_code_id")
    op.execute("DELETE FROM login_codes WHERE terminal_id IS NULL")
    with op.batch_alter_table("login_codes", schema=None) as batch_op:
        batch_op.drop_column("site_name")
        batch_op.drop_column("relying_party")
        batch_op.alter_column("institution_id", existing_type=sa.CHAR(length=26), nullable=False)
        batch_op.alter_column("terminal_id", existing_type=sa.CHAR(length=26), nullable=False)
