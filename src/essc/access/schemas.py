"""Types of request authentication."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuthenticatedCaller:
    """A caller whose request signature, timestamp and nonce were all accepted."""

    caller_id: str
    kind: str  # channel | province
    ref: str  # channelNo or two-digit province code
    key_id: str
    nonce: str
    signature: str  # base64, kept as evidence of what the caller asked
    body_digest: str  # hex suite hash of the body

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
