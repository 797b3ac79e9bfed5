"""E-cards, their per-channel issuances (signNo), passwords, busiSeq tokens and issuance evidence."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CHAR,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class Ecard(Base):
    """The person's single e-card (esscNo), bound to their current physical card."""

    __tablename__ = "ecards"
    __table_args__ = (
        ForeignKeyConstraint(["province", "person_id"], ["persons.province", "persons.id"]),
        ForeignKeyConstraint(["province", "card_id"], ["cards.province", "cards.id"]),
        UniqueConstraint("province", "person_id"),
        Index("ix_ecards_card", "province", "card_id"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    essc_no: Mapped[str] = mapped_column(String(24), unique=True)
    person_id: Mapped[str] = mapped_column(CHAR(26))
    card_id: Mapped[str] = mapped_column(CHAR(26))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IssuanceStatus(StrEnum):
    """issuances.status: the e-card in one channel, active or unlinked (解除关联) by the holder."""

    ACTIVE = "active"
    UNLINKED = "unlinked"


class Issuance(Base):
    """The e-card issued in one channel: its signNo (channel-scoped pseudonym) and sign level."""

    __tablename__ = "issuances"
    __table_args__ = (
        ForeignKeyConstraint(["province", "ecard_id"], ["ecards.province", "ecards.id"]),
        UniqueConstraint("province", "ecard_id", "channel_id"),
        Index("ix_issuances_channel", "channel_id"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    sign_no: Mapped[str] = mapped_column(String(32), unique=True)
    sign_level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # IssuanceStatus
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    level2_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unlinked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IssuanceEvidence(Base):
    """What the channel attested when it asked for issuance (real-name, face/liveness check)."""

    __tablename__ = "issuance_evidence"
    __table_args__ = (Index("ix_issuance_evidence_issuance", "province", "issuance_id"),)

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    issuance_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    method: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(128))
    score: Mapped[int | None] = mapped_column(Integer)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    request_signature: Mapped[str] = mapped_column(Text)
    request_digest: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EcardPassword(Base):
    """The person's e-card password, valid in every channel: a slow salted hash of a peppered digest."""

    __tablename__ = "ecard_passwords"
    __table_args__ = (ForeignKeyConstraint(["province", "ecard_id"], ["ecards.province", "ecards.id"]),)

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    ecard_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    pepper_key_id: Mapped[str] = mapped_column(String(64))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BusiSeq(Base):
    """A one-time proof that the holder just passed a check; only the keyed digest of the token is kept."""

    __tablename__ = "busi_seqs"
    __table_args__ = (Index("ix_busi_seqs_expires", "expires_at"),)

    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    province: Mapped[str] = mapped_column(CHAR(2))
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    purpose: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
