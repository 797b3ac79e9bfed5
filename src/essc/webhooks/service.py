"""Announcing changes to channels: an outbox row in the caller's transaction, delivered later."""

from __future__ import annotations

from typing import Any

import orjson

from essc.core.outbox import OutboxStatus
from essc.core.uow import UnitOfWork
from essc.kit.ids import new_id
from essc.webhooks.models import OutboxMessage


def announce(uow: UnitOfWork, channel_id: str, event_type: str, data: dict[str, Any]) -> str:
    """Queue a signed webhook for one channel; it leaves only if the surrounding transaction commits."""
    now = uow.clock.now()
    event_id = new_id()
    body = {"eventId": event_id, "type": event_type, "occurredAt": now.isoformat(), "data": data}
    uow.session.add(
        OutboxMessage(
            id=event_id,
            channel_id=channel_id,
            event_type=event_type,
            payload=orjson.dumps(body).decode("utf-8"),
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return event_id
