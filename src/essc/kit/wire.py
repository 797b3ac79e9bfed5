"""The wire format of SPEC section 4, written once: platform, SDKs and conformance kit all import it.

A signed request carries five headers. The signature covers a canonical string of method, path with query,
timestamp, nonce and the hex SM3 (suite hash) digest of the exact body bytes, one per line. Responses and
webhooks are signed by the platform the same way over their own canonical strings.

Session traffic (hot paths such as QR resolution) replaces the SM2 signature with a MAC: the caller opens a
session with one signed request, receives a session key encrypted to its public key, then sends
X-Essc-Session instead of X-Essc-Key-Id and puts the HMAC (suite MAC) of the same canonical string in
X-Essc-Signature; the platform answers with a MAC over the response string under the same key.
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
HEADER_SESSION = "X-Essc-Session"
# A first-level channel relaying a request of one of its second-level channels names it here; it is signed.
HEADER_ON_BEHALF_OF = "X-Essc-On-Behalf-Of"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_IDEMPOTENT_REPLAYED = "Idempotent-Replayed"  # "true" on the first answer to a key, sent again
HEADER_REQUEST_ID = "X-Request-Id"

REQUEST_SCHEME = "ESSC-REQ-1"
RESPONSE_SCHEME = "ESSC-RESP-1"
WEBHOOK_SCHEME = "ESSC-HOOK-1"

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
CALLER_PATTERN = re.compile(r"^(channel|province|terminal|ministry)/([0-9A-Z]{2,20})$")
CALLER_REF_PATTERNS = {
    "channel": re.compile(r"^[0-9]{10}$"),
    "province": re.compile(r"^[0-9]{2}$"),
    "terminal": re.compile(r"^[0-9A-Z]{8,20}$"),
    "ministry": re.compile(r"^[A-Z][0-9A-Z]{1,19}$"),  # the ministry's own systems, e.g. ministry/MOHRSS
}
CALLER_FORMS = (
    "'channel/<10-digit channelNo>', 'province/<2-digit code>', 'terminal/<8-20 of 0-9 A-Z>' "
    "or 'ministry/<2-20 of 0-9 A-Z, starting with a letter>'"
)
SESSION_PATTERN = re.compile(r"^[0-9A-Za-z]{26}$")


def parse_caller(value: str) -> tuple[str, str] | None:
    """(kind, ref) of an X-Essc-Caller value, or None when it has none of the accepted forms."""
    match = CALLER_PATTERN.match(value)
    if match is None or not CALLER_REF_PATTERNS[match.group(1)].match(match.group(2)):
        return None
    return match.group(1), match.group(2)


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
    method: str,
    path: str,
    timestamp: int,
    nonce: str,
    body: bytes,
    *,
    digest: Digest,
    on_behalf_of: str | None = None,
) -> bytes:
    """Canonical string a caller signs for a request; path includes the query string as sent.

    A relayed request (a second-level channel's, sent by its first-level parent) adds one last line,
    `on-behalf-of:<channelNo>`, so the relayed channel cannot be swapped in transit.
    """
    lines = [REQUEST_SCHEME, method.upper(), path, str(timestamp), nonce, digest(body).hex()]
    if on_behalf_of is not None:
        lines.append(f"on-behalf-of:{on_behalf_of}")
    return "\n".join(lines).encode("utf-8")


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


@dataclass(frozen=True, slots=True)
class SessionHeaders:
    """The authentication headers of one session request (a MAC in place of a signature)."""

    caller: str
    session_id: str
    timestamp: int
    nonce: str
    mac: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_CALLER: self.caller,
            HEADER_SESSION: self.session_id,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: encode_signature(self.mac),
        }
