"""All SQL of persons, cards and card events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update

from essc.cardholders.models import Card, CardEvent, Person
from essc.core.db import Session


def person_by_index(session: Session, aac002_index: bytes) -> Person | None:
    return session.execute(select(Person).where(Person.aac002_index == aac002_index)).scalar_one_or_none()


def person(session: Session, province: str, person_id: str) -> Person | None:
    return session.get(Person, (province, person_id))


def card(session: Session, province: str, card_id: str) -> Card | None:
    return session.get(Card, (province, card_id))


def card_by_number(session: Session, province: str, aaz500: str) -> Card | None:
    return session.execute(
        select(Card).where(Card.province == province, Card.aaz500 == aaz500)
    ).scalar_one_or_none()


def card_for_update(session: Session, province: str, aaz500: str) -> Card | None:
    """Lock the card row so concurrent events on one card apply one after the other."""
    return session.execute(
        select(Card).where(Card.province == province, Card.aaz500 == aaz500).with_for_update()
    ).scalar_one_or_none()


def event_by_source(session: Session, province: str, source_event_id: str) -> CardEvent | None:
    return session.execute(
        select(CardEvent).where(CardEvent.province == province, CardEvent.source_event_id == source_event_id)
    ).scalar_one_or_none()


def persons_by_index(session: Session, indexes: Sequence[bytes]) -> dict[bytes, tuple[str, str, bytes]]:
    """index -> (province, person id, content digest) for the indexes that exist."""
    if not indexes:
        return {}
    rows = session.execute(
        select(Person.aac002_index, Person.province, Person.id, Person.content_digest).where(
            Person.aac002_index.in_(indexes)
        )
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def cards_by_number(session: Session, province: str, numbers: Sequence[str]) -> dict[str, Card]:
    if not numbers:
        return {}
    rows = session.execute(select(Card).where(Card.province == province, Card.aaz500.in_(numbers))).scalars()
    return {c.aaz500: c for c in rows}


def insert_persons(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Person), rows)


def insert_cards(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Card), rows)


def update_person_fields(session: Session, province: str, person_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(Person).where(Person.province == province, Person.id == person_id).values(**values)
    )


def count_persons(session: Session, province: str | None = None) -> int:
    stmt = select(func.count()).select_from(Person)
    if province:
        stmt = stmt.where(Person.province == province)
    return int(session.execute(stmt).scalar_one())


def cards_by_keys(session: Session, keys: Sequence[tuple[str, str]]) -> list[Card]:
    if not keys:
        return []
    return list(session.execute(select(Card).where(tuple_(Card.province, Card.id).in_(keys))).scalars())
