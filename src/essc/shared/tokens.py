"""One-time tokens: busiSeq, QR and login codes, chip challenges."""

# Each is random, lives seconds or minutes and is spent at most once by one UPDATE ... WHERE unspent; a bearer
# token (all but the chip challenge, which the chip signs and the platform must read back) is stored only as a
# keyed digest, so a copy of the database holds nothing a caller could present.

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from essc.kit.crypto.base import CryptoSuite
from essc.kit.keystore import KeyPurpose, KeyStore


class _HoldsTokenKey(Protocol):
    """What the helper needs of the platform: its suite and key store."""

    @property
    def suite(self) -> CryptoSuite: ...

    @property
    def keys(self) -> KeyStore: ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A fresh token: `token` goes to the caller once; the row keeps `digest` and `expires_at`."""

    token: str
    digest: bytes
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OneTimeTokens:
    """Digests one-time tokens with the platform's token key (HMAC of the suite, KeyPurpose.TOKEN)."""

    suite: CryptoSuite
    keys: KeyStore

    @classmethod
    def of(cls, platform: _HoldsTokenKey) -> OneTimeTokens:
        return cls(platform.suite, platform.keys)

    def digest(self, token: str) -> bytes:
        """What the database holds of a token, and what a presented token is looked up by."""
        return self.suite.mac(self.keys.data_key(KeyPurpose.TOKEN).secret, token.encode())

    def issue(self, token: str, now: datetime, lifetime: timedelta) -> IssuedToken:
        return IssuedToken(token=token, digest=self.digest(token), expires_at=now + lifetime)


def unspent(
    used_at: SQLColumnExpression[Any], expires_at: SQLColumnExpression[Any], now: Any
) -> ColumnElement[bool]:
    """The single-use condition of a spending UPDATE: of concurrent spends exactly one matches it."""
    return and_(used_at.is_(None), expires_at > now)
