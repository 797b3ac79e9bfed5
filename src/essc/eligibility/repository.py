"""All SQL of eligibility certification."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, and_, case, exists, func, literal, select, update

from essc.authorisations.repository import Standing as ChannelStanding
from essc.authorisations.repository import standing_columns, standing_of
from essc.cardholders.models import Card, Person
from essc.core.db import Session, insert_ignoring_conflicts, table_of
from essc.ecards.models import Ecard, Issuance, IssuanceStatus
from essc.eligibility.models import (
    BenefitSystemEndpoint,
    Certification,
    Delegation,
    DelegationStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueItem,
    DueStatus,
    Reminder,
)
from essc.shared.policy import Function


def add_due_items(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert due items unless the holder already has the item (or the province its ref); returns how many."""
    return insert_ignoring_conflicts(session, table_of(DueItem), rows)


def due_item(session: Session, province: str, due_item_id: str) -> DueItem | None:
    return session.get(DueItem, (province, due_item_id))


def due_items_of(session: Session, province: str, person_ids: list[str]) -> list[DueItem]:
    if not person_ids:
        return []
    return list(
        session.execute(
            select(DueItem)
            .where(DueItem.province == province, DueItem.person_id.in_(person_ids))
            .order_by(DueItem.period.desc(), DueItem.due_at, DueItem.id)
        ).scalars()
    )


def certifications_of_items(session: Session, province: str, item_ids: list[str]) -> dict[str, Certification]:
    if not item_ids:
        return {}
    rows = session.execute(
        select(Certification).where(
            Certification.province == province, Certification.due_item_id.in_(item_ids)
        )
    ).scalars()
    return {row.due_item_id: row for row in rows}


def certification(session: Session, province: str, due_item_id: str) -> Certification | None:
    return session.get(Certification, (province, due_item_id))


def add_certification_unless_certified(session: Session, values: dict[str, Any]) -> bool:
    """Insert the item's certification; False when one exists (a concurrent certification won).

    The due item is the primary key, so ON CONFLICT DO NOTHING waits for a competing transaction and then
    skips the row: the loser reads the winner's certification instead of failing with a 500.
    """
    return insert_ignoring_conflicts(session, table_of(Certification), [values]) == 1


def mark_certified(session: Session, province: str, due_item_id: str, now: datetime) -> None:
    session.execute(
        update(DueItem)
        .where(DueItem.province == province, DueItem.id == due_item_id)
        .values(status=DueStatus.CERTIFIED.value, certified_at=now)
    )


def person(session: Session, province: str, person_id: str) -> Person | None:
    return session.get(Person, (province, person_id))


def delegation(
    session: Session, province: str, delegation_id: str, *, lock: bool = False
) -> Delegation | None:
    stmt = select(Delegation).where(Delegation.province == province, Delegation.id == delegation_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def delegation_by_id(session: Session, delegation_id: str) -> Delegation | None:
    """A delegation by its id alone (a relative's request names no province), share-locked.

    The lock makes a certification under it wait for a revocation in flight and then see it revoked.
    """
    stmt = select(Delegation).where(Delegation.id == delegation_id).with_for_update(read=True)
    return session.execute(stmt).scalar_one_or_none()


def active_delegation(
    session: Session, province: str, person_id: str, delegate_province: str, delegate_person_id: str
) -> Delegation | None:
    return session.execute(
        select(Delegation).where(
            Delegation.province == province,
            Delegation.person_id == person_id,
            Delegation.delegate_province == delegate_province,
            Delegation.delegate_person_id == delegate_person_id,
            Delegation.status == DelegationStatus.ACTIVE,
        )
    ).scalar_one_or_none()


def add_delegation_unless_active(session: Session, values: dict[str, Any]) -> bool:
    """Insert an active delegation unless the same one is active already (a concurrent grant won)."""
    return insert_ignoring_conflicts(session, table_of(Delegation), [values]) == 1


def delegations_granted(session: Session, province: str, person_id: str) -> list[Delegation]:
    return list(
        session.execute(
            select(Delegation)
            .where(Delegation.province == province, Delegation.person_id == person_id)
            .order_by(Delegation.granted_at, Delegation.id)
        ).scalars()
    )


def delegations_received(session: Session, province: str, person_id: str) -> list[Delegation]:
    return list(
        session.execute(
            select(Delegation)
            .where(Delegation.delegate_province == province, Delegation.delegate_person_id == person_id)
            .order_by(Delegation.granted_at, Delegation.id)
        ).scalars()
    )


class ReminderCandidate(NamedTuple):
    """A holder's due-soon item in one channel that holds their e-card, with the channel's standing."""

    province: str
    person_id: str
    period: int
    channel_id: str
    sign_no: str
    due_item_id: str
    benefit_type: str
    due_at: datetime
    standing: ChannelStanding


def reminder_candidates(session: Session, now: datetime, until: datetime) -> list[ReminderCandidate]:
    """Uncertified items due between now and `until`, per channel holding the e-card, not yet reminded.

    One statement: the channel's standing for the function in the holder's province rides along as scalar
    subqueries (`standing_columns`), so the job judges it by the one rule without a round trip per channel.
    """
    function = literal(Function.ELIGIBILITY_CERTIFICATION.value, String)
    reminded = exists().where(
        Reminder.province == DueItem.province,
        Reminder.person_id == DueItem.person_id,
        Reminder.period == DueItem.period,
        Reminder.channel_id == Issuance.channel_id,
    )
    rows = session.execute(
        select(
            DueItem.province,
            DueItem.person_id,
            DueItem.period,
            Issuance.channel_id,
            Issuance.sign_no,
            DueItem.id,
            DueItem.benefit_type,
            DueItem.due_at,
            *standing_columns(Issuance.channel_id, function, DueItem.province),
        )
        .join(Ecard, and_(Ecard.province == DueItem.province, Ecard.person_id == DueItem.person_id))
        .join(
            Issuance,
            and_(
                Issuance.province == Ecard.province,
                Issuance.ecard_id == Ecard.id,
                Issuance.status == IssuanceStatus.ACTIVE.value,
            ),
        )
        .where(
            DueItem.status == DueStatus.DUE.value,
            DueItem.due_at >= now,
            DueItem.due_at <= until,
            DueItem.opens_at <= now,
            ~reminded,
        )
        .order_by(DueItem.province, DueItem.person_id, DueItem.period, Issuance.channel_id, DueItem.due_at)
    )
    found = []
    for province, person_id, period, channel_id, sign_no, item_id, benefit, due_at, *standing in rows:
        in_province, nationally, enabled = standing
        found.append(
            ReminderCandidate(
                province,
                person_id,
                period,
                channel_id,
                sign_no,
                item_id,
                benefit,
                due_at,
                standing_of(province, in_province, nationally, enabled),
            )
        )
    return found


def add_reminder_unless_sent(session: Session, values: dict[str, Any]) -> bool:
    return insert_ignoring_conflicts(session, table_of(Reminder), [values]) == 1


class FigureRow(NamedTuple):
    benefit_type: str
    due: int
    certified: int
    overdue: int
    certified_late: int


def figures(session: Session, province: str, period: int, now: datetime) -> list[FigureRow]:
    """Due, certified, overdue and certified late per benefit type, counted in one statement."""
    waiting = DueItem.status == DueStatus.DUE.value
    certified = DueItem.status == DueStatus.CERTIFIED.value

    def count_where(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)

    rows = session.execute(
        select(
            DueItem.benefit_type,
            count_where(and_(waiting, DueItem.due_at >= now)),
            count_where(certified),
            count_where(and_(waiting, DueItem.due_at < now)),
            count_where(and_(certified, DueItem.certified_at > DueItem.due_at)),
        )
        .where(DueItem.province == province, DueItem.period == period)
        .group_by(DueItem.benefit_type)
        .order_by(DueItem.benefit_type)
    )
    return [FigureRow(*row) for row in rows]


def benefit_system(session: Session, province: str) -> BenefitSystemEndpoint | None:
    return session.get(BenefitSystemEndpoint, province)


def claim_due_deliveries(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Lease due deliveries to this dispatcher; other dispatchers skip them until the lease ends."""
    stmt = (
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING.value, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.execute(stmt).scalars())
    for row in rows:
        row.next_attempt_at = lease_until
    session.flush()
    return rows


def delivery(session: Session, delivery_id: str) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def attempts_of(session: Session, delivery_id: str) -> list[DeliveryAttempt]:
    return list(
        session.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.attempt_no)
        ).scalars()
    )


def card_numbers(session: Session, province: str, limit: int) -> list[str]:
    """The first cards of a province by number: what the sandbox benefit system's due list is made from."""
    return list(
        session.execute(
            select(Card.aaz500).where(Card.province == province).order_by(Card.aaz500).limit(limit)
        ).scalars()
    )
