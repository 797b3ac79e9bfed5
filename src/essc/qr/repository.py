"""All SQL of online codes and card usages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from essc.cardholders.models import Card, Person
from essc.core.db import Session, affected_rows
from essc.ecards.models import Ecard, Issuance
from essc.qr.models import CardUsage, OnlineCode
from essc.terminals.models import Institution, Terminal


def consume(session: Session, token_digest: bytes, now: datetime, terminal_id: str) -> OnlineCode | None:
    """Spend a live code in one statement, so of many concurrent resolutions exactly one wins."""
    return session.execute(
        update(OnlineCode)
        .where(
            OnlineCode.token_digest == token_digest,
            OnlineCode.used_at.is_(None),
            OnlineCode.expires_at > now,
        )
        .values(used_at=now, used_by=terminal_id)
        .returning(OnlineCode)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


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


def holder_of(session: Session, spent: OnlineCode) -> tuple[Issuance, Ecard, Person, Card]:
    """The issuance, e-card, person and current card behind a spent code, in one query on primary keys."""
    row = session.execute(
        select(Issuance, Ecard, Person, Card)
        .join(Ecard, (Ecard.province == Issuance.province) & (Ecard.id == Issuance.ecard_id))
        .join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
        .join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
        .where(Issuance.province == spent.province, Issuance.id == spent.issuance_id)
    ).one()
    return row[0], row[1], row[2], row[3]


def purge_codes(session: Session, before: datetime) -> int:
    """Delete codes that expired before `before`; their uses are kept in card_usages."""
    return affected_rows(session.execute(delete(OnlineCode).where(OnlineCode.expires_at < before)))
