"""All SQL of chip challenges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from essc.chips.models import ChipChallenge
from essc.core.db import Session
from essc.shared.tokens import unspent


def challenge(session: Session, province: str, challenge_id: str) -> ChipChallenge | None:
    return session.get(ChipChallenge, (province, challenge_id))


def consume(
    session: Session, province: str, challenge_id: str, issuance_id: str, now: datetime
) -> ChipChallenge | None:
    """Spend a live challenge of this issuance in one statement: of concurrent answers exactly one wins."""
    return session.execute(
        update(ChipChallenge)
        .where(
            ChipChallenge.province == province,
            ChipChallenge.id == challenge_id,
            ChipChallenge.issuance_id == issuance_id,
            unspent(ChipChallenge.used_at, ChipChallenge.expires_at, now),
        )
        .values(used_at=now)
        .returning(ChipChallenge)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).scalar_one_or_none()
