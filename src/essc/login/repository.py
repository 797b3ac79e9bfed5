"""All SQL of login codes; each state change is one conditional UPDATE, so of racing requests one wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update

from essc.core.db import Session
from essc.login.models import LoginCode
from essc.login.schemas import LoginStatus


def login(session: Session, login_id: str) -> LoginCode | None:
    return session.get(LoginCode, login_id)


def by_digest(session: Session, token_digest: bytes) -> LoginCode | None:
    return session.execute(
        select(LoginCode).where(LoginCode.token_digest == token_digest)
    ).scalar_one_or_none()


def _change(session: Session, *conditions: ColumnElement[bool], **values: Any) -> LoginCode | None:
    return session.execute(
        update(LoginCode)
        .where(*conditions)
        .values(**values)
        .returning(LoginCode)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).scalar_one_or_none()


def scan(
    session: Session,
    token_digest: bytes,
    now: datetime,
    *,
    holder_province: str,
    ecard_id: str,
    issuance_id: str,
    channel_id: str,
) -> LoginCode | None:
    """Bind a live pending code to the holder who scanned it."""
    return _change(
        session,
        LoginCode.token_digest == token_digest,
        LoginCode.status == LoginStatus.PENDING,
        LoginCode.expires_at > now,
        status="scanned",
        scanned_at=now,
        holder_province=holder_province,
        ecard_id=ecard_id,
        issuance_id=issuance_id,
        channel_id=channel_id,
    )


def answer(
    session: Session,
    token_digest: bytes,
    now: datetime,
    *,
    holder_province: str,
    issuance_id: str,
    status: str,
    sign_level: int | None,
) -> LoginCode | None:
    """Confirm or deny a live code that this holder (this issuance) scanned."""
    return _change(
        session,
        LoginCode.token_digest == token_digest,
        LoginCode.status == "scanned",
        LoginCode.holder_province == holder_province,
        LoginCode.issuance_id == issuance_id,
        LoginCode.expires_at > now,
        status=status,
        answered_at=now,
        sign_level=sign_level,
    )


def collect(session: Session, login_id: str, now: datetime, confirmed_after: datetime) -> LoginCode | None:
    """Hand a confirmed result out once: of several concurrent polls exactly one gets it."""
    return _change(
        session,
        LoginCode.id == login_id,
        LoginCode.status == "confirmed",
        LoginCode.answered_at > confirmed_after,
        status="consumed",
        consumed_at=now,
    )
