"""All SQL of callers and their keys."""

from __future__ import annotations

from sqlalchemy import select

from essc.access.models import Caller, CallerKey
from essc.core.db import Session


def caller_by_ref(session: Session, kind: str, ref: str) -> Caller | None:
    return session.execute(select(Caller).where(Caller.kind == kind, Caller.ref == ref)).scalar_one_or_none()


def caller_key(session: Session, caller_id: str, key_id: str) -> CallerKey | None:
    return session.execute(
        select(CallerKey).where(CallerKey.caller_id == caller_id, CallerKey.key_id == key_id)
    ).scalar_one_or_none()


def keys_of(session: Session, caller_id: str) -> list[CallerKey]:
    return list(
        session.execute(
            select(CallerKey).where(CallerKey.caller_id == caller_id).order_by(CallerKey.created_at)
        ).scalars()
    )


def all_callers(session: Session) -> list[Caller]:
    return list(session.execute(select(Caller).order_by(Caller.kind, Caller.ref)).scalars())
