"""Verifying the platform's signed webhooks on the channel side; the wire format comes from essc.kit.wire."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from essc.kit import wire
from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.errors import CryptoError


class WebhookSignatureInvalid(Exception):
    """The webhook is not signed by a known platform key, was changed, or is too old: do not act on it."""


def verify_webhook(
    suite: CryptoSuite,
    platform_keys: Mapping[str, PublicKey],
    headers: Mapping[str, str],
    body: bytes,
    *,
    receiver: str,
    now: float | None = None,
    max_skew_seconds: int = 300,
) -> dict[str, Any]:
    """Check a delivery's signature over the exact body bytes and its timestamp; return the event.

    `receiver` is the channel's own caller label (`channel/<channelNo>`): a delivery signed for another
    channel does not verify. `headers` may use any letter case (web frameworks differ). The signed event id is
    the body's `eventId`; deliveries can repeat, so a channel should act on each eventId once.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    key_id = lowered.get(wire.HEADER_KEY_ID.lower(), "")
    key = platform_keys.get(key_id)
    signature = wire.decode_signature(lowered.get(wire.HEADER_SIGNATURE.lower(), ""))
    timestamp = wire.parse_timestamp(lowered.get(wire.HEADER_TIMESTAMP.lower(), ""))
    nonce = lowered.get(wire.HEADER_NONCE.lower(), "")
    if key is None or signature is None or timestamp is None or not wire.NONCE_PATTERN.match(nonce):
        raise WebhookSignatureInvalid(f"webhook is not signed by a known platform key ({key_id!r})")
    current = time.time() if now is None else now
    if abs(current - timestamp) > max_skew_seconds:
        raise WebhookSignatureInvalid(f"webhook timestamp {timestamp} is outside {max_skew_seconds} s of now")
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookSignatureInvalid("webhook body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("eventId"), str):
        raise WebhookSignatureInvalid("webhook body carries no eventId")
    message = wire.webhook_string(
        event["eventId"], timestamp, nonce, body, suite.hash, receiver=receiver, key_id=key_id
    )
    try:
        suite.verify(key, message, signature)
    except CryptoError as exc:
        raise WebhookSignatureInvalid("webhook signature does not verify") from exc
    return event
