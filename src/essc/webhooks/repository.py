"""All SQL of the webhook outbox and delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from essc.core.db import Session
from essc.core.outbox import OutboxStatus
from essc.webhooks.models import DeliveryAttempt, OutboxMessage


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMessage]:
    """Lease due messages to this dispatcher; other dispatchers skip them until the lease ends."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    messages = list(session.execute(stmt).scalars())
    for message in messages:
        message.next_attempt_at = lease_until
    session.flush()
    return messages


def message(session: Session, message_id: str) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id)


def attempts_of(session: Session, message_id: str) -> list[DeliveryAttempt]:
    return list(
        session.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.attempt_no)
        ).scalars()
    )


def messages_for(session: Session, channel_id: str) -> list[OutboxMessage]:
    return list(
        session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.channel_id == channel_id)
            .order_by(OutboxMessage.created_at)
        ).scalars()
    )


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: int(count) for status, count in rows}
