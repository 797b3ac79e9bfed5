"""All SQL of online codes and card usages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from essc.cardholders.models import Card, Person
from essc.core.db import Session
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
    """The issuance, e-card, person and current card behind a spent code, by primary keys."""
    issuance = session.get(Issuance, (spent.province, spent.issuance_id))
    ecard = session.get(Ecard, (spent.province, spent.ecard_id))
    assert issuance is not None  # written with the code
    assert ecard is not None
    person = session.get(Person, (ecard.province, ecard.person_id))
    card = session.get(Card, (ecard.province, ecard.card_id))
    assert person is not None
    assert card is not None
    return issuance, ecard, person, card
