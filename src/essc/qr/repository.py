"""All SQL of online codes and card usages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVarTuple

from sqlalchemy import Select, bindparam, delete, insert, select, update

from essc.cardholders.models import Card, Person
from essc.core.db import Session, affected_rows, table_of
from essc.ecards.models import Ecard, Issuance
from essc.qr.models import CardUsage, OnlineCode
from essc.terminals.models import Institution, Terminal

_Row = TypeVarTuple("_Row")


class SpentCode(NamedTuple):
    """A code just spent, with the holder behind it as of this moment."""

    channel_id: str
    issuance: Issuance
    ecard: Ecard
    person: Person
    card: Card


def spend(session: Session, token_digest: bytes, now: datetime, terminal_id: str) -> SpentCode | None:
    """Spend a live code and read its holder; of many concurrent resolutions exactly one gets a row.

    The UPDATE alone decides the winner. On PostgreSQL the read rides in the same statement (a data-modifying
    CTE), one round trip on the platform's hottest path; SQLite has no such CTEs and takes two.
    """
    params = {"digest": token_digest, "now": now, "terminal": terminal_id}
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_SPEND_AND_READ, params).one_or_none()
        if row is None:
            return None
        return SpentCode(row[4], row[0], row[1], row[2], row[3])
    code_row = session.execute(_CONSUME, params).one_or_none()
    if code_row is None:
        return None
    province, issuance_id, channel_id = code_row
    query = select(Issuance, Ecard, Person, Card).where(
        Issuance.province == province, Issuance.id == issuance_id
    )
    holder = session.execute(_with_holder(query)).one()
    return SpentCode(channel_id, holder[0], holder[1], holder[2], holder[3])


def _with_holder(query: Select[*_Row]) -> Select[*_Row]:
    """Join the e-card, person and current card of the selected issuance, on primary keys."""
    return (
        query.join(Ecard, (Ecard.province == Issuance.province) & (Ecard.id == Issuance.ecard_id))
        .join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
        .join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
    )


# Built once, in Core (not the ORM's bulk UPDATE): on every resolution, building them costs more than running.
_codes = table_of(OnlineCode)
_CONSUME = (
    update(_codes)
    .where(
        _codes.c.token_digest == bindparam("digest"),
        _codes.c.used_at.is_(None),
        _codes.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"), used_by=bindparam("terminal"))
    .returning(_codes.c.province, _codes.c.issuance_id, _codes.c.channel_id)
)
_INSERT_USAGE = insert(table_of(CardUsage))
_spent = _CONSUME.cte("spent")
_SPEND_AND_READ = _with_holder(
    select(Issuance, Ecard, Person, Card, _spent.c.channel_id)
    .select_from(_spent)
    .join(Issuance, (Issuance.province == _spent.c.province) & (Issuance.id == _spent.c.issuance_id))
)


def add_usage(session: Session, usage: dict[str, Any]) -> None:
    """Insert one card use (a Core insert: nothing reads it back in the request)."""
    session.execute(_INSERT_USAGE, [usage])


def code(session: Session, token_digest: bytes) -> OnlineCode | None:
    return session.get(OnlineCode, token_digest)


def usages(
    session: Session, province: str, ecard_id: str, before: datetime | None, limit: int
) -> list[tuple[CardUsage, Institution, Terminal]]:
    query = (
        select(CardUsage, Institution, Terminal)
        .join(Institution, Institution.id == CardUsage.institution_id)
        .join(Terminal, Terminal.id == CardUsage.terminal_id)
        .where(CardUsage.province == province, CardUsage.ecard_id == ecard_id)
        .order_by(CardUsage.at.desc(), CardUsage.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(CardUsage.at < before)
    return [(r[0], r[1], r[2]) for r in session.execute(query)]


def purge_codes(session: Session, before: datetime) -> int:
    """Delete codes that expired before `before`; their uses are kept in card_usages."""
    return affected_rows(session.execute(delete(OnlineCode).where(OnlineCode.expires_at < before)))
