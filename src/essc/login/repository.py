"""All SQL of login codes; each state change is one conditional UPDATE, so of racing requests one wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, insert, select

from essc.core.db import HotStatement, Session, UtcDateTime, changing_row, table_of, unattached
from essc.login.models import LoginCode
from essc.login.schemas import LoginStatus


def login(session: Session, login_id: str) -> LoginCode | None:
    return session.get(LoginCode, login_id)


def by_digest(session: Session, token_digest: bytes) -> LoginCode | None:
    return session.execute(
        select(LoginCode).where(LoginCode.token_digest == token_digest)
    ).scalar_one_or_none()


_codes = table_of(LoginCode)
_NOW = bindparam("now", type_=UtcDateTime())
_DIGEST = _codes.c.token_digest == bindparam("digest")
_LIVE = _codes.c.expires_at > _NOW


_ADD_CODE = HotStatement(insert(_codes), columns_from_params=True)


def add_code(session: Session, values: dict[str, Any]) -> None:
    """Insert a fresh login code (every column named: no ORM defaults are applied)."""
    _ADD_CODE.execute(session, values)


# Built once and run on the driver: a login's scan, confirm and collect each send one.
_SCAN = changing_row(
    _codes,
    _DIGEST,
    _codes.c.status == LoginStatus.PENDING.value,
    _LIVE,
    status=LoginStatus.SCANNED.value,
    scanned_at=_NOW,
    holder_province=bindparam("holders_province"),
    ecard_id=bindparam("holders_ecard"),
    issuance_id=bindparam("holders_issuance"),
    channel_id=bindparam("scanning_channel"),
)
_ANSWER = changing_row(
    _codes,
    _DIGEST,
    _codes.c.status == LoginStatus.SCANNED.value,
    _codes.c.holder_province == bindparam("holders_province"),
    _codes.c.issuance_id == bindparam("holders_issuance"),
    _LIVE,
    status=bindparam("answer"),
    answered_at=_NOW,
    sign_level=bindparam("confirmed_level", type_=Integer()),
)
_COLLECT = changing_row(
    _codes,
    _codes.c.id == bindparam("login_id"),
    _codes.c.status == LoginStatus.CONFIRMED.value,
    _codes.c.answered_at > bindparam("confirmed_after", type_=UtcDateTime()),
    status=LoginStatus.CONSUMED.value,
    consumed_at=_NOW,
)


def _changed(statement: HotStatement, session: Session, params: dict[str, Any]) -> LoginCode | None:
    """The row as the change left it (not the session's: `unattached`), or None when nothing matched."""
    rows = statement.execute(session, params).rows
    return unattached(LoginCode, rows[0]) if rows else None


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
    return _changed(
        _SCAN,
        session,
        {
            "digest": token_digest,
            "now": now,
            "holders_province": holder_province,
            "holders_ecard": ecard_id,
            "holders_issuance": issuance_id,
            "scanning_channel": channel_id,
        },
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
    return _changed(
        _ANSWER,
        session,
        {
            "digest": token_digest,
            "now": now,
            "holders_province": holder_province,
            "holders_issuance": issuance_id,
            "answer": status,
            "confirmed_level": sign_level,
        },
    )


def collect(session: Session, login_id: str, now: datetime, confirmed_after: datetime) -> LoginCode | None:
    """Hand a confirmed result out once: of several concurrent polls exactly one gets it."""
    return _changed(_COLLECT, session, {"login_id": login_id, "now": now, "confirmed_after": confirmed_after})
