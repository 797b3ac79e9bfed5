"""Tables of online codes and of every use of an e-card at a terminal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class OnlineCode(Base):
    """A one-time code; only a keyed digest of its token is stored, so a database copy shows no live code."""

    __tablename__ = "qr_codes"
    __table_args__ = (Index("ix_qr_codes_expires", "expires_at"),)

    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    province: Mapped[str] = mapped_column(CHAR(2))
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    issuance_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by: Mapped[str | None] = mapped_column(CHAR(26))  # terminal id


class CardUsage(Base):
    """One use of an e-card at a terminal: the holder's "who used my card" history."""

    __tablename__ = "card_usages"
    __table_args__ = (Index("ix_card_usages_ecard", "province", "ecard_id", "at"),)

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str | None] = mapped_column(CHAR(26))  # where the code was shown
    terminal_id: Mapped[str] = mapped_column(CHAR(26))
    institution_id: Mapped[str] = mapped_column(CHAR(26))
    busi_type: Mapped[str] = mapped_column(CHAR(2))
    method: Mapped[str] = mapped_column(String(16))  # online_code | offline_code | card_chip | login
    disclosure: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
