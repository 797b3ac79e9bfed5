"""Errors named for the condition; each carries its HTTP status and stable code."""

from __future__ import annotations

from typing import Any, ClassVar


class EsscError(Exception):
    """Base of every error the platform renders as an RFC 9457 problem."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # Some refusals are themselves state (a failed password attempt counts): keep the transaction's changes.
    persist_changes: ClassVar[bool] = False

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidInput(EsscError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class NotFound(EsscError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(EsscError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(EsscError):
    status = 410
    code = "gone"
    title = "No longer available"


class PayloadTooLarge(EsscError):
    status = 413
    code = "body_too_large"
    title = "Request body too large"


class Forbidden(EsscError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unauthenticated(EsscError):
    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class CryptoError(EsscError):
    """A signature, key or ciphertext could not be used."""

    status = 400
    code = "crypto_error"
    title = "Cryptographic check failed"


class InvalidSignature(CryptoError):
    code = "invalid_signature"
    title = "Invalid signature"


class MalformedKey(CryptoError):
    code = "malformed_key"
    title = "Malformed key"


class DecryptionFailed(CryptoError):
    code = "decryption_failed"
    title = "Decryption failed"


class KeyNotFound(EsscError):
    status = 500
    code = "key_not_found"
    title = "Key not found in the key store"
