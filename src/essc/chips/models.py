"""Table of challenges a channel app relays to a third-generation card's chip."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class ChipChallenge(Base):
    """One random challenge for one e-card in one channel; answered at most once within 60 s."""

    __tablename__ = "chip_challenges"
    __table_args__ = (Index("ix_chip_challenges_expires", "expires_at"),)

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary(32))  # not secret: the app relays it to the chip
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    issuance_id: Mapped[str] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    card_id: Mapped[str] = mapped_column(CHAR(26))  # the card that must answer
    purpose: Mapped[str] = mapped_column(String(32))  # of the busiSeq a valid answer earns
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
