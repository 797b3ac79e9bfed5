"""All SQL of idempotency keys; every write after the claim is fenced by the claim's token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from essc.core.db import HotStatement, Session, affected_rows, insert_ignoring_conflicts, table_of
from essc.idempotency.models import IdempotencyRecord

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# Writes go to the Core table: the ORM's bulk UPDATE/DELETE machinery costs more than the statement here.
_table = table_of(IdempotencyRecord)
_records = _table.c


def _one(caller_id: Any, key: Any, token: Any) -> Any:
    return (
        (_records.caller_id == caller_id)
        & (_records.idempotency_key == key)
        & (_records.claim_token == token)
        & (_records.state == IN_PROGRESS)
    )


def insert_claim(session: Session, row: dict[str, Any]) -> bool:
    """Insert an in-progress row; False when the (caller, key) primary key already exists (atomic claim)."""
    return insert_ignoring_conflicts(session, IdempotencyRecord.__table__, [row]) == 1


def record(session: Session, caller_id: str, key: str) -> IdempotencyRecord | None:
    return session.execute(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.caller_id == caller_id, IdempotencyRecord.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def delete_expired(session: Session, caller_id: str, key: str, now: datetime) -> None:
    session.execute(
        delete(_table).where(
            _records.caller_id == caller_id,
            _records.idempotency_key == key,
            _records.expires_at <= now,
        )
    )


def take_over(
    session: Session,
    caller_id: str,
    key: str,
    *,
    old_token: str,
    new_token: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Claim a key whose holder's lease ran out with nothing committed; of many takers exactly one wins."""
    result = session.execute(
        update(_table)
        .where(_one(caller_id, key, old_token), _records.applied.is_(False), _records.locked_until <= now)
        .values(claim_token=new_token, locked_until=until)
    )
    return affected_rows(result) == 1


_HELD = _one(bindparam("c"), bindparam("k"), bindparam("t"))  # the claim a request holds
# Built once: these run on every request with a key, where building them would cost more than running them.
_MARK_APPLIED = HotStatement(update(_table).where(_HELD).values(applied=True))
_COMPLETE = HotStatement(
    update(_table)
    .where(_HELD)
    .values(
        state=COMPLETED,
        status=bindparam("answer_status"),
        content_type=bindparam("ct"),
        body_cipher=bindparam("body"),
    )
)


def mark_applied(session: Session, caller_id: str, key: str, token: str) -> bool:
    """Note, in the request's own transaction, that its changes commit; False when its claim was lost."""
    return _MARK_APPLIED.execute(session, {"c": caller_id, "k": key, "t": token}).affected == 1


def complete(
    session: Session,
    caller_id: str,
    key: str,
    token: str,
    *,
    status: int,
    content_type: str | None,
    body_cipher: bytes,
) -> bool:
    result = _COMPLETE.execute(
        session,
        {
            "c": caller_id,
            "k": key,
            "t": token,
            "answer_status": status,
            "ct": content_type,
            "body": body_cipher,
        },
    )
    return result.affected == 1


def release(session: Session, caller_id: str, key: str, token: str) -> bool:
    """Forget a claim whose request committed nothing; False when it did commit (or the claim was lost)."""
    result = session.execute(delete(_table).where(_one(caller_id, key, token), _records.applied.is_(False)))
    return affected_rows(result) == 1


def end_lease(session: Session, caller_id: str, key: str, token: str, now: datetime) -> None:
    session.execute(update(_table).where(_one(caller_id, key, token)).values(locked_until=now))


def purge(session: Session, before: datetime) -> int:
    """Delete keys past their lifetime; a request reusing one afterwards runs as a new request."""
    return affected_rows(session.execute(delete(_table).where(_records.expires_at < before)))
