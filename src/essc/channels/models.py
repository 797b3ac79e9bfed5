"""Channel apps (渠道) that issue and serve e-cards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    channel_no: Mapped[str] = mapped_column(CHAR(10), unique=True)
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    channel_type: Mapped[str] = mapped_column(String(32))
    webhook_url: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
