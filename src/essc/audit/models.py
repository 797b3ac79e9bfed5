"""The tamper-evident audit log: per-stream gapless sequence numbers chained by HMAC-SM3."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, BigInteger, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_subject", "subject_kind", "subject_id"),)

    stream: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(CHAR(26), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(CHAR(2))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    prev_mac: Mapped[bytes] = mapped_column(LargeBinary(32))
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The last entry of each stream; locked while a transaction appends, so sequence numbers have no gaps."""

    __tablename__ = "audit_heads"

    stream: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_mac: Mapped[bytes] = mapped_column(LargeBinary(32))
