"""Parties that call the platform (channels, provinces, terminals), their keys, sessions and seen nonces."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class CallerStatus(StrEnum):
    """callers.status: a suspended caller's requests and sessions are refused at once."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyStatus(StrEnum):
    """caller_keys.status: a revoked key stops at once."""

    ACTIVE = "active"
    REVOKED = "revoked"


class Caller(Base):
    """A signing party: channel (ref = channelNo), province (two-digit code), terminal or ministry."""

    __tablename__ = "callers"
    __table_args__ = (UniqueConstraint("kind", "ref"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # CallerStatus
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CallerKey(Base):
    """A caller's public key under a key id, for one environment; a revoked key stops at once."""

    __tablename__ = "caller_keys"
    __table_args__ = (UniqueConstraint("caller_id", "key_id"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"))
    key_id: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # KeyStatus
    environment: Mapped[str] = mapped_column(String(16), server_default="production")  # sandbox | production
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Rotation: the key keeps working until this time (the overlap window), then is refused as retired.
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PublicKeyOwner(Base):
    """The one party a public key belongs to, keyed by the SM3 digest of its DER encoding.

    Its primary key makes "one key, one party" hold under concurrency: of two parties registering one key at
    once, the second insert finds the first's row instead of passing a read that saw none. The owner may hold
    the key under several key ids (a sandbox key beside its production key), so the digest is unique here,
    not in caller_keys.
    """

    __tablename__ = "public_key_owners"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CallerSession(Base):
    """A MAC session opened by one signed request; its key is stored encrypted under a platform key."""

    __tablename__ = "caller_sessions"
    __table_args__ = (Index("ix_caller_sessions_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"))
    key_id: Mapped[str] = mapped_column(String(64))  # the caller key that opened it; revoking it ends it
    key_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
