"""one owner per public key: public_key_owners keyed by the SM3 digest of the key's DER

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import essc.core.db
from essc.kit.crypto.sm import sm3

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CALLER_KEYS = sa.table(
    "caller_keys",
    sa.column("caller_id", sa.CHAR(26)),
    sa.column("public_key", sa.LargeBinary),
    sa.column("created_at", essc.core.db.UtcDateTime(timezone=True)),
)


def upgrade() -> None:
    owners = op.create_table(
        "public_key_owners",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("caller_id", sa.CHAR(length=26), nullable=False),
        sa.Column("created_at", essc.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_public_key_owners_caller_id_callers")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_public_key_owners")),
    )
    # Each key already registered belongs to the first party that registered it. A key two parties hold
    # (registered before the registry refused it) stays with both in caller_keys: protocol 2 binds the
    # caller into every signature, so neither can sign as the other; only the first may register it again.
    rows = op.get_bind().execute(
        sa.select(_CALLER_KEYS.c.public_key, _CALLER_KEYS.c.caller_id, _CALLER_KEYS.c.created_at).order_by(
            _CALLER_KEYS.c.created_at
        )
    )
    first: dict[bytes, dict[str, object]] = {}
    for public_key, caller_id, created_at in rows:
        digest = sm3(bytes(public_key))
        first.setdefault(digest, {"digest": digest, "caller_id": caller_id, "created_at": created_at})
    if first:
        op.bulk_insert(owners, list(first.values()))


def downgrade() -> None:
    op.drop_table("public_key_owners")
