"""QR code payloads, written once: the platform, the terminal SDK and the tests all import these rules.

A payload is ``ESSC:<version>:<BASE32 without padding>``, uppercase throughout so that a QR code can use
alphanumeric mode (5.5 bits a character instead of 8). Versions: ``1`` online code (a 160-bit random token the
platform resolves), ``L1`` scan-to-login code (a 160-bit random token), ``2`` offline code (a signed binary
body, see ``essc.kit.offline``). A payload never carries personal data: tokens are random, offline bodies
carry a random device serial, times, a counter and signatures.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from essc.kit.errors import InvalidInput

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "PREFIX",
    "TOKEN_BYTES",
    "CodeKind",
    "MalformedCode",
    "ParsedCode",
    "new_token_code",
    "offline_payload",
    "parse_code",
    "token_payload",
]

PREFIX: Final = "ESSC"
TOKEN_BYTES: Final = 20
MAX_PAYLOAD_CHARS: Final = 1024
_TOKEN_CHARS: Final = 32  # 20 bytes are exactly 32 base32 characters, so a token code never needs padding
# Unpadded base32 lengths that end on a whole byte; 1, 3 and 6 leftover characters cannot occur.
_VALID_TAILS: Final = frozenset({0, 2, 4, 5, 7})
_RFC4648: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_NOT_BASE32: Final = b"!"
# RFC 4648 base32 characters to int()'s base-32 digits (0-9, A-V); every other byte to "!".
_TO_INT_DIGITS: Final = bytes(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUV"[_RFC4648.index(byte)] if byte in _RFC4648 else _NOT_BASE32[0]
    for byte in range(256)
)


class CodeKind(StrEnum):
    """The version field of a payload, naming what the code is."""

    ONLINE = "1"
    LOGIN = "L1"
    OFFLINE = "2"


_TOKEN_KINDS: Final = frozenset({CodeKind.ONLINE, CodeKind.LOGIN})
_KINDS: Final = {kind.value: kind for kind in CodeKind}


class MalformedCode(InvalidInput):
    status = 400
    code = "malformed_code"
    title = "Malformed code"


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """A payload taken apart: its kind and its body (the token, or the offline code's binary form)."""

    kind: CodeKind
    body: bytes

    def payload(self) -> str:
        """The canonical payload string of this code."""
        return _render(self.kind, self.body)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _render(kind: CodeKind, body: bytes) -> str:
    return f"{PREFIX}:{kind.value}:{_b32(body)}"


def token_payload(kind: CodeKind, token: bytes) -> str:
    """Payload of an online or login code carrying token (TOKEN_BYTES random bytes)."""
    if kind not in _TOKEN_KINDS:
        raise MalformedCode(f"a {kind.name} code does not carry a token")
    if not isinstance(token, bytes) or len(token) != TOKEN_BYTES:
        raise MalformedCode(f"a code token is exactly {TOKEN_BYTES} bytes")
    return _render(kind, token)


def new_token_code(kind: CodeKind) -> tuple[str, bytes]:
    """A fresh online or login code: (payload, token), the token from the system CSPRNG."""
    token = secrets.token_bytes(TOKEN_BYTES)
    return token_payload(kind, token), token


def offline_payload(body: bytes) -> str:
    """Payload of an offline code whose binary body is already built (see essc.kit.offline)."""
    text = _render(CodeKind.OFFLINE, body)
    if not body or len(text) > MAX_PAYLOAD_CHARS:
        raise MalformedCode(f"an offline code body must give a payload of 1..{MAX_PAYLOAD_CHARS} characters")
    return text


def parse_code(text: str) -> ParsedCode:
    """Strictly parse a scanned payload; MalformedCode (and nothing else) for anything that is not one."""
    if not isinstance(text, str):
        raise MalformedCode("a code payload is text")
    # The cap comes before any other work so that a huge input costs nothing.
    if len(text) > MAX_PAYLOAD_CHARS:
        raise MalformedCode(f"a code payload is at most {MAX_PAYLOAD_CHARS} characters")
    text = text.strip()
    # ASCII first: str.upper() maps some non-ASCII letters onto ASCII ones ("ſ" to "S"), which would let
    # several different strings parse as the same code.
    if not text.isascii():
        raise MalformedCode("a code payload is ASCII")
    parts = text.upper().split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise MalformedCode(f"a code payload reads {PREFIX}:<version>:<data>")
    version, data = parts[1], parts[2]
    kind = _KINDS.get(version)
    if kind is None:
        raise MalformedCode(f"unknown code version {version[:8]!r}")
    if kind in _TOKEN_KINDS:
        if len(data) != _TOKEN_CHARS:
            raise MalformedCode(
                f"a version {kind.value} code carries exactly {_TOKEN_CHARS} base32 characters"
            )
    elif not data or len(data) % 8 not in _VALID_TAILS:
        raise MalformedCode("the code data has an impossible base32 length")
    return ParsedCode(kind, _b32decode(data))


def _b32decode(data: str) -> bytes:
    """Bytes of unpadded base32 whose length is already checked; refuses other characters and spare bits."""
    # The standard library's base32 is pure Python (~70 us for an offline code); mapping the RFC 4648
    # alphabet onto int()'s base-32 digits with bytes.translate decodes in C, and marks any other character.
    digits = data.encode("ascii").translate(_TO_INT_DIGITS)
    if _NOT_BASE32 in digits:
        raise MalformedCode("the code data is not base32 (A-Z, 2-7, no padding)")
    size, spare = divmod(5 * len(data), 8)
    value = int(digits, 32)
    # Unused trailing bits must be zero: one code, one spelling.
    if value & ((1 << spare) - 1):
        raise MalformedCode("the code data is not canonical base32")
    return (value >> spare).to_bytes(size, "big")
