"""Delivers outbox webhooks to channels: signed, retried with exponential backoff, every attempt logged."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from essc.channels import repository as channels
from essc.core import outbox
from essc.core.platform import Platform
from essc.kit import wire
from essc.kit.ids import new_id, random_token
from essc.webhooks import repository
from essc.webhooks.models import DeliveryAttempt

log = logging.getLogger("essc.webhooks")

HEADER_EVENT_ID = "X-Essc-Event-Id"


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes


class WebhookSender(Protocol):
    """Posts one webhook; returns the HTTP status, raises OSError/httpx errors when nothing came back."""

    def post(self, delivery: Delivery, timeout: float) -> int: ...


class HttpxSender:
    """The real adapter."""

    def __init__(self) -> None:
        self._client = httpx.Client(follow_redirects=False)

    def post(self, delivery: Delivery, timeout: float) -> int:
        response = self._client.post(
            delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout
        )
        return response.status_code


def sign_delivery(platform: Platform, url: str, event_id: str, body: bytes, receiver: str) -> Delivery:
    """Headers that let the receiving channel (`channel/<channelNo>`) verify a webhook with a platform key."""
    signer = platform.keys.signer()
    timestamp = int(platform.clock.now().timestamp())
    nonce = random_token(18)
    signature = signer.sign(
        wire.webhook_string(
            event_id, timestamp, nonce, body, platform.suite.hash, receiver=receiver, key_id=signer.key_id
        )
    )
    headers = {
        "Content-Type": "application/json",
        HEADER_EVENT_ID: event_id,
        wire.HEADER_KEY_ID: signer.key_id,
        wire.HEADER_TIMESTAMP: str(timestamp),
        wire.HEADER_NONCE: nonce,
        wire.HEADER_SIGNATURE: wire.encode_signature(signature),
    }
    return Delivery(url=url, headers=headers, body=body)


def deliver_due(platform: Platform, sender: WebhookSender, limit: int = 100) -> int:
    """Deliver what is due now; returns how many messages were attempted (essc.core.outbox)."""
    due_by = platform.clock.now()
    return outbox.deliver_due(
        lambda: _claim_one(platform, due_by),
        lambda job: _deliver(platform, sender, job[0], job[1], job[2], receiver=job[3]),
        limit,
    )


def _claim_one(platform: Platform, due_by: datetime) -> tuple[str, str | None, bytes, str] | None:
    with platform.session_factory() as session:
        leased = repository.claim_due(session, due_by, platform.clock.now() + outbox.LEASE, 1)
        if not leased:
            return None
        message = leased[0]
        channel = channels.by_id(session, message.channel_id)
        url = channel.webhook_url if channel else None
        receiver = f"channel/{channel.channel_no}" if channel else ""
        job = (message.id, url, message.payload.encode(), receiver)
        session.commit()
    return job


def _deliver(
    platform: Platform, sender: WebhookSender, message_id: str, url: str | None, body: bytes, *, receiver: str
) -> None:
    # Sign first: a platform fault (key store down) aborts the round and is no failed attempt of the message.
    delivery = None if url is None else sign_delivery(platform, url, message_id, body, receiver)
    status: int | None = None
    error: str | None = None
    started = time.monotonic()
    if delivery is None:
        error = "the channel has no webhook URL"
    else:
        try:
            status = sender.post(delivery, platform.settings.webhook_timeout_seconds)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (
            Exception
        ) as exc:  # whatever failed (httpx.InvalidURL is no HTTPError) is this attempt's outcome
            error = f"{type(exc).__name__}: {exc}"
    _record(platform, message_id, status, error, int((time.monotonic() - started) * 1000))


def _record(
    platform: Platform, message_id: str, status: int | None, error: str | None, duration_ms: int
) -> None:
    now = platform.clock.now()
    with platform.session_factory() as session:
        message = repository.message(session, message_id)
        if message is None:
            return
        session.add(
            DeliveryAttempt(
                id=new_id(),
                message_id=message_id,
                attempt_no=message.attempts + 1,
                attempted_at=now,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
            )
        )
        outbox.settle(message, error, now, max_attempts=platform.settings.webhook_max_attempts)
        session.commit()


class DispatcherThread(outbox.DeliveryLoop):
    """Runs webhook deliveries in the background of a process."""

    def __init__(
        self, platform: Platform, sender: WebhookSender | None = None, interval: float = 1.0
    ) -> None:
        chosen = sender or HttpxSender()
        super().__init__("essc-webhooks", lambda: deliver_due(platform, chosen), log, interval)
