"""Why a signed request was refused; each names the header or rule an integrator must fix."""

from __future__ import annotations

from essc.kit.errors import Conflict, EsscError, Forbidden, Unauthenticated


class TimestampOutOfWindow(Unauthenticated):
    code = "timestamp_out_of_window"
    title = "Request timestamp is outside the allowed window"


class NonceReused(Unauthenticated):
    code = "nonce_reused"
    title = "Request nonce was already used"


class UnknownCaller(Unauthenticated):
    code = "unknown_caller"
    title = "Unknown caller"


class UnknownKeyId(Unauthenticated):
    code = "unknown_key_id"
    title = "Unknown key id for this caller"


class KeyRevoked(Unauthenticated):
    code = "key_revoked"
    title = "The signing key was revoked"


class KeyRetired(Unauthenticated):
    code = "key_retired"
    title = "The signing key was replaced and its overlap window is over"


class RequestSignatureInvalid(Unauthenticated):
    code = "invalid_request_signature"
    title = "Request signature does not verify"


class CallerSuspended(Forbidden):
    code = "caller_suspended"
    title = "Caller is not active"


class DuplicateCaller(EsscError):
    status = 409
    code = "duplicate_caller"
    title = "Caller already registered"


class PublicKeyInUse(EsscError):
    status = 409
    code = "public_key_in_use"
    title = "Public key already registered to another party"


class UnknownSession(Unauthenticated):
    code = "unknown_session"
    title = "Unknown MAC session"


class SessionExpired(Unauthenticated):
    code = "session_expired"
    title = "The MAC session expired"


class SessionNotAllowed(Forbidden):
    code = "session_not_allowed"
    title = "This request needs a signature, not a session MAC"


class RelayNotAllowed(Unauthenticated):
    code = "relay_not_allowed"
    title = "Only a channel can relay, and only for a 10-digit channelNo"


class SessionStandingChanged(Conflict):
    code = "session_standing_changed"
    title = "The session's standing changed while the request ran; send it again"
