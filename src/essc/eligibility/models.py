"""Who must certify (due items), certifications with their evidence, delegations, reminders and deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime
from essc.core.outbox import OutboxStatus


class BenefitType(StrEnum):
    """The benefits whose recipients certify every period (线上待遇资格认证)."""

    BASIC_PENSION = "basic_pension"  # 基本养老保险待遇
    WORK_INJURY = "work_injury"  # 工伤保险待遇
    UNEMPLOYMENT = "unemployment"  # 失业保险待遇


class DueStatus(StrEnum):
    """eligibility_due_items.status as stored; `overdue` is `due` past its due date, read at the time."""

    DUE = "due"
    CERTIFIED = "certified"


class Standing(StrEnum):
    """What a due item is as of now: due, certified, or overdue (still due after its due date)."""

    DUE = "due"
    CERTIFIED = "certified"
    OVERDUE = "overdue"


class Certifier(StrEnum):
    """Who certified: the holder themself or a relative under a delegation."""

    HOLDER = "holder"
    DELEGATE = "delegate"


class DelegationStatus(StrEnum):
    """eligibility_delegations.status: active ──revoke──▶ revoked (final)."""

    ACTIVE = "active"
    REVOKED = "revoked"


# eligibility_deliveries.status: the states of every leased outbox (essc.core.outbox)
DeliveryStatus = OutboxStatus


class DueItem(Base):
    """One holder's duty to certify one benefit for one period, loaded from the province's benefit system."""

    __tablename__ = "eligibility_due_items"
    __table_args__ = (
        ForeignKeyConstraint(["province", "person_id"], ["persons.province", "persons.id"]),
        UniqueConstraint("province", "person_id", "benefit_type", "period"),
        UniqueConstraint("province", "source_ref"),
        Index("ix_eligibility_due_items_period", "province", "period", "status", "due_at"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    person_id: Mapped[str] = mapped_column(CHAR(26))
    benefit_type: Mapped[str] = mapped_column(String(32))  # BenefitType
    period: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source_ref: Mapped[str] = mapped_column(String(64))  # the province's own reference of the item
    status: Mapped[str] = mapped_column(String(16))  # DueStatus
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    certified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Certification(Base):
    """The one certification of a due item: who, when, how, and the face check's evidence reference."""

    __tablename__ = "eligibility_certifications"
    __table_args__ = (
        ForeignKeyConstraint(
            ["province", "due_item_id"], ["eligibility_due_items.province", "eligibility_due_items.id"]
        ),
        UniqueConstraint("id"),
        Index("ix_eligibility_certifications_person", "province", "person_id"),
    )

    # The due item is the key: a second certification of the same item cannot exist, whoever races.
    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    due_item_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26))
    person_id: Mapped[str] = mapped_column(CHAR(26))
    certifier: Mapped[str] = mapped_column(String(16))  # Certifier
    certifier_province: Mapped[str] = mapped_column(CHAR(2))
    certifier_person_id: Mapped[str] = mapped_column(CHAR(26))
    delegation_id: Mapped[str | None] = mapped_column(CHAR(26))
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    method: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(64))
    evidence_ref: Mapped[str] = mapped_column(String(128))
    score: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    request_digest: Mapped[str] = mapped_column(String(64))
    certified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delegation(Base):
    """A holder's explicit, revocable leave for a relative (by their e-card) to certify for them."""

    __tablename__ = "eligibility_delegations"
    __table_args__ = (
        ForeignKeyConstraint(["province", "person_id"], ["persons.province", "persons.id"]),
        Index("ix_eligibility_delegations_person", "province", "person_id"),
        Index("ix_eligibility_delegations_delegate", "delegate_province", "delegate_person_id"),
        # One active delegation per holder and relative: a second grant answers the first.
        Index(
            "uq_eligibility_delegations_active",
            "province",
            "person_id",
            "delegate_province",
            "delegate_person_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    person_id: Mapped[str] = mapped_column(CHAR(26))
    delegate_province: Mapped[str] = mapped_column(CHAR(2))
    delegate_person_id: Mapped[str] = mapped_column(CHAR(26))
    status: Mapped[str] = mapped_column(String(16))  # DelegationStatus
    channel_id: Mapped[str] = mapped_column(CHAR(26))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Reminder(Base):
    """One reminder per holder, period and channel: its key makes the reminder job idempotent."""

    __tablename__ = "eligibility_reminders"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    person_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BenefitSystemEndpoint(Base):
    """Where a province's benefit system receives certification results."""

    __tablename__ = "eligibility_benefit_systems"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """The outbox of results to provinces; its id is the certification's, the idempotency key of delivery."""

    __tablename__ = "eligibility_deliveries"
    __table_args__ = (Index("ix_eligibility_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    province: Mapped[str] = mapped_column(CHAR(2))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    receipt: Mapped[str | None] = mapped_column(String(128))  # the province's reference of what it recorded
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """Every attempt to hand a result to a province, with its outcome."""

    __tablename__ = "eligibility_delivery_attempts"
    __table_args__ = (Index("ix_eligibility_delivery_attempts_delivery", "delivery_id"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(CHAR(26))
    attempt_no: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
