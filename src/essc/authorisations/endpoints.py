"""HTTP of authorisations: a province authorises channels for its cardholders and enables business items;
the ministry authorises nationally."""

from __future__ import annotations

from essc.authorisations import service
from essc.authorisations.schemas import BusinessItemChange, BusinessItemOut, GrantChange, GrantOut
from essc.channels.service import by_number
from essc.core.deps import MinistryUoW, ProvinceUoW, requires
from essc.core.routing import api_router
from essc.shared.policy import NATIONAL, Function, Party
from essc.shared.provinces import ensure_same_province

router = api_router(prefix="/v1", tags=["authorisations"])
PROVINCE = [requires(None, party=Party.PROVINCE)]
MINISTRY = [requires(None, party=Party.MINISTRY)]


def _own(uow: ProvinceUoW, province: str) -> None:
    ensure_same_province(uow.context.actor.province or "", province)


@router.get(
    "/provinces/{province}/channel-authorisations", response_model=list[GrantOut], dependencies=PROVINCE
)
def province_grants(province: str, uow: ProvinceUoW) -> list[GrantOut]:
    """The channels authorised for this province's cardholders, by function (national grants included)."""
    _own(uow, province)
    return service.province_grants(uow, province)


@router.put(
    "/provinces/{province}/channel-authorisations/{channel_no}/{function}",
    response_model=GrantOut,
    dependencies=PROVINCE,
)
def set_province_grant(
    province: str, channel_no: str, function: Function, body: GrantChange, uow: ProvinceUoW
) -> GrantOut:
    """Authorise or suspend a function of a channel for this province's cardholders (next request)."""
    _own(uow, province)
    grant = service.set_grant(
        uow, by_number(uow, channel_no), province, function, body.status, by=service.actor_label(uow)
    )
    result = service.grant_view(grant, channel_no)
    uow.commit()
    return result


@router.delete(
    "/provinces/{province}/channel-authorisations/{channel_no}/{function}",
    response_model=GrantOut,
    dependencies=PROVINCE,
)
def revoke_province_grant(province: str, channel_no: str, function: Function, uow: ProvinceUoW) -> GrantOut:
    """Withdraw this province's authorisation (or suspension) of a function of a channel."""
    _own(uow, province)
    channel = by_number(uow, channel_no)
    service.revoke_grant(uow, channel, province, function)
    uow.commit()
    return service.revoked_view(channel, province, function)


@router.get(
    "/provinces/{province}/business-items", response_model=list[BusinessItemOut], dependencies=PROVINCE
)
def business_items(province: str, uow: ProvinceUoW) -> list[BusinessItemOut]:
    """Which functions the province has enabled for its cardholders (deny by default)."""
    _own(uow, province)
    return service.business_item_views(uow, province)


@router.put(
    "/provinces/{province}/business-items/{function}", response_model=BusinessItemOut, dependencies=PROVINCE
)
def set_business_item(
    province: str, function: Function, body: BusinessItemChange, uow: ProvinceUoW
) -> BusinessItemOut:
    """Enable or disable a function for the province's cardholders, for every channel (next request)."""
    _own(uow, province)
    service.set_business_item(uow, province, function, body.enabled, by=service.actor_label(uow))
    uow.commit()
    return BusinessItemOut(province=province, function=function, enabled=body.enabled)


@router.get(
    "/ministry/channels/{channel_no}/authorisations", response_model=list[GrantOut], dependencies=MINISTRY
)
def channel_grants(channel_no: str, uow: MinistryUoW) -> list[GrantOut]:
    """Every authorisation of a channel, national and per province."""
    return service.channel_grants(uow, by_number(uow, channel_no))


@router.put(
    "/ministry/channels/{channel_no}/authorisations/{function}",
    response_model=GrantOut,
    dependencies=MINISTRY,
)
def set_national_grant(channel_no: str, function: Function, body: GrantChange, uow: MinistryUoW) -> GrantOut:
    """Authorise or suspend a function of a channel nationally (cardholders of every province)."""
    grant = service.set_grant(
        uow, by_number(uow, channel_no), NATIONAL, function, body.status, by=service.actor_label(uow)
    )
    result = service.grant_view(grant, channel_no)
    uow.commit()
    return result


@router.delete(
    "/ministry/channels/{channel_no}/authorisations/{function}",
    response_model=GrantOut,
    dependencies=MINISTRY,
)
def revoke_national_grant(channel_no: str, function: Function, uow: MinistryUoW) -> GrantOut:
    channel = by_number(uow, channel_no)
    service.revoke_grant(uow, channel, NATIONAL, function)
    uow.commit()
    return service.revoked_view(channel, NATIONAL, function)
