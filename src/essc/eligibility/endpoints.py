"""HTTP of eligibility certification: holders and relatives through channels, provinces, the ministry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, status

from essc.channels.models import Channel
from essc.channels.service import acting_channel
from essc.core.deps import ChannelUoW, MinistryUoW, ProvinceUoW, Work, caller_of, requires
from essc.core.routing import api_router
from essc.ecards.errors import (
    SIGN_NO_REFUSALS,
    AttestationRefused,
    BusiSeqInvalid,
    CardNotActive,
    EcardUnlinked,
)
from essc.eligibility import service
from essc.eligibility.adapters import check_fresh, confirmed, face_verifier
from essc.eligibility.errors import (
    AlreadyCertified,
    DelegateIsHolder,
    DelegationNotFound,
    DelegationRevoked,
    DueItemNotFound,
    FaceCheckUnavailable,
    NotDue,
)
from essc.eligibility.schemas import (
    BenefitSystemIn,
    BenefitSystemOut,
    CertificationList,
    CertificationView,
    CertifyRequest,
    DelegationGranted,
    DelegationList,
    DelegationRequest,
    DelegationView,
    DueList,
    DueLoad,
    Figures,
    LoadResult,
    RevocationRequest,
)
from essc.kit.errors import InvalidInput
from essc.shared.policy import Function, Party
from essc.shared.provinces import WrongProvince, ensure_same_province

router = api_router(prefix="/v1", tags=["eligibility"])

ELIGIBILITY = Function.ELIGIBILITY_CERTIFICATION
PeriodQuery = Annotated[int, Query(ge=2000, le=2199)]


async def current_channel(request: Request, uow: ChannelUoW) -> Channel:
    """The channel behind the authenticated caller of this request."""
    caller = caller_of(request)
    return await uow.run(acting_channel, caller.caller_id, caller.on_behalf_of)


CurrentChannel = Annotated[Channel, Depends(current_channel)]


@router.get(
    "/eligibility/{sign_no}/due-items",
    response_model=DueList,
    dependencies=[
        requires(ELIGIBILITY, party=Party.CHANNEL, raises=(*SIGN_NO_REFUSALS,), work=Work.READS_ONLY)
    ],
)
async def due_items(sign_no: str, uow: ChannelUoW, channel: CurrentChannel) -> DueList:
    """What the holder must certify and by when, and what holders who delegated to them must certify."""
    return await uow.run(service.due_list, channel, sign_no)


@router.post(
    "/eligibility/{sign_no}/certifications",
    response_model=CertificationView,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            ELIGIBILITY,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                AttestationRefused,
                FaceCheckUnavailable,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
                DueItemNotFound,
                NotDue,
                AlreadyCertified,
                DelegationNotFound,
                DelegationRevoked,
            ),
        )
    ],
)
async def certify(
    sign_no: str, body: CertifyRequest, request: Request, uow: ChannelUoW, channel: CurrentChannel
) -> CertificationView:
    """Certify a due item after a face check and a busiSeq, for the holder or under a delegation."""
    check_fresh(body.attestation, uow.clock.now())
    verdict = confirmed(await face_verifier().verify(body.attestation))
    digest = caller_of(request).body_digest
    return await uow.run(service.certify, channel, sign_no, body, verdict=verdict, digest=digest)


@router.get(
    "/eligibility/{sign_no}/certifications",
    response_model=CertificationList,
    dependencies=[
        requires(ELIGIBILITY, party=Party.CHANNEL, raises=(*SIGN_NO_REFUSALS,), work=Work.READS_ONLY)
    ],
)
async def certifications(sign_no: str, uow: ChannelUoW, channel: CurrentChannel) -> CertificationList:
    """The holder's certifications: who certified, when, how, and the evidence reference."""
    return await uow.run(service.certifications, channel, sign_no)


@router.post(
    "/eligibility/{sign_no}/delegations",
    response_model=DelegationGranted,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            ELIGIBILITY,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
                DelegateIsHolder,
                DelegationRevoked,
            ),
        )
    ],
)
async def grant_delegation(
    sign_no: str, body: DelegationRequest, uow: ChannelUoW, channel: CurrentChannel
) -> DelegationGranted:
    """The holder lets a relative's e-card (in this channel) certify for them; granting again answers it."""
    return await uow.run(service.grant_delegation, channel, sign_no, body)


@router.get(
    "/eligibility/{sign_no}/delegations",
    response_model=DelegationList,
    dependencies=[
        requires(ELIGIBILITY, party=Party.CHANNEL, raises=(*SIGN_NO_REFUSALS,), work=Work.READS_ONLY)
    ],
)
async def delegations(sign_no: str, uow: ChannelUoW, channel: CurrentChannel) -> DelegationList:
    """Delegations granted by and to this e-card."""
    return await uow.run(service.delegations, channel, sign_no)


@router.post(
    "/eligibility/{sign_no}/delegations/{delegation_id}/revoke",
    response_model=DelegationView,
    dependencies=[
        requires(
            ELIGIBILITY,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
                DelegationNotFound,
                DelegationRevoked,
            ),
        )
    ],
)
async def revoke_delegation(
    sign_no: str, delegation_id: str, body: RevocationRequest, uow: ChannelUoW, channel: CurrentChannel
) -> DelegationView:
    """The holder revokes a delegation with a busiSeq; the relative can no longer certify for them."""
    return await uow.run(service.revoke_delegation, channel, sign_no, delegation_id, body.busi_seq)


@router.post(
    "/provinces/{province}/eligibility/due-items",
    response_model=LoadResult,
    dependencies=[requires(None, party=Party.PROVINCE, raises=(WrongProvince,))],
)
async def load_due_items(province: str, body: DueLoad, uow: ProvinceUoW) -> LoadResult:
    """The province's benefit system names who must certify in a period (by card number)."""
    ensure_same_province(uow.context.actor.province or "", province)
    return await uow.run(service.load_due, province, body)


@router.put(
    "/provinces/{province}/eligibility/benefit-system",
    response_model=BenefitSystemOut,
    dependencies=[requires(None, party=Party.PROVINCE, raises=(WrongProvince,))],
)
async def register_benefit_system(province: str, body: BenefitSystemIn, uow: ProvinceUoW) -> BenefitSystemOut:
    """Where the platform posts this province's certification results."""
    ensure_same_province(uow.context.actor.province or "", province)
    return await uow.run(service.register_benefit_system, province, body.url)


@router.get(
    "/provinces/{province}/eligibility/figures",
    response_model=Figures,
    dependencies=[
        requires(None, party=Party.PROVINCE, raises=(WrongProvince, InvalidInput), work=Work.READS_ONLY)
    ],
)
async def province_figures(province: str, period: PeriodQuery, uow: ProvinceUoW) -> Figures:
    """Due, certified and overdue items of the province's period, as of now."""
    ensure_same_province(uow.context.actor.province or "", province)
    return await uow.run(service.figures, province, period)


@router.get(
    "/ministry/eligibility/figures",
    response_model=Figures,
    dependencies=[requires(None, party=Party.MINISTRY, raises=(InvalidInput,), work=Work.READS_ONLY)],
)
async def ministry_figures(
    province: Annotated[str, Query(pattern=r"^[0-9]{2}$")], period: PeriodQuery, uow: MinistryUoW
) -> Figures:
    """Due, certified and overdue items of any province's period, as of now."""
    return await uow.run(service.figures, province, period)
