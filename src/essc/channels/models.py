"""Channel apps (渠道) that issue and serve e-cards, and the certifications that let them go live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, JSON, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class Channel(Base):
    """A registered channel; id = its caller id; a second-level one names its first-level parent."""

    __tablename__ = "channels"
    __table_args__ = (Index("ix_channels_parent", "parent_id"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    channel_no: Mapped[str] = mapped_column(CHAR(10), unique=True)
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    organisation: Mapped[str] = mapped_column(String(128), server_default="")
    channel_type: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("channels.id"))
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    webhook_url: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ChannelCertification(Base):
    """A passed access test (接入测试) of one function in one environment, bound to the key it covered."""

    __tablename__ = "certifications"
    __table_args__ = (
        Index("ix_certifications_lookup", "channel_id", "function", "environment", "passed_at"),
    )

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    function: Mapped[str] = mapped_column(String(32))
    environment: Mapped[str] = mapped_column(String(16))
    passed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_fingerprint: Mapped[str] = mapped_column(String(128))
    report_ref: Mapped[str] = mapped_column(String(128))  # the conformance report, or who attested it
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
