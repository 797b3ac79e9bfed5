"""All SQL of callers and their keys."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, bindparam, delete, exists, or_, select

from essc.access.models import (
    Caller,
    CallerKey,
    CallerSession,
    CallerStatus,
    KeyStatus,
    PublicKeyOwner,
)
from essc.core.db import HotStatement, Session, affected_rows, insert_ignoring_conflicts, table_of
from essc.core.nonces import SeenNonce


def caller_by_ref(session: Session, kind: str, ref: str) -> Caller | None:
    return session.execute(select(Caller).where(Caller.kind == kind, Caller.ref == ref)).scalar_one_or_none()


def caller_key(session: Session, caller_id: str, key_id: str) -> CallerKey | None:
    return session.execute(
        select(CallerKey).where(CallerKey.caller_id == caller_id, CallerKey.key_id == key_id)
    ).scalar_one_or_none()


def claim_public_key(session: Session, digest: bytes, caller_id: str, now: datetime) -> str:
    """The id of the party that owns this key digest: the caller, unless another claimed it first.

    INSERT ... ON CONFLICT DO NOTHING, then read the owner: of two concurrent claims, PostgreSQL makes the
    second insert wait for the first transaction and then skip its row, and SQLite's write lock queues
    them, so the loser reads the winner instead of passing a read that saw no owner.
    """
    insert_ignoring_conflicts(
        session, table_of(PublicKeyOwner), [{"digest": digest, "caller_id": caller_id, "created_at": now}]
    )
    owner = session.execute(
        select(PublicKeyOwner.caller_id).where(PublicKeyOwner.digest == digest)
    ).scalar_one()
    return str(owner)


def keys_of(session: Session, caller_id: str) -> list[CallerKey]:
    return list(
        session.execute(
            select(CallerKey).where(CallerKey.caller_id == caller_id).order_by(CallerKey.created_at)
        ).scalars()
    )


def all_callers(session: Session) -> list[Caller]:
    return list(session.execute(select(Caller).order_by(Caller.kind, Caller.ref)).scalars())


class KeyAuth(NamedTuple):
    """What authenticating a signed request needs of its caller and the key it names (key_id None: none)."""

    caller_id: str
    caller_status: str
    key_id: str | None
    key_status: str | None
    not_after: datetime | None
    environment: str | None
    public_key: bytes | None


# What both lookups read of the key: whether it still works, its environment and the key itself.
_KEY_COLUMNS = (
    CallerKey.key_id,
    CallerKey.status,
    CallerKey.not_after,
    CallerKey.environment,
    CallerKey.public_key,
)
# Built once and run on the driver: every signed request makes this lookup.
_CALLER_WITH_KEY = HotStatement(
    select(Caller.id, Caller.status, *_KEY_COLUMNS)
    .select_from(Caller)
    .outerjoin(CallerKey, (CallerKey.caller_id == Caller.id) & (CallerKey.key_id == bindparam("key_id")))
    .where(Caller.kind == bindparam("kind"), Caller.ref == bindparam("ref"))
)


def caller_with_key(session: Session, kind: str, ref: str, key_id: str) -> KeyAuth | None:
    """A caller by its reference and one of its keys (key_id None: no such key), in one indexed lookup."""
    rows = _CALLER_WITH_KEY.execute(session, {"kind": kind, "ref": ref, "key_id": key_id}).rows
    return KeyAuth(*rows[0]) if rows else None


class SessionAuth(NamedTuple):
    """What authenticating a MAC-session request needs of the session, its caller and its key."""

    caller_id: str
    kind: str
    ref: str
    caller_status: str
    key_id: str
    key_status: str
    not_after: datetime | None
    environment: str
    public_key: bytes
    key_cipher: bytes
    expires_at: datetime


# Built once and run on the driver: every request in a session makes this lookup.
_SESSION_WITH_CALLER = HotStatement(
    select(
        Caller.id,
        Caller.kind,
        Caller.ref,
        Caller.status,
        *_KEY_COLUMNS,
        CallerSession.key_cipher,
        CallerSession.expires_at,
    )
    .select_from(CallerSession)
    .join(Caller, Caller.id == CallerSession.caller_id)
    .join(
        CallerKey,
        (CallerKey.caller_id == CallerSession.caller_id) & (CallerKey.key_id == CallerSession.key_id),
    )
    .where(CallerSession.id == bindparam("session_id"))
)


def session_with_caller(session: Session, session_id: str) -> SessionAuth | None:
    """A session with its caller and the key that opened it, in one indexed lookup."""
    rows = _SESSION_WITH_CALLER.execute(session, {"session_id": session_id}).rows
    return SessionAuth(*rows[0]) if rows else None


def session_holds_sql(
    session_id: ColumnElement[str | None], caller_id: ColumnElement[str], now: ColumnElement[datetime]
) -> ColumnElement[bool]:
    """SQL of authentication's checks of a MAC session; true when `session_id` is NULL (none to check).

    The session is the caller's and live, the key that opened it neither revoked nor past its overlap, and
    the caller active: what essc.access.service refuses by name. A route that puts this in its one statement
    saves the session lookup of each request (AuthenticatedCaller.session_checked).
    """
    return or_(
        session_id.is_(None),
        exists().where(
            CallerSession.id == session_id,
            CallerSession.caller_id == caller_id,
            CallerSession.expires_at > now,
            Caller.id == CallerSession.caller_id,
            Caller.status == CallerStatus.ACTIVE.value,
            CallerKey.caller_id == CallerSession.caller_id,
            CallerKey.key_id == CallerSession.key_id,
            CallerKey.status == KeyStatus.ACTIVE.value,
            or_(CallerKey.not_after.is_(None), CallerKey.not_after > now),
        ),
    )


def purge_sessions_and_nonces(session: Session, before: datetime) -> int:
    """Delete expired MAC sessions and nonces past their window; neither can authenticate anything again."""
    sessions = affected_rows(session.execute(delete(CallerSession).where(CallerSession.expires_at < before)))
    nonces = affected_rows(session.execute(delete(SeenNonce).where(SeenNonce.expires_at < before)))
    return sessions + nonces
