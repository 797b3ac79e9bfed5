"""The wire format of SPEC section 4, written once: platform, SDKs and conformance kit all import it.

A signed request carries five headers. The signature covers a canonical string of method, path with query,
timestamp, nonce and the hex SM3 (suite hash) digest of the exact body bytes, one per line. Responses and
webhooks are signed by the platform the same way over their own canonical strings.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

HEADER_CALLER = "X-Essc-Caller"
HEADER_KEY_ID = "X-Essc-Key-Id"
HEADER_TIMESTAMP = "X-Essc-Timestamp"
HEADER_NONCE = "X-Essc-Nonce"
HEADER_SIGNATURE = "X-Essc-Signature"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_REQUEST_ID = "X-Request-Id"

REQUEST_SCHEME = "ESSC-REQ-1"
RESPONSE_SCHEME = "ESSC-RESP-1"
WEBHOOK_SCHEME = "ESSC-HOOK-1"

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
CALLER_PATTERN = re.compile(r"^(channel|province)/([0-9]{2}|[0-9]{10})$")

Digest = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The authentication headers of one request, response or webhook."""

    caller: str
    key_id: str
    timestamp: int
    nonce: str
    signature: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_CALLER: self.caller,
            HEADER_KEY_ID: self.key_id,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: encode_signature(self.signature),
        }


def request_string(
    method: str, path: str, timestamp: int, nonce: str, body: bytes, *, digest: Digest
) -> bytes:
    """Canonical string a caller signs for a request; path includes the query string as sent."""
    return "\n".join(
        [REQUEST_SCHEME, method.upper(), path, str(timestamp), nonce, digest(body).hex()]
    ).encode("utf-8")


def response_string(status: int, request_nonce: str, timestamp: int, body: bytes, digest: Digest) -> bytes:
    """Canonical string the platform signs for a response, bound to the request's nonce."""
    return "\n".join(
        [RESPONSE_SCHEME, str(status), request_nonce, str(timestamp), digest(body).hex()]
    ).encode("utf-8")


def webhook_string(event_id: str, timestamp: int, nonce: str, body: bytes, digest: Digest) -> bytes:
    """Canonical string the platform signs for a webhook delivery."""
    return "\n".join([WEBHOOK_SCHEME, event_id, str(timestamp), nonce, digest(body).hex()]).encode("utf-8")


def encode_signature(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def decode_signature(value: str) -> bytes | None:
    """Base64 signature header to bytes; None when it is not valid base64."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def path_with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path
