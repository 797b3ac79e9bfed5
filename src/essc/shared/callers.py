"""Who sent an accepted request: the authenticated caller and the environment of its key."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from essc.kit.errors import Forbidden, Unauthenticated


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
    # False when the request's MAC verified under a session key this worker already held and the route's
    # one statement checks that the session still holds (essc.core.deps.requires, checks_session)
    session_checked: bool = True

    @property
    def acting_ref(self) -> str:
        """Who the request is for: the relayed second-level channel, or the caller itself."""
        return self.on_behalf_of or self.ref

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.ref}"


class MissingAuthHeader(Unauthenticated):
    code = "missing_auth_header"
    title = "A request authentication header is missing or malformed"


class WrongCallerKind(Forbidden):
    code = "wrong_caller_kind"
    title = "This endpoint serves another kind of caller"
