"""Public reference data: GB/T 2260 provinces and prefecture-level cities."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from essc.core.db import run_on_loop
from essc.core.deps import get_platform, requires
from essc.core.platform import Platform
from essc.core.routing import api_router
from essc.regions import repository
from essc.shared.policy import Party

router = api_router(prefix="/v1/regions", tags=["reference"])


class RegionOut(BaseModel):
    code: str
    name: str
    level: str
    province: str
    parent_code: str | None


@router.get("", response_model=list[RegionOut], dependencies=[requires(None, party=Party.PUBLIC)])
async def list_regions(
    platform: Annotated[Platform, Depends(get_platform)],
    province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
) -> list[RegionOut]:
    return await run_on_loop(_regions, platform, province)


def _regions(platform: Platform, province: str | None) -> list[RegionOut]:
    with platform.session_factory() as session:
        return [
            RegionOut(code=r.code, name=r.name, level=r.level, province=r.province, parent_code=r.parent_code)
            for r in repository.list_regions(session, province)
        ]
