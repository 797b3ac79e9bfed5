"""Table of scan-to-login codes: shown by a website or kiosk, scanned and confirmed by a holder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class LoginCode(Base):
    """One login attempt; only a keyed digest of its token is stored, so a database copy logs nobody in."""

    __tablename__ = "login_codes"
    __table_args__ = (Index("ix_login_codes_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)  # loginId, known only to the terminal
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    province: Mapped[str] = mapped_column(CHAR(2))  # the terminal's (or the relying party's) province
    # The website or kiosk terminal that shows it, or (both None) the OpenID provider's login page of a
    # relying party, named below.
    terminal_id: Mapped[str | None] = mapped_column(CHAR(26))
    institution_id: Mapped[str | None] = mapped_column(CHAR(26))
    relying_party: Mapped[str | None] = mapped_column(String(64))  # its client_id
    site_name: Mapped[str | None] = mapped_column(String(128))  # whom the app says the holder logs in to
    status: Mapped[str] = mapped_column(String(16))  # pending | scanned | confirmed | denied | consumed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The holder who scanned it, set once at the scan; the holder's province may differ from the terminal's.
    holder_province: Mapped[str | None] = mapped_column(CHAR(2))
    ecard_id: Mapped[str | None] = mapped_column(CHAR(26))
    issuance_id: Mapped[str | None] = mapped_column(CHAR(26))
    channel_id: Mapped[str | None] = mapped_column(CHAR(26))
    scanned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sign_level: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # confirmed or denied
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
