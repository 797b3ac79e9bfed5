"""The wire format of docs/protocol.md, written once: platform, SDKs and conformance kit all import it.

A signed request carries five headers. The signature covers a canonical string (`request_string`,
scheme ESSC-REQ-2) of method, path with query, timestamp, nonce, the caller, the key id (or session id)
and the hex SM3 (suite hash) digest of the exact body bytes, one per line: a signature made for one caller
and key verifies for no other, even when two parties hold the same key. Responses (`response_string`,
ESSC-RESP-2) and webhooks (`webhook_string`, ESSC-HOOK-2) are signed by the platform the same way over
their own canonical strings, bound to the caller or receiving channel and to the key or session that
signed them. ESSC-REQ-1 (no caller, no key id) is retired: a request signed under it does not verify.

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

REQUEST_SCHEME = "ESSC-REQ-2"
RESPONSE_SCHEME = "ESSC-RESP-2"
WEBHOOK_SCHEME = "ESSC-HOOK-2"
# Retired: it bound neither caller nor key id, so a key shared by two parties let either act as the other.
RETIRED_REQUEST_SCHEMES = ("ESSC-REQ-1",)

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}\Z")
CALLER_PATTERN = re.compile(r"^(channel|province|terminal|ministry)/([0-9A-Z]{2,20})\Z")
CALLER_REF_PATTERNS = {
    "channel": re.compile(r"^[0-9]{10}\Z"),
    "province": re.compile(r"^[0-9]{2}\Z"),
    "terminal": re.compile(r"^[0-9A-Z]{8,20}\Z"),
    "ministry": re.compile(r"^[A-Z][0-9A-Z]{1,19}\Z"),  # the ministry's own systems, e.g. ministry/MOHRSS
}
CALLER_FORMS = (
    "'channel/<10-digit channelNo>', 'province/<2-digit code>', 'terminal/<8-20 of 0-9 A-Z>' "
    "or 'ministry/<2-20 of 0-9 A-Z, starting with a letter>'"
)
SESSION_PATTERN = re.compile(r"^[0-9A-Za-z]{26}\Z")
# Header values are matched whole (\Z, not $, which also matches before a final newline) and in ASCII only:
# str.isdigit() takes "²" and int() then fails, so digits are [0-9] here, never \d or isdigit().
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{1,15}\Z")
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")
# A caller's X-Request-Id is echoed and logged: kept only in this charset and length, else a new one is made.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,64}\Z")


def parse_caller(value: str) -> tuple[str, str] | None:
    """(kind, ref) of an X-Essc-Caller value, or None when it has none of the accepted forms."""
    match = CALLER_PATTERN.match(value)
    if match is None or not CALLER_REF_PATTERNS[match.group(1)].match(match.group(2)):
        return None
    return match.group(1), match.group(2)


def parse_timestamp(value: str) -> int | None:
    """Unix seconds of an X-Essc-Timestamp value (1-15 ASCII digits), or None for anything else."""
    return int(value) if TIMESTAMP_PATTERN.match(value) else None


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


def credential_line(*, key_id: str | None = None, session_id: str | None = None) -> str:
    """`key:<key id>` for a signature, `session:<session id>` for a session MAC; exactly one is given."""
    if (key_id is None) == (session_id is None):
        raise ValueError("name exactly one of key_id and session_id")
    return f"key:{key_id}" if key_id is not None else f"session:{session_id}"


def request_string(
    method: str,
    path: str,
    timestamp: int,
    nonce: str,
    body: bytes,
    *,
    digest: Digest,
    caller: str,
    key_id: str | None = None,
    session_id: str | None = None,
    on_behalf_of: str | None = None,
) -> bytes:
    """Canonical string (ESSC-REQ-2) a caller signs or MACs for a request; UTF-8, LF-joined, no final LF.

    Lines: `ESSC-REQ-2`; the method in upper case; the path with its query string exactly as sent (no
    normalisation); the X-Essc-Timestamp value (Unix seconds, decimal); the X-Essc-Nonce value;
    `caller:<X-Essc-Caller value>`; `key:<X-Essc-Key-Id value>` for a signature or
    `session:<X-Essc-Session value>` for a session MAC (exactly one of key_id, session_id); the lower-case
    hex digest (SM3 in the sm suite, SHA-256 in intl) of the exact body bytes (of the empty string when
    there is no body). A relayed request (a second-level channel's, sent by its first-level parent) adds
    one last line `on-behalf-of:<channelNo>`, so the relayed channel cannot be swapped in transit. Binding
    the caller and the key id means a signature verifies only for the party and key that made it.
    """
    lines = [
        REQUEST_SCHEME,
        method.upper(),
        path,
        str(timestamp),
        nonce,
        f"caller:{caller}",
        credential_line(key_id=key_id, session_id=session_id),
        digest(body).hex(),
    ]
    if on_behalf_of is not None:
        lines.append(f"on-behalf-of:{on_behalf_of}")
    return "\n".join(lines).encode("utf-8")


def response_string(
    status: int,
    request_nonce: str,
    timestamp: int,
    body: bytes,
    digest: Digest,
    *,
    caller: str,
    key_id: str | None = None,
    session_id: str | None = None,
) -> bytes:
    """Canonical string (ESSC-RESP-2) the platform signs or MACs for an answer; UTF-8, LF-joined.

    Lines: `ESSC-RESP-2`; the HTTP status (decimal); the request's X-Essc-Nonce; the response's
    X-Essc-Timestamp; `caller:<the request's X-Essc-Caller, empty when it had none>`; `key:<the platform
    signing key id of the response's X-Essc-Key-Id>` for a signature or `session:<X-Essc-Session>` for a
    session MAC; the lower-case hex digest of the exact response body bytes. The answer is thereby bound
    to the request (nonce), to the caller it was made for and to the key that signed it.
    """
    return "\n".join(
        [
            RESPONSE_SCHEME,
            str(status),
            request_nonce,
            str(timestamp),
            f"caller:{caller}",
            credential_line(key_id=key_id, session_id=session_id),
            digest(body).hex(),
        ]
    ).encode("utf-8")


def webhook_string(
    event_id: str, timestamp: int, nonce: str, body: bytes, digest: Digest, *, receiver: str, key_id: str
) -> bytes:
    """Canonical string (ESSC-HOOK-2) the platform signs for a webhook delivery; UTF-8, LF-joined.

    Lines: `ESSC-HOOK-2`; the event id (the body's `eventId`, also X-Essc-Event-Id); the X-Essc-Timestamp
    value; the X-Essc-Nonce value; `receiver:channel/<channelNo>` (the channel the delivery is for);
    `key:<the platform signing key id of X-Essc-Key-Id>`; the lower-case hex digest of the exact body
    bytes. A delivery made for one channel does not verify as a delivery to another.
    """
    return "\n".join(
        [
            WEBHOOK_SCHEME,
            event_id,
            str(timestamp),
            nonce,
            f"receiver:{receiver}",
            f"key:{key_id}",
            digest(body).hex(),
        ]
    ).encode("utf-8")


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
