"""The table of idempotency keys: one row per (caller, key), first the claim, then the first answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class IdempotencyRecord(Base):
    """A caller's key: the request it was first used for, who holds it while it runs, then its answer."""

    __tablename__ = "idempotency_records"

    caller_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)  # with the query string, as signed
    body_digest: Mapped[str] = mapped_column(String(128))  # hex suite hash (SM3 or SHA-256) of the body
    state: Mapped[str] = mapped_column(String(16))  # in_progress | completed
    # A fresh token per claim: writes of a request whose claim was taken over match nothing.
    claim_token: Mapped[str] = mapped_column(CHAR(26))
    # Set in the request's own transaction, so it is true exactly when the request's changes committed.
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(128))
    # Answers can hold clear personal fields and live one-time codes: sealed like any personal field.
    body_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
