"""HTTP of the public list: JSON per province and for all, and the HTML page; no authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import HTMLResponse

from essc.core.deps import PublicReaderUoW, requires
from essc.core.routing import api_router
from essc.directory import page, service
from essc.directory.errors import UnknownProvince
from essc.directory.schemas import ChannelAppsOut, ProvinceChannelAppsOut
from essc.shared.policy import Party

router = api_router(tags=["public"])
# The list must match the authorisations in force on every request: nobody may keep a copy.
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/v1/public/provinces/{province}/channel-apps",
    response_model=ProvinceChannelAppsOut,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(UnknownProvince,))],
)
async def province_channel_apps(
    province: str, uow: PublicReaderUoW, response: Response
) -> ProvinceChannelAppsOut:
    """The channel apps authorised for the cardholders of a province now, with their functions."""
    response.headers.update(NO_STORE)
    return await uow.run(service.channel_apps, province)


@router.get(
    "/v1/public/channel-apps",
    response_model=ChannelAppsOut,
    dependencies=[requires(None, party=Party.PUBLIC)],
)
async def all_channel_apps(uow: PublicReaderUoW, response: Response) -> ChannelAppsOut:
    """The channel apps authorised now in every province."""
    response.headers.update(NO_STORE)
    return await uow.run(service.all_channel_apps)


@router.get(
    "/channel-apps",
    response_class=HTMLResponse,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(UnknownProvince,))],
)
async def channel_apps_page(
    uow: PublicReaderUoW, province: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """The public list as a page with a province selector (?province=44)."""
    provinces = service.provinces()
    if not province:
        return HTMLResponse(page.render(provinces, None), headers=NO_STORE)
    try:
        listing = await uow.run(service.channel_apps, province)
    except UnknownProvince as exc:
        return HTMLResponse(
            page.render(provinces, None, selected=province, error=exc.detail),
            status_code=404,
            headers=NO_STORE,
        )
    return HTMLResponse(page.render(provinces, listing), headers=NO_STORE)
