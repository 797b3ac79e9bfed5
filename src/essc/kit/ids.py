"""Opaque identifiers: time-ordered for index locality, random enough to be unguessable."""

from __future__ import annotations

import os
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def new_id() -> str:
    """26-character ULID-like id: 48-bit millisecond time then 80 random bits."""
    millis = time.time_ns() // 1_000_000
    return _base32((millis << 80) | int.from_bytes(os.urandom(10), "big"), 26)


def random_code(length: int) -> str:
    """Uppercase Crockford base32 string of `length` characters from a CSPRNG."""
    return "".join(secrets.choice(_CROCKFORD) for _ in range(length))


def random_token(num_bytes: int = 24) -> str:
    """URL-safe bearer token with num_bytes of entropy."""
    return secrets.token_urlsafe(num_bytes)
