"""Tables of issued credentials and of the status lists their indexes live in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, Index, Integer, LargeBinary, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class CredentialStatus(StrEnum):
    """credentials.status, published as the Token Status List value (kit.sdjwt.Status) of its index.

    valid ⇄ suspended (card temporarily lost, lost or locked, and back); either → invalid (card cancelled or
    replaced, e-card unlinked from the channel), which is final.
    """

    VALID = "valid"
    SUSPENDED = "suspended"
    INVALID = "invalid"


class CredentialStatusList(Base):
    """One status list of a province: a fixed number of entries that credentials draw indexes from."""

    __tablename__ = "credential_status_lists"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    list_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    bits: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CredentialRecord(Base):
    """A credential the platform issued: where its status lives and what it follows (card, issuance)."""

    __tablename__ = "credentials"
    __table_args__ = (
        # One credential an index: an issuance that draws a taken index draws again (no shared counter).
        UniqueConstraint("province", "list_no", "idx", name="uq_credentials_index"),
        Index("ix_credentials_card", "province", "card_id"),
        Index("ix_credentials_issuance", "province", "issuance_id"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    list_no: Mapped[int] = mapped_column(Integer)
    idx: Mapped[int] = mapped_column(Integer)
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    issuance_id: Mapped[str] = mapped_column(CHAR(26))
    card_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    device_serial: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    status: Mapped[str] = mapped_column(String(16))  # CredentialStatus
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
