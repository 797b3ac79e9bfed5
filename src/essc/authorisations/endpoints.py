"""HTTP of authorisations: a province authorises channels for its cardholders and enables business items;
the ministry authorises nationally."""

from __future__ import annotations

from essc.authorisations import service
from essc.authorisations.errors import FunctionNotCertified, GrantNotFound
from essc.authorisations.schemas import BusinessItemChange, BusinessItemOut, GrantChange, GrantOut
from essc.channels.errors import ChannelNotFound, ChannelTerminated
from essc.channels.service import by_number
from essc.core.deps import MinistryUoW, ProvinceUoW, requires
from essc.core.routing import api_router
from essc.kit.errors import InvalidInput
from essc.shared.policy import NATIONAL, Function, Party
from essc.shared.provinces import WrongProvince, ensure_same_province

router = api_router(prefix="/v1", tags=["authorisations"])


def _own(uow: ProvinceUoW, province: str) -> None:
    ensure_same_province(uow.context.actor.province or "", province)


@router.get(
    "/provinces/{province}/channel-authorisations",
    response_model=list[GrantOut],
    dependencies=[requires(None, party=Party.PROVINCE, raises=(WrongProvince,))],
)
async def province_grants(province: str, uow: ProvinceUoW) -> list[GrantOut]:
    """The channels authorised for this province's cardholders, by function (national grants included)."""
    _own(uow, province)
    return await uow.run(service.province_grants, province)


@router.put(
    "/provinces/{province}/channel-authorisations/{channel_no}/{function}",
    response_model=GrantOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                ChannelTerminated,
                WrongProvince,
                ChannelNotFound,
                FunctionNotCertified,
                InvalidInput,
            ),
        )
    ],
)
async def set_province_grant(
    province: str, channel_no: str, function: Function, body: GrantChange, uow: ProvinceUoW
) -> GrantOut:
    """Authorise or suspend a function of a channel for this province's cardholders (next request)."""
    _own(uow, province)
    channel = await uow.run(by_number, channel_no)
    grant = await uow.run(
        service.set_grant, channel, province, function, body.status, by=service.actor_label(uow)
    )
    return service.grant_view(grant, channel_no)


@router.delete(
    "/provinces/{province}/channel-authorisations/{channel_no}/{function}",
    response_model=GrantOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                GrantNotFound,
                ChannelNotFound,
            ),
        )
    ],
)
async def revoke_province_grant(
    province: str, channel_no: str, function: Function, uow: ProvinceUoW
) -> GrantOut:
    """Withdraw this province's authorisation (or suspension) of a function of a channel."""
    _own(uow, province)
    channel = await uow.run(by_number, channel_no)
    await uow.run(service.revoke_grant, channel, province, function)
    return service.revoked_view(channel, province, function)


@router.get(
    "/provinces/{province}/business-items",
    response_model=list[BusinessItemOut],
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                InvalidInput,
            ),
        )
    ],
)
async def business_items(province: str, uow: ProvinceUoW) -> list[BusinessItemOut]:
    """Which functions the province has enabled for its cardholders (deny by default)."""
    _own(uow, province)
    return await uow.run(service.business_item_views, province)


@router.put(
    "/provinces/{province}/business-items/{function}",
    response_model=BusinessItemOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                InvalidInput,
            ),
        )
    ],
)
async def set_business_item(
    province: str, function: Function, body: BusinessItemChange, uow: ProvinceUoW
) -> BusinessItemOut:
    """Enable or disable a function for the province's cardholders, for every channel (next request)."""
    _own(uow, province)
    await uow.run(service.set_business_item, province, function, body.enabled, by=service.actor_label(uow))
    return BusinessItemOut(province=province, function=function, enabled=body.enabled)


@router.get(
    "/ministry/channels/{channel_no}/authorisations",
    response_model=list[GrantOut],
    dependencies=[requires(None, party=Party.MINISTRY, raises=(ChannelNotFound,))],
)
async def channel_grants(channel_no: str, uow: MinistryUoW) -> list[GrantOut]:
    """Every authorisation of a channel, national and per province."""
    return await uow.run(service.channel_grants, await uow.run(by_number, channel_no))


@router.put(
    "/ministry/channels/{channel_no}/authorisations/{function}",
    response_model=GrantOut,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                ChannelTerminated,
                ChannelNotFound,
                FunctionNotCertified,
                InvalidInput,
            ),
        )
    ],
)
async def set_national_grant(
    channel_no: str, function: Function, body: GrantChange, uow: MinistryUoW
) -> GrantOut:
    """Authorise or suspend a function of a channel nationally (cardholders of every province)."""
    channel = await uow.run(by_number, channel_no)
    grant = await uow.run(
        service.set_grant, channel, NATIONAL, function, body.status, by=service.actor_label(uow)
    )
    return service.grant_view(grant, channel_no)


@router.delete(
    "/ministry/channels/{channel_no}/authorisations/{function}",
    response_model=GrantOut,
    dependencies=[
        requires(
            None,
            party=Party.MINISTRY,
            raises=(
                GrantNotFound,
                ChannelNotFound,
            ),
        )
    ],
)
async def revoke_national_grant(channel_no: str, function: Function, uow: MinistryUoW) -> GrantOut:
    channel = await uow.run(by_number, channel_no)
    await uow.run(service.revoke_grant, channel, NATIONAL, function)
    return service.revoked_view(channel, NATIONAL, function)
