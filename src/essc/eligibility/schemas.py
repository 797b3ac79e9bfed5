"""Wire types of benefit eligibility certification (names of docs/protocol.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from essc.ecards.schemas import Attestation
from essc.eligibility.models import BenefitType, Certifier, DelegationStatus, Standing
from essc.kit.schemas import Instant, WireModel

Period = Field(ge=2000, le=2199)


class DueRecord(WireModel):
    """One holder who must certify, as the province's benefit system names them (by card, never by ID)."""

    ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
    aaz500: str = Field(pattern=r"^[A-Za-z0-9]{9}$")
    benefit_type: BenefitType = Field(alias="benefitType")
    opens_at: Instant = Field(alias="opensAt")
    due_at: Instant = Field(alias="dueAt")


class DueLoad(WireModel):
    """A batch of due items of one period, pushed by the province or pulled through its adapter."""

    period: int = Period
    items: list[DueRecord] = Field(max_length=1000)


class LoadRejection(WireModel):
    ref: str
    reason: str


class LoadResult(WireModel):
    period: int
    loaded: int
    unchanged: int
    rejected: list[LoadRejection]


class BenefitSystemIn(WireModel):
    url: str = Field(min_length=8, max_length=512, pattern=r"^https?://")


class BenefitSystemOut(WireModel):
    province: str
    url: str
    updated_at: datetime = Field(alias="updatedAt")


class CertificationView(WireModel):
    certification_id: str = Field(alias="certificationId")
    due_item_id: str = Field(alias="dueItemId")
    benefit_type: BenefitType = Field(alias="benefitType")
    period: int
    certifier: Certifier
    delegation_id: str | None = Field(alias="delegationId")
    method: str
    evidence_ref: str = Field(alias="evidenceRef")
    certified_at: datetime = Field(alias="certifiedAt")
    late: bool


class DueItemView(WireModel):
    due_item_id: str = Field(alias="dueItemId")
    benefit_type: BenefitType = Field(alias="benefitType")
    period: int
    opens_at: datetime = Field(alias="opensAt")
    due_at: datetime = Field(alias="dueAt")
    standing: Standing
    # Set on a relative's list: the delegation under which they may certify it, and the holder's masked name.
    delegation_id: str | None = Field(alias="delegationId")
    holder: str | None
    certification: CertificationView | None


class DueList(WireModel):
    sign_no: str = Field(alias="signNo")
    items: list[DueItemView]


class CertifyRequest(WireModel):
    due_item_id: str = Field(alias="dueItemId", min_length=26, max_length=26)
    busi_seq: str = Field(alias="busiSeq", min_length=1, max_length=128)
    attestation: Attestation
    delegation_id: str | None = Field(default=None, alias="delegationId", min_length=26, max_length=26)


class CertificationList(WireModel):
    sign_no: str = Field(alias="signNo")
    certifications: list[CertificationView]


class DelegationRequest(WireModel):
    delegate_sign_no: str = Field(alias="delegateSignNo", min_length=1, max_length=32)
    busi_seq: str = Field(alias="busiSeq", min_length=1, max_length=128)


class RevocationRequest(WireModel):
    busi_seq: str = Field(alias="busiSeq", min_length=1, max_length=128)


class DelegationView(WireModel):
    delegation_id: str = Field(alias="delegationId")
    role: Certifier  # holder: granted by this e-card; delegate: received by it
    other: str  # the masked name of the other person
    status: DelegationStatus
    granted_at: datetime = Field(alias="grantedAt")
    revoked_at: datetime | None = Field(alias="revokedAt")


class DelegationGranted(DelegationView):
    created: bool


class DelegationList(WireModel):
    sign_no: str = Field(alias="signNo")
    delegations: list[DelegationView]


class FiguresRow(WireModel):
    benefit_type: BenefitType = Field(alias="benefitType")
    due: int
    certified: int
    overdue: int
    certified_late: int = Field(alias="certifiedLate")


class Figures(WireModel):
    province: str
    period: int
    as_of: datetime = Field(alias="asOf")
    due: int
    certified: int
    overdue: int
    certified_late: int = Field(alias="certifiedLate")
    by_benefit: list[FiguresRow] = Field(alias="byBenefit")


class ReminderRun(WireModel):
    reminders: int
