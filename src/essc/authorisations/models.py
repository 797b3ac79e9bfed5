"""Tables of channel authorisations (渠道授权) and of the business items a province enables (部门授权)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class GrantStatus(StrEnum):
    """channel_grants.status: a grant in force, or held back without being withdrawn."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class ChannelGrant(Base):
    """A channel authorised for one function for the holders of one province ("00": nationally)."""

    __tablename__ = "channel_grants"
    # The lookup of every channel request: (channel, function, province in (P, "00")), one unique index.
    __table_args__ = (
        UniqueConstraint("channel_id", "function", "province"),
        Index("ix_channel_grants_province", "province", "channel_id"),
    )

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id"))
    function: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(CHAR(2))
    status: Mapped[str] = mapped_column(String(16))  # GrantStatus
    granted_by: Mapped[str] = mapped_column(String(64))  # province/44 or ministry/<ref> or operator/<name>
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProvinceBusinessItem(Base):
    """Whether a province enabled a function (business item) for its cardholders; absent means disabled."""

    __tablename__ = "province_business_items"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    function: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
