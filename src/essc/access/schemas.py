"""Types of request authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from essc.kit.schemas import WireModel


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What authentication needs from an HTTP request."""

    method: str
    path: str  # with query string as sent
    headers: dict[str, str]  # lower-cased names
    body: bytes


class OpenedSession(WireModel):
    """A new MAC session: its id, the key encrypted to the caller's public key, and its expiry."""

    session_id: str = Field(alias="sessionId")
    encrypted_key: str = Field(
        alias="encryptedKey", description="base64 of the session key encrypted to the signing key"
    )
    mac_algorithm: str = Field(alias="macAlgorithm", description="HMAC-SM3, or HMAC-SHA256 for intl")
    expires_at: datetime = Field(alias="expiresAt")
