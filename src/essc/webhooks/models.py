"""The outbox of webhooks to channels, written in the same transaction as the change, and its delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    channel_id: Mapped[str] = mapped_column(CHAR(26), index=True)
    event_type: Mapped[str] = mapped_column(String(48))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # OutboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
