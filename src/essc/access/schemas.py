"""Types of request authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from essc.kit.schemas import WireModel


class Environment(StrEnum):
    """Where a key works: the sandbox (access tests) or production; each has its own keys."""

    SANDBOX = "sandbox"
    PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class AuthenticatedCaller:
    """A caller whose request signature, timestamp and nonce were all accepted."""

    caller_id: str
    kind: str  # channel | province | terminal | ministry
    ref: str  # channelNo, two-digit province code or terminal number
    key_id: str  # the signing key id, or "" for session traffic
    nonce: str
    signature: str  # base64, kept as evidence of what the caller asked
    body_digest: str  # hex suite hash of the body
    session_id: str | None = None
    session_key: bytes | None = None  # MAC key for the response of a session request
    environment: str = Environment.PRODUCTION.value  # of the key that signed (or opened the session)
    on_behalf_of: str | None = None  # the second-level channelNo a first-level channel relays for

    @property
    def acting_ref(self) -> str:
        """Who the request is for: the relayed second-level channel, or the caller itself."""
        return self.on_behalf_of or self.ref

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.ref}"


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
