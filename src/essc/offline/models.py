"""Tables of device certificates and of offline acceptances uploaded by terminals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, BigInteger, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class CertificateStatus(StrEnum):
    """device_certificates.status: a revoked certificate is named in every status list until it expires."""

    ACTIVE = "active"
    REVOKED = "revoked"


class DeviceCertificateRecord(Base):
    """A device key the platform certified for offline codes of one e-card, for a short while."""

    __tablename__ = "device_certificates"
    __table_args__ = (
        Index("ix_device_certificates_ecard", "province", "ecard_id"),
        # The status list reads the revoked, still unexpired certificates of a province.
        Index("ix_device_certificates_status", "province", "status", "not_after"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    serial: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    issuance_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    device_public_key: Mapped[bytes] = mapped_column(LargeBinary(64))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # CertificateStatus
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(64))


class OfflineAcceptanceRecord(Base):
    """The first upload of one offline code (serial, counter); a second one elsewhere is a replay."""

    __tablename__ = "offline_acceptances"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    serial: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    terminal_id: Mapped[str] = mapped_column(CHAR(26))
    busi_type: Mapped[str] = mapped_column(CHAR(2))
    code_issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # confirmed | revoked
