"""holder columns that narrow no ID number: no clear birth date, a mask of two characters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PERSONS = sa.table("persons", sa.column("aac002_masked", sa.String(18)))


def upgrade() -> None:
    # The old mask (first four, last four) holds the new one (first, last): no key is needed to narrow it.
    masked = _PERSONS.c.aac002_masked
    op.execute(
        _PERSONS.update()
        .where(sa.func.length(masked) == 18)
        .values(
            aac002_masked=sa.func.substr(masked, 1, 1)
            + sa.literal("*" * 16, sa.String)
            + sa.func.substr(masked, 18, 1)
        )
    )
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("birth_date")


def downgrade() -> None:
    # The dropped birth dates and mask digits are only in the ciphertexts, which a migration cannot read:
    # the column comes back empty (0003's password rule then needs it filled by a keyed job).
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("birth_date", sa.CHAR(length=8), nullable=True))
